"""``SandboxExecutor``: the trusted process's handle on its fork server.

One executor (one fork server) per pytest process or xdist worker; ``run`` is not
thread-safe (use one executor per thread).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.core.problems import Problem
from pytest_codex.core.verdicts import SampleResult, Verdict
from pytest_codex.sandbox import isolation
from pytest_codex.sandbox.channel import Channel
from pytest_codex.sandbox.judge import Diverged, judge

OUTPUT_CAP = 4096
UID_BASE = 2_000_000_000  # + the supervisor's pid: one unprivileged uid per worker
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
        wait: bool = True,
    ) -> None:
        """``cpu``: pin the calling thread, the fork server and every sample to that CPU
        (restored by ``close``).  A sample costs many wake-ups between the trusted thread and
        its child; on one core each is ~10 us, across cores ~100 us on a VM.
        ``wait=False``: return once the fork server is spawned; ``ready()`` waits for its
        hello (and refuses missing layers in strict mode), so the caller can load problems
        while the server starts (it is a fresh interpreter: none of them reach it)."""
        if mode not in ("auto", "strict"):
            raise ValueError(f"sandbox mode {mode!r}: use 'auto' or 'strict'")
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(
                f"the sandbox needs Linux (fork, namespaces, Landlock, seccomp); this is "
                f"{sys.platform}: run pytest-codex on Linux, e.g. in a container or VM"
            )
        self._unpin: set[int] | None = None
        if cpu is not None:
            self._unpin = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {cpu})  # the fork server inherits it
        self.mode = mode
        self.limits = limits or isolation.Limits()
        self._replays: dict[Problem, list[str]] = {}  # the calls of a passing run, per problem
        self._root = tempfile.mkdtemp(prefix="codex-sandbox-")
        os.chmod(self._root, 0o755)  # the unprivileged uid must reach root/work
        self._log = tempfile.TemporaryFile()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {
            "root": self._root,
            "uid_base": UID_BASE,
            "tmpfs_bytes": TMPFS_BYTES,
            "disable": list(disable),
            "limits": self.limits.to_json(),
        }
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
                    json.dumps(config),
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
        self._sock: socket.socket | None = mine
        self.info: dict | None = None
        if wait:
            self.ready()

    def ready(self) -> None:
        """Wait for the fork server's hello (once); ``SandboxUnavailable`` if it did not start
        or, in strict mode, lacks isolation layers."""
        if self.info is not None:
            return
        assert self._sock is not None  # not closed
        self._sock.settimeout(START_TIMEOUT)
        try:
            hello = self._recv()
        except (OSError, SandboxError) as exc:
            self.close()
            raise SandboxUnavailable(f"the sandbox's fork server did not start: {exc}; {self._log_tail()}") from None
        self._sock.settimeout(SERVER_TIMEOUT)
        self.info = hello[1]
        missing = [name for name, on in self.info["layers"].items() if not on]
        if self.mode == "strict" and missing:
            self.close()
            why = "; ".join(f"{n}: {self.info['missing'].get(n, 'unavailable')}" for n in missing)
            raise SandboxUnavailable(
                f"--codex-sandbox=strict: isolation layers missing: {why}; "
                "run as root on Linux with namespaces, Landlock and seccomp, "
                "or use --codex-sandbox=auto"
            )

    def _recv(self):
        assert self._sock is not None  # not closed
        data = self._sock.recv(65536)
        if not data:
            raise SandboxError(f"the fork server exited; {self._log_tail()}")
        return json.loads(data)

    def _log_tail(self) -> str:
        try:
            self._log.seek(0)
            text = self._log.read()[-1000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            text = ""
        return f"server log: {text}" if text else "no server log"

    def describe(self) -> dict:
        self.ready()
        assert self.info is not None
        return {
            "executor": self.name,
            "mode": self.mode,
            "layers": dict(self.info["layers"]),
            "missing": {k: v for k, v in self.info["missing"].items() if not self.info["layers"].get(k)},
            "landlock_abi": self.info["landlock_abi"],
            "limits": self.limits.to_json(),
            "output_cap": OUTPUT_CAP,
        }

    def run(self, problem: Problem, completion: str, time_limit: float) -> SampleResult:
        self.ready()
        replay = self._replays.get(problem)
        try:
            result, calls = self._attempt(problem, completion, time_limit, replay or [])
        except Diverged:  # the tests call differently each time (random inputs): no more replays
            self._replays[problem] = NO_REPLAY
            result, calls = self._attempt(problem, completion, time_limit, [])
        if result.passed and replay is None:
            self._replays[problem] = calls
        return result

    def _attempt(self, problem: Problem, completion: str, time_limit: float, replay: list[str]):
        start = time.monotonic()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            assert self._sock is not None  # not closed
            socket.send_fds(
                self._sock, [json.dumps(["run", math.ceil(time_limit) + 1]).encode()], [theirs.fileno(), out_w]
            )
        except OSError as exc:
            mine.close()
            os.close(out_r)
            raise SandboxError(f"the fork server is gone: {exc}; {self._log_tail()}") from None
        finally:
            theirs.close()
            os.close(out_w)
        channel = Channel(mine, out_r, start + time_limit, OUTPUT_CAP)
        judgement = None
        try:
            judgement = judge(problem, completion, channel, replay)
        finally:
            # A child that hung up gets a moment to finish dying, so its status is known.
            status = self._end(grace=0.05 if judgement is not None and judgement.channel_closed else 0.0)
            duration = time.monotonic() - start
            output = channel.output()  # every writer is dead now: read to the end
            channel.close()
        return self._result(judgement, status, time_limit, duration, output), judgement.calls

    def _end(self, grace: float) -> dict:
        try:
            assert self._sock is not None  # not closed
            self._sock.send(json.dumps(["end", grace]).encode())
            reply = self._recv()
        except OSError as exc:
            raise SandboxError(f"the fork server did not answer: {exc}; {self._log_tail()}") from None
        return reply[1]

    @staticmethod
    def _result(j, status: dict, time_limit: float, duration: float, output: str) -> SampleResult:
        verdict, error_type, detail = j.verdict, j.error_type, j.detail
        state = status.get("state")
        if state == "setup_failed":
            raise SandboxError("a sample's isolation could not be set up (the layers probed at start-up failed)")
        if verdict == Verdict.CRASHED:
            if state == "signal":
                sig = status["signal"]
                if sig == signal.SIGXCPU:
                    verdict, detail = Verdict.TIMEOUT, f"CPU time limit ({math.ceil(time_limit) + 1} s) exceeded"
                else:
                    detail = f"{detail}: killed by {_signal_name(sig)}"
            elif state == "exit":
                detail = f"{detail}: exited with status {status['code']} before the tests finished"
            else:
                detail = f"{detail}: it closed its connection"
        elif verdict == Verdict.TIMEOUT:
            detail = f"{detail} ({time_limit:g} s)"
        return SampleResult(
            verdict, error_type=error_type, detail=detail, duration=duration, output=output, time_limit=time_limit
        )

    def close(self) -> None:
        unpin = getattr(self, "_unpin", None)
        if unpin is not None:
            os.sched_setaffinity(0, unpin)
            self._unpin = None
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
        self._log.close()
        shutil.rmtree(self._root, ignore_errors=True)


def make_executor(kind: str = "auto", cpu: int | None = None, wait: bool = True) -> SandboxExecutor:
    """The sandbox: ``kind`` is 'auto' (every isolation layer the machine offers) or 'strict'
    (all layers, else ``SandboxUnavailable``); ``cpu`` pins the calling thread and the samples
    to one CPU (xdist workers, one CPU each); ``wait=False``: call ``ready()`` before use."""
    return SandboxExecutor(kind, cpu=cpu, wait=wait)
