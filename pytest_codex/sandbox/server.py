"""The fork server: a small, fresh interpreter that forks one isolated child per sample.

Started by ``SandboxExecutor`` as ``python -I -S -X utf8 -c BOOT`` with a scrubbed
environment, so it holds no problem, test, canonical solution or secret.  Process tree:

    pytest (trusted) -> supervisor -> server (init of a PID namespace) -> one child per sample

The supervisor unshares the namespaces, forks the server and stays outside its confinement:
it is what mounts a fresh tmpfs for each sample (the server, under Landlock and seccomp,
cannot mount).  The server prepares the plan (``isolation``), preloads common
standard-library modules, answers with a hello message, then serves requests on a
SOCK_SEQPACKET socket, one sample at a time:

    ["run", limits] + fds (control socket, output pipe)   -> hand them to the spare child
    ["end", grace]                                        -> kill every process of the sample,
                                                             reap them, reply ["ended", status]

When a sample ends the server gives the next one a fresh working directory (``renew``, done
by the supervisor: a new tmpfs, or without a mount namespace a new directory after removing
the old one by file descriptor, iteratively) and resets the PID namespace's pid counter, so
nothing a sample leaves (files, xattrs, timestamps, inode and pid numbers) reaches the next
one, and nothing a sample writes can make the cleanup fail.  A new tmpfs is mounted while the
reply travels and the next child (a spare, forked ahead of time) is prepared; the spare
enters the working directory only once it is handed its sample, and the server hands it over
only when the renewal is done.  Without a tmpfs the renewal (a removal whose cost the last
sample chose) is done before the reply.

The status carries ``cpu``: the CPU time (user + system) of every process of the sample,
from the rusage of each one the server reaps (a process's rusage includes the children it
reaped itself; orphans are reaped here).

Standard library only.
"""

from __future__ import annotations

import _socket
import array
import gc
import json
import os
import signal
import sys
import time

from pytest_codex.sandbox import isolation, linux, wire
from pytest_codex.sandbox.child import serve as serve_sample
from pytest_codex.sandbox.isolation import Limits, Plan

# What HumanEval prompts and solutions import.  Everything else loads on demand: every
# module the server holds makes each fork, its page faults and its exit a little dearer.
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string")
_EXIT_SETUP_FAILED = 121


