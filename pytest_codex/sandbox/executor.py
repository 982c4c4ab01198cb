"""``SandboxExecutor``: the trusted process's handle on its fork server.

One executor (one fork server) per pytest process or xdist worker; ``run`` is not
thread-safe (use one executor per thread).

Time: a sample's ``time_limit`` is CPU time, the user + system time of all of its
processes together (their rusage, reported by the fork server when it reaps them), so a
loaded machine does not turn a correct answer into a timeout.  ``RLIMIT_CPU`` (the limit
rounded up) stops a process that spins; a wall-clock guard, ``wall_factor`` times the
limit, ends a sample that sleeps or blocks.  See ``pytest_codex.sandbox.timelimits``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pytest_codex.core import text
from pytest_codex.core.errors import CodexUsageError
from pytest_codex.core.problems import Problem
from pytest_codex.core.verdicts import SampleResult, Verdict
from pytest_codex.sandbox import batch, isolation
from pytest_codex.sandbox.channel import Channel
from pytest_codex.sandbox.judge import Diverged, judge, record_calls
from pytest_codex.sandbox.replays import ReplayStore
from pytest_codex.sandbox.timelimits import WALL_FACTOR

OUTPUT_CAP = 4096
UID_BASE = 2_000_000_000  # + 256 x the trusted pid + a counter: one unprivileged uid per executor
TMPFS_BYTES = 64 << 20
START_TIMEOUT = 60.0
SERVER_TIMEOUT = 60.0
NO_REPLAY: list[str] = []
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from pytest_codex.sandbox.server import main; del sys.path[0]; main(sys.argv[2:])"
)


def worker_cpu(workerinput: dict | None) -> int | None:
    """The CPU for an xdist worker's executor: worker i gets the i-th CPU of this process's
    set, when there are at least as many CPUs as workers (else no pinning)."""
    if not workerinput or not hasattr(os, "sched_getaffinity"):
        return None
    try:
        index = int(str(workerinput.get("workerid", "")).lstrip("gw"))
        count = int(workerinput.get("workercount", 0))
    except ValueError:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[index % len(cpus)] if 0 < count <= len(cpus) else None


class SandboxUnavailable(CodexUsageError):
    """The sandbox cannot start, or (strict mode) lacks isolation layers."""


class SandboxError(RuntimeError):
    """The fork server failed while running a sample (a harness error, not a verdict)."""


class Interrupted(Exception):
    """``interrupt()`` ended the sample: it has no verdict (the run is stopping)."""


class _ServerDied(Exception):
    """The fork server is gone (``during_sample``: while it ran one)."""

    def __init__(self, why: str, during_sample: bool, duration: float = 0.0) -> None:
        super().__init__(why)
        self.during_sample, self.duration = during_sample, duration


_uids = itertools.count()


def _sandbox_uid() -> int:
    """A uid of its own for each executor: 2,000,000,000 + 256 x this process's pid + a
    counter (pids are below 2**22, so this stays under 2**32 - 1)."""
    return UID_BASE + 256 * (os.getpid() % (1 << 22)) + next(_uids) % 256


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class SandboxExecutor:
    name = "sandbox"

    def __init__(
        self,
        mode: str = "auto",
        *,
        disable: tuple[str, ...] = (),
        limits: isolation.Limits | None = None,
        cpu: int | None = None,
        wall_factor: float = WALL_FACTOR,
        wait: bool = True,
        replays: ReplayStore | None = None,
    ) -> None:
        """``cpu``: pin the calling thread, the fork server and every sample to that CPU, under
        ``SCHED_BATCH`` (both restored by ``close``; see ``_batch_scheduling``).  A sample costs
        many wake-ups between the trusted thread and its child; on one core each is ~10 us,
        across cores ~100 us on a VM.
        ``wall_factor``: the wall-clock guard of a sample, as a multiple of its CPU-time limit.
        ``wait=False``: return once the fork server is spawned; ``ready()`` waits for its
        hello (and refuses missing layers in strict mode), so the caller can load problems
        while the server starts (it is a fresh interpreter: none of them reach it).
        ``replays``: the cache of the tests' recorded calls (``replays``; shared by a process's
        executors), else one in memory."""
        if mode not in ("auto", "strict"):
            raise ValueError(f"sandbox mode {mode!r}: use 'auto' or 'strict'")
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(
                f"the sandbox needs Linux (fork, namespaces, Landlock, seccomp); this is "
                f"{sys.platform}: run pytest-codex on Linux, e.g. in a container or VM"
            )
        self._unpin: set[int] | None = None
        self._policy: tuple[int, int] | None = None  # the scheduling policy to restore
        if cpu is not None:
            self._unpin = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {cpu})  # the fork server inherits it
            self._policy = _batch_scheduling()
        self.mode = mode
        if not wall_factor >= 1:
            raise ValueError(f"wall_factor {wall_factor!r}: must be at least 1")
        self.wall_factor = wall_factor
        self.limits = limits or isolation.Limits()
        self._replays: dict[Problem, list[str]] = {}  # the canonical solution's calls, per problem
        self.replay_store = replays if replays is not None else ReplayStore(None)  # ... and across sessions
        self._stable: dict[Problem, bool] = {}  # whether the tests made the same calls twice
        self._root = tempfile.mkdtemp(prefix="codex-sandbox-")
        os.chmod(self._root, 0o755)  # the unprivileged uid must reach root/box/work
        self._log = tempfile.TemporaryFile()
        self._config = {
            "root": self._root,
            "uid": _sandbox_uid(),  # kept across restarts
            "owner": os.getpid(),
            "tmpfs_bytes": TMPFS_BYTES,
            "disable": list(disable),
            "limits": self.limits.to_json(),
        }
        self._sock: socket.socket | None = None
        self.info: dict = {}  # the server's hello: layers, missing, uid, Landlock ABI
        self.restarts = 0  # how often the fork server died and was started again
        self._pending = False
        self._live_lock = threading.Lock()  # interrupt() comes from another thread
        self._live: socket.socket | None = None  # the running sample's control socket
        self._interrupted = False
        self._spawn()
        if wait:
            self.ready()

    def _start_server(self) -> None:
        self._spawn()
        self._hello()

    def _spawn(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_parent = str(Path(__file__).resolve().parents[2])
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    "-X",
                    "utf8",
                    "-c",
                    _BOOT,
                    package_parent,
                    str(theirs.fileno()),
                    json.dumps(self._config),
                ],
                pass_fds=[theirs.fileno()],
                env={**isolation.SAFE_ENV, "LD_BIND_NOW": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                cwd="/",
            )
        finally:
            theirs.close()
        self._sock = mine
        self._pending = True  # spawned; its hello not read yet

    def ready(self) -> None:
        """Wait for the fork server's hello (once); ``SandboxUnavailable`` if it did not start
        or, in strict mode, lacks isolation layers."""
        if not self._pending:
            return
        self._hello()
        missing = [name for name, on in self.info["layers"].items() if not on]
        if self.mode == "strict" and missing:
            self.close()
            why = "; ".join(f"{n}: {self.info['missing'].get(n, 'unavailable')}" for n in missing)
            raise SandboxUnavailable(
                f"--codex-sandbox=strict: isolation layers missing: {why}; "
                "run as root on Linux with namespaces, Landlock and seccomp, "
                "or use --codex-sandbox=auto"
            )

    def _hello(self) -> None:
        assert self._sock is not None  # not closed
        self._sock.settimeout(START_TIMEOUT)
        try:
            hello = self._recv()
        except (OSError, SandboxError) as exc:
            self.close()
            raise SandboxUnavailable(f"the sandbox's fork server did not start: {exc}; {self._log_tail()}") from None
        self._sock.settimeout(SERVER_TIMEOUT)
        info = hello[1]
        self._pending = False
        if self.restarts and info["layers"] != self.info["layers"]:
            self.close()
            raise SandboxError(
                f"the restarted fork server has other layers: {info['layers']} (was {self.info['layers']})"
            )
        self.info = info

    def _restart(self) -> None:
        """Start a new fork server (same isolation, same uid) after the old one died."""
        self._stop_server()
        self.restarts += 1
        try:
            self._start_server()
        except SandboxUnavailable as exc:
            raise SandboxError(f"the fork server died and could not be restarted: {exc}") from None

    def _recv(self):
        assert self._sock is not None  # not closed
        data = self._sock.recv(65536)
        if not data:
            raise SandboxError(f"the fork server exited; {self._log_tail()}")
        return json.loads(data)

    def _log_tail(self) -> str:
        try:
            self._log.seek(0)
            tail = self._log.read()[-1000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            tail = ""
        return f"server log: {text.line(tail, 1000)}" if tail else "no server log"

    def describe(self) -> dict:
        self.ready()
        return {
            "executor": self.name,
            "mode": self.mode,
            "layers": dict(self.info["layers"]),
            "missing": {k: v for k, v in self.info["missing"].items() if not self.info["layers"].get(k)},
            "landlock_abi": self.info["landlock_abi"],
            "limits": self.limits.to_json(),
            "output_cap": OUTPUT_CAP,
            "wall_guard_factor": self.wall_factor,
        }

    def run(
        self, problem: Problem, completion: str, time_limit: float, wall_limit: float | None = None
    ) -> SampleResult:
        """One sample's verdict: ``time_limit`` seconds of CPU time for all of its processes
        together; ``wall_limit`` (default ``wall_factor`` x ``time_limit``) seconds of wall-clock
        time.  If the fork server died, it is started again: a sample it was running is
        ``crashed``, the samples after it run normally."""
        self.ready()
        wall = self.wall_factor * time_limit if wall_limit is None else wall_limit
        try:
            result = self._run(problem, completion, time_limit, wall)
        except _ServerDied as died:
            if self._interrupted:
                raise Interrupted("the executor was interrupted") from None
            self._restart()
            if not died.during_sample:  # it died between samples: this one never started
                return self._run(problem, completion, time_limit, wall)
            return SampleResult(
                Verdict.CRASHED,
                detail=f"the sandbox's fork server died during the sample ({died}); it was restarted",
                duration=died.duration,
                time_limit=time_limit,
            )
        if self._interrupted:
            raise Interrupted("the executor was interrupted: the sample has no verdict")
        return result

    def interrupt(self) -> None:
        """End the running sample (if any) and every later one, from another thread: their
        ``run`` raises ``Interrupted`` (``lanes`` stops with it).  Its control socket is shut
        down: the judge sees the sample hang up, and the fork server reaps it as usual."""
        with self._live_lock:
            self._interrupted = True
            live = self._live
        if live is not None:
            try:
                live.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # it has just ended

    def _set_live(self, sock: socket.socket | None) -> None:
        """The running sample's control socket (None: none runs), for ``interrupt``."""
        with self._live_lock:
            self._live = sock
            if sock is not None and self._interrupted:
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self, problem: Problem, completion: str, time_limit: float, wall: float) -> SampleResult:
        replay = self._replays.get(problem)
        if replay is None:
            replay = self.replay_store.get(problem)  # recorded in an earlier session
            if replay is None:
                replay = self._record(problem)
                self.replay_store.put(problem, replay)
            self._replays[problem] = replay
        try:
            result, _ = self._attempt(problem, completion, time_limit, replay, wall)
        except Diverged:  # the tests called differently: this sample runs again, live
            result, _ = self._attempt(problem, completion, time_limit, [], wall)
            if problem not in self._stable:  # random inputs, or only this sample's answers?
                again = self._record(problem)
                self._stable[problem] = again == replay
                if again != replay:
                    self._replays[problem] = NO_REPLAY
                    self.replay_store.put(problem, NO_REPLAY)
        return result

    def _record(self, problem: Problem) -> list[str]:
        """The calls the tests make, recorded from the canonical solution (trusted code, run
        by ``judge.record_calls``), never from a sample: a sample's own answers cannot shape the
        calls later samples are told, and every sample of a problem whose tests call
        alike is answered in full before the tests run (no feedback, see ``judge``)."""
        if not problem.canonical_solution.strip():
            return NO_REPLAY
        calls = record_calls(problem)
        return NO_REPLAY if calls is None else calls

    def _request(self, cpu_seconds: int) -> tuple[socket.socket, int]:
        """Ask the fork server for a sample process with ``cpu_seconds`` of RLIMIT_CPU: our end
        of its control socket, and the read end of its output pipe."""
        if self._sock is None:
            raise SandboxError("the executor is closed")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            socket.send_fds(self._sock, [json.dumps(["run", cpu_seconds]).encode()], [theirs.fileno(), out_w])
        except OSError as exc:
            mine.close()
            os.close(out_r)
            raise _ServerDied(f"it was gone: {exc}", during_sample=False) from None
        finally:
            theirs.close()
            os.close(out_w)
        return mine, out_r

    def _attempt(
        self, problem: Problem, completion: str, time_limit: float, replay: list[str], wall: float | None = None
    ):
        wall = self.wall_factor * time_limit if wall is None else wall
        start = time.monotonic()
        # RLIMIT_CPU, the hard stop of each process: the limit rounded up (the judgement
        # itself compares the sample's measured CPU time with the exact limit)
        mine, out_r = self._request(max(1, math.ceil(time_limit)))
        channel = Channel(mine, out_r, start + wall, OUTPUT_CAP)
        self._set_live(mine)
        try:
            try:
                judgement = judge(problem, completion, channel, replay)
            except BaseException:
                # Diverged, a harness error, or Ctrl-C (whose SIGINT may have ended the fork
                # server too): end the sample if the server is there, and never let a failure
                # to end it hide what happened.
                try:
                    self._end(0.0, start)
                except (SandboxError, _ServerDied):
                    pass
                raise
            # A child that hung up gets a moment to finish dying, so its status is known.
            status = self._end(0.05 if judgement.channel_closed else 0.0, start)
            duration = time.monotonic() - start
            output = channel.output()  # every writer is dead now: read to the end
        finally:
            self._set_live(None)
            channel.close()
        return self._result(judgement, status, time_limit, wall, duration, output), judgement.calls

    def run_batch(self, job: batch.BatchJob, decide: batch.Decide) -> batch.BatchResult:
        """A batch request (``sandbox.batch``): ``job.program`` answers every input of the job
        in one exchange; ``decide`` (the trusted caller) judges each answer as it comes.  If the
        fork server died, it is started again, as for ``run``."""
        try:
            return self._run_batch(job, decide)
        except _ServerDied as died:
            self._restart()
            if not died.during_sample:  # it died between samples: this one never started
                return self._run_batch(job, decide)
            detail = f"the sandbox's fork server died during the sample ({died}); it was restarted"
            return batch.BatchResult(Verdict.CRASHED, None, detail, 0, False, died.duration, "", job.cpu_budget)

    def _run_batch(self, job: batch.BatchJob, decide: batch.Decide) -> batch.BatchResult:
        self.ready()
        start = time.monotonic()
        mine, out_r = self._request(job.cpu_budget)
        channel = batch.BatchChannel(mine, out_r, start + job.wall_budget, OUTPUT_CAP)
        exchanged = None
        try:
            exchanged = batch.exchange(job, channel, decide, start)
        finally:
            try:
                closed = exchanged is not None and exchanged.channel_closed
                status = self._end(0.05 if closed else 0.0, start)
                duration = time.monotonic() - start
                output = channel.output()
            finally:
                channel.close()
        if status.get("state") == "setup_failed":
            raise SandboxError("a sample's isolation could not be set up (the layers probed at start-up failed)")
        return batch.result_of(exchanged, status, job, duration, output)

    def _end(self, grace: float, start: float) -> dict:
        try:
            assert self._sock is not None  # not closed
            self._sock.send(json.dumps(["end", grace]).encode())
            reply = self._recv()
        except (OSError, SandboxError) as exc:
            raise _ServerDied(str(exc), during_sample=True, duration=time.monotonic() - start) from None
        return reply[1]

    @staticmethod
    def _result(j, status: dict, time_limit: float, wall: float, duration: float, output: str) -> SampleResult:
        """The verdict: the judge's, unless the sample's CPU time went over its limit (a
        timeout, however it ended: RLIMIT_CPU's SIGXCPU, or a verdict reached too late)."""
        verdict, error_type, detail = j.verdict, j.error_type, j.detail
        state = status.get("state")
        if state == "setup_failed":
            raise SandboxError("a sample's isolation could not be set up (the layers probed at start-up failed)")
        cpu = status.get("cpu")
        xcpu = state == "signal" and status["signal"] == signal.SIGXCPU
        if xcpu or (cpu is not None and cpu > time_limit):
            verdict, error_type = Verdict.TIMEOUT, None
            if xcpu:
                stop = max(1, math.ceil(time_limit))
                detail = f"CPU time limit exceeded: RLIMIT_CPU stopped it at {stop} s of CPU (limit {time_limit:g} s)"
            else:
                detail = f"CPU time limit exceeded: the sample used {cpu:.2f} s of CPU (limit {time_limit:g} s)"
        elif verdict == Verdict.CRASHED:
            if state == "signal":
                detail = f"{detail}: killed by {_signal_name(status['signal'])}"
            elif state == "exit":
                detail = f"{detail}: exited with status {status['code']} before the tests finished"
            else:
                detail = f"{detail}: it closed its connection"
        elif verdict == Verdict.TIMEOUT:
            used = f" after {cpu:.2f} s of CPU" if cpu is not None else ""
            detail = (
                f"{detail}: the wall-clock guard ({wall:g} s) ran out{used} (CPU limit {time_limit:g} s): "
                "the sample sleeps or blocks, or the machine left it almost no CPU"
            )
        return SampleResult(
            verdict,
            error_type=None if error_type is None else text.line(error_type, 100),
            detail=None if detail is None else text.clean(detail, text.DETAIL_CHARS),  # several lines: call, statement
            duration=duration,
            output=output,
            time_limit=time_limit,
            cpu_time=cpu,
        )

    def _stop_server(self) -> None:
        proc = getattr(self, "_proc", None)
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()
            self._sock = None
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        store = getattr(self, "replay_store", None)
        if store is not None:
            store.save()
        unpin = getattr(self, "_unpin", None)
        if unpin is not None:
            os.sched_setaffinity(0, unpin)
            self._unpin = None
        policy = getattr(self, "_policy", None)
        if policy is not None:
            try:
                os.sched_setscheduler(0, policy[0], os.sched_param(policy[1]))
            except OSError:
                pass
            self._policy = None
        self._stop_server()
        self._log.close()
        try:
            isolation.remove_tree(self._root)  # iterative: no depth a sample made can stop it
        except OSError:
            shutil.rmtree(self._root, ignore_errors=True)