def main(argv: list[str]) -> None:
    sock = _socket.socket(fileno=int(argv[0]))  # not the socket module: keep the server small
    config = json.loads(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # inherited by every sample
    os.environ.clear()
    os.environ.update(isolation.SAFE_ENV)
    wanted = set(isolation.LAYERS) - set(config.get("disable", ()))
    plan = Plan(layers={name: name in wanted for name in ("session", "rlimits", "parent_death")})
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(config["owner"]):
        os._exit(1)  # the trusted process died before the parent-death signal was set
    parent = os.getpid()
    uid = int(config["uid"])
    isolation.unshare_namespaces(plan, wanted)
    mine, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    server = os.fork()
    if server:
        sock.close()
        theirs.close()
        _supervise(mine, server, config)
    mine.close()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent and not plan.on("pid_namespace"):
        os._exit(1)  # the supervisor died before the parent-death signal was set
    if not plan.on("pid_namespace"):
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        Server(sock, plan, config, uid, wanted, theirs).serve()
    except BaseException as exc:  # report, then make sure nothing of ours survives
        print(f"codex sandbox server: {type(exc).__name__}: {exc}", file=sys.stderr)
        os._exit(1)
    os._exit(0)


def _supervise(sock, server: int, config: dict) -> None:
    """The supervisor's loop: give the working directory a fresh tmpfs (or, without a mount
    namespace, remove it and make it again) when the server asks; exit with the server's
    status when it is gone (its end of ``sock`` closes).  The supervisor is outside the
    server's Landlock domain, whose path checks would make removing a deep tree quadratic."""
    work = os.path.join(config["root"], isolation.WORK)
    mounted = True
    while True:
        try:
            msg = sock.recv(4096)
        except InterruptedError:
            continue
        if not msg:
            break
        try:
            request = json.loads(msg)
            if request[0] != "renew":
                raise ValueError(f"unexpected request {request[0]!r}")
            owner, mounted = int(request[1]), bool(request[2])
            if mounted:
                isolation.mount_workdir(work, int(config["tmpfs_bytes"]), owner)
            else:
                isolation.renew_directory(work, owner)
            reply = b"ok"
        except Exception as exc:  # the server reports it and exits: the executor restarts it
            reply = f"{type(exc).__name__}: {exc}".encode()
        sock.send(reply)
    _, status = os.waitpid(server, 0)  # every sample process is dead now
    if not mounted:
        try:
            isolation.remove_tree(work)  # leave nothing (with a tmpfs, the namespace takes it)
        except OSError:
            pass
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


class Server:
    def __init__(self, sock, plan: Plan, config: dict, uid: int, wanted: set[str], supervisor) -> None:
        self.sock, self.plan, self.supervisor = sock, plan, supervisor
        self.limits = Limits(**config["limits"])
        self.spare: tuple[int, _socket.socket] | None = None  # (pid, hand-off socket) of the next child
        self.renewing = False  # a renewal of the working directory asked for, not yet answered
        plan.in_pid_namespace = plan.on("pid_namespace") and os.getpid() == 1
        self.last_pid = isolation.open_last_pid() if plan.in_pid_namespace else None
        stdlib = os.path.dirname(os.__file__)
        isolation.prepare_filesystem(plan, config["root"], stdlib, config["tmpfs_bytes"])
        _preload()
        assert plan.libdir is not None  # prepare_filesystem sets it
        isolation.remap_stdlib(stdlib, plan.libdir)
        isolation.choose_uid(plan, uid, "unprivileged_uid" in wanted)
        if "landlock" in wanted:
            isolation.build_landlock(plan, isolation.stdlib_read_dirs(plan.libdir))
        else:
            plan.drop("landlock", "disabled")
        plan.seccomp = linux.seccomp_program("server") if "seccomp" in wanted else None
        plan.seccomp_sample = linux.seccomp_program("sample") if "seccomp" in wanted else None
        plan.layers["seccomp"] = plan.seccomp is not None
        if plan.seccomp is None:
            plan.drop("seccomp", "disabled" if "seccomp" not in wanted else f"no filter for {linux.MACHINE}")
        for name, why in self._probe().items():
            plan.drop(name, why)
        isolation.confine_server(plan, self.limits)
        self.hello = {
            "layers": {name: plan.on(name) for name in isolation.LAYERS},
            "missing": plan.missing,
            "uid": plan.uid if plan.on("unprivileged_uid") else None,
            "landlock_abi": plan.landlock_abi,
            "python": sys.version.split()[0],
        }

    def _probe(self) -> dict:
        """Try every per-child layer once in a throw-away child."""
        mine, theirs = _socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                failed = isolation.probe(self.plan, self.limits)
                os.write(theirs.fileno(), json.dumps(failed).encode())
            finally:
                os._exit(0)
        theirs.close()
        data = mine.recv(65536)
        mine.close()
        self._reap_all(pid)
        return json.loads(data) if data else {"session": "the probe child died"}

    def serve(self) -> None:
        self.sock.send(json.dumps(["hello", self.hello]).encode())
        gc.collect()
        gc.freeze()  # children's collections skip (and so do not copy) everything loaded so far
        self._renew()
        while True:
            if self.spare is None:
                self.spare = self._fork_spare()
            msg, fds = _recv_fds(self.sock)
            if not msg:
                return  # the trusted side is gone
            request = json.loads(msg)
            if request[0] != "run" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                raise RuntimeError(f"unexpected request {request[0]!r} with {len(fds)} fds")
            pid = self._start(int(request[1]), *fds)
            msg = self.sock.recv(65536)
            if not msg:
                self._finish(pid, 0.0)
                return
            status = self._finish(pid, float(json.loads(msg)[1]))
            self.sock.send(json.dumps(["ended", status]).encode())
            # the next spare is forked at the top of the loop, after the reply and after
            # _finish's kill(-1), which would otherwise hit it

    def _renew(self) -> None:
        """A fresh working directory for the next sample, and the pid counter reset: the
        next sample's pid and inode numbers do not depend on what the last one did."""
        self._renew_start()
        self._renew_wait()
        self._reset_pids()

    def _renew_start(self) -> None:
        """Ask the supervisor for a fresh working directory; ``_renew_wait`` waits for it."""
        plan = self.plan
        owner = plan.uid if plan.on("unprivileged_uid") and plan.uid is not None else os.getuid()
        self.supervisor.send(json.dumps(["renew", owner, plan.on("private_tmpfs")]).encode())
        self.renewing = True

    def _renew_wait(self) -> None:
        if not self.renewing:
            return
        reply = self.supervisor.recv(4096)
        self.renewing = False
        if reply != b"ok":
            raise RuntimeError(f"could not renew the working directory: {reply.decode(errors='replace')}")

    def _reset_pids(self) -> None:
        if self.last_pid is not None:
            os.pwrite(self.last_pid, b"1", 0)  # the next fork gets pid 2, whatever came before

    def _fork_spare(self) -> tuple[int, _socket.socket] | None:
        """Fork and isolate the next sample's child now, while the trusted side is busy."""
        mine, theirs = _socket.socketpair()
        try:
            pid = os.fork()
        except OSError:
            mine.close()
            theirs.close()
            return None
        if pid == 0:
            code = _EXIT_SETUP_FAILED
            try:
                self.sock.close()
                mine.close()
                isolation.enter(self.plan, theirs.fileno())
                isolation.attach(self.plan)
                code = 0
                serve_sample()
            except BaseException:
                pass
            finally:
                os._exit(code)
        theirs.close()
        return pid, mine

    def _start(self, cpu_seconds: int, ctl_fd: int, out_fd: int) -> int:
        """Hand the sample's fds to the spare child; -1 if there is none.  The spare changes
        into the working directory only once it has them: the directory's renewal (started
        when the last sample ended) is complete by then."""
        self._renew_wait()
        spare, self.spare = self.spare, None
        pid = -1
        if spare is not None:
            pid, handoff = spare
            try:
                handoff.sendmsg(
                    [str(cpu_seconds).encode()],
                    [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [ctl_fd, out_fd]))],
                )
            except OSError:
                pass  # it died: the sample sees its connection close, the status tells why
            handoff.close()
        os.close(ctl_fd)
        os.close(out_fd)
        return pid

    def _finish(self, pid: int, grace: float) -> dict:
        """Kill every process of the sample, reap them, and renew the working directory."""
        if pid < 0:
            self._renew()
            return {"state": "fork_failed"}
        status, cpu = _wait(pid, grace)
        cpu += self._reap_all(pid)
        if self.plan.on("private_tmpfs"):
            # A fresh tmpfs is a bounded amount of work (the old one is detached, nothing in it
            # is traversed): the supervisor mounts it while the reply travels and the next
            # spare is forked; the next sample is handed over only when it is there.
            self._renew_start()
            self._reset_pids()
        else:
            # Before the reply: a slow renewal (a deep tree on a slow disk, without a tmpfs)
            # must not eat into the next sample's time.
            self._renew()
        return dict(_status(status), cpu=round(cpu, 6))

    def _reap_all(self, pid: int) -> float:
        """Kill and reap every process of the sample; the CPU seconds of those reaped."""
        if self.plan.in_pid_namespace:
            kill_all = lambda: os.kill(-1, signal.SIGKILL)  # noqa: E731  init is spared
        else:
            kill_all = lambda: _kill_descendants(pid)  # noqa: E731
        cpu = 0.0
        while True:
            try:
                kill_all()
            except ProcessLookupError:
                pass
            try:
                _, _, usage = os.wait4(-1, 0)
            except ChildProcessError:
                return cpu
            cpu += usage.ru_utime + usage.ru_stime


def _recv_fds(sock) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, ancdata, _, _ = sock.recvmsg(65536, _socket.CMSG_LEN(4 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def _status(status) -> dict:
    if status is None:
        return {"state": "killed"}
    if os.WIFSIGNALED(status):
        return {"state": "signal", "signal": os.WTERMSIG(status)}
    code = os.WEXITSTATUS(status)
    if code == _EXIT_SETUP_FAILED:
        return {"state": "setup_failed"}
    return {"state": "exit", "code": code}


def _wait(pid: int, grace: float) -> tuple[int | None, float]:
    """(the child's wait status, its CPU seconds) if it has ended (waiting up to ``grace`` s),
    else (None, 0.0): it is killed and reaped with the others."""
    deadline = time.monotonic() + grace
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_utime + usage.ru_stime
        left = deadline - time.monotonic()
        if left <= 0:
            return None, 0.0
        time.sleep(min(left, 0.002))


def _kill_descendants(pid: int) -> None:
    """Without a PID namespace: the sample's process group and every child of ours (a subreaper)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    me = os.getpid()
    found = False
    for tid in os.listdir(f"/proc/{me}/task"):
        with open(f"/proc/{me}/task/{tid}/children") as fh:
            for child in fh.read().split():
                found = True
                try:
                    os.kill(int(child), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    if not found:
        raise ProcessLookupError


_WARM_UP = """
from typing import List
import math

def f(xs: List[float], k: int = 2) -> dict:
    return {"s": sorted(xs)[:k], "t": tuple(round(math.sqrt(abs(x)), 3) for x in xs), "n": None}
"""


def _preload() -> None:
    """Import common modules and run the compiler and the protocol once, so that each child
    inherits them warm (a first ``compile`` in a fresh fork costs ~1.5 ms of page faults)."""
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    scope: dict = {}
    exec(compile(_WARM_UP, "<warm-up>", "exec"), scope)
    call = wire.loads(wire.frame(["call", [wire.pack(([1.5, -2.0, 3.0],)), wire.pack({})]])[4:])
    from pytest_codex.sandbox.child import (
        _answer,  # lazy: warm-up only, in the fork server before its first sample
    )

    _answer(scope["f"], call[1])