def _batch_scheduling() -> tuple[int, int] | None:
    """Put the calling thread, and so the fork server and every sample (they inherit it), under
    ``SCHED_BATCH``; returns the policy and priority to restore, or None if unchanged.

    On one CPU (``cpu=``) a woken trusted thread would preempt its sample at each answer the
    sample writes: two context switches per answer.  A batch thread does not preempt on
    wake-up, so the sample writes its answers until it waits, and the trusted side reads them
    in one go.  The CPU share is unchanged (``SCHED_BATCH`` is ``SCHED_OTHER`` without the
    wake-up preemption); the time limits are CPU time, so no verdict depends on it."""
    try:
        policy = os.sched_getscheduler(0)
        if policy != os.SCHED_OTHER:
            return None  # a policy someone chose (idle, real-time...) is left alone
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        return policy, 0
    except (OSError, AttributeError):
        return None


def make_executor(
    kind: str = "auto",
    cpu: int | None = None,
    wall_factor: float = WALL_FACTOR,
    wait: bool = True,
    replays: ReplayStore | None = None,
) -> SandboxExecutor:
    """The sandbox: ``kind`` is 'auto' (every isolation layer the machine offers) or 'strict'
    (all layers, else ``SandboxUnavailable``); ``cpu`` pins the calling thread and the samples
    to one CPU (xdist workers, one CPU each); ``wall_factor``: the wall-clock guard as a
    multiple of a sample's CPU-time limit; ``wait=False``: the fork server starts in the
    background (``ready()`` waits for it; every request calls it); ``replays``: the cache of
    the tests' recorded calls (``replays``), one per process."""
    return SandboxExecutor(kind, cpu=cpu, wall_factor=wall_factor, wait=wait, replays=replays)
