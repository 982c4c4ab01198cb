"""The fork server: a small, fresh interpreter that forks one isolated child per sample.

Started by ``SandboxExecutor`` as ``python -I -S -X utf8 -c BOOT`` with a scrubbed
environment, so it holds no problem, test, canonical solution or secret.  Process tree:

    pytest (trusted) -> supervisor -> server (init of a PID namespace) -> one child per sample

The supervisor unshares the namespaces and forks the server; the server prepares the plan
(``isolation``), preloads common standard-library modules, answers with a hello message,
then serves requests on a SOCK_SEQPACKET socket, one sample at a time:

    ["run", limits] + fds (control socket, output pipe)   -> fork a child
    ["end", grace]                                        -> kill every process of the sample,
                                                             empty the temp dir, reply ["ended", status]

Standard library only.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import time

from . import isolation, linux, wire
from .child import serve as serve_sample  # imported now: the child cannot read our files
from .isolation import Limits, Plan

PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
           "hashlib")  # what HumanEval prompts and solutions import; the rest loads on demand
_EXIT_SETUP_FAILED = 121


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[0]))
    config = json.loads(argv[1])
    wanted = set(isolation.LAYERS) - set(config.get("disable", ()))
    plan = Plan(layers={name: name in wanted for name in ("session", "rlimits", "parent_death")})
    parent = os.getppid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    uid = config["uid_base"] + os.getpid()
    isolation.unshare_namespaces(plan, wanted)
    if plan.on("pid_namespace"):
        server = os.fork()
        if server:
            sock.close()
            _, status = os.waitpid(server, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    try:
        Server(sock, plan, config, uid, wanted).serve()
    except BaseException as exc:  # report, then make sure nothing of ours survives
        print(f"codex sandbox server: {type(exc).__name__}: {exc}", file=sys.stderr)
        os._exit(1)
    os._exit(0)


class Server:
    def __init__(self, sock: socket.socket, plan: Plan, config: dict, uid: int, wanted: set[str]) -> None:
        self.sock, self.plan = sock, plan
        plan.in_pid_namespace = plan.on("pid_namespace") and os.getpid() == 1
        stdlib = os.path.dirname(os.__file__)
        isolation.prepare_filesystem(plan, config["root"], stdlib, config["tmpfs_bytes"])
        _preload()
        isolation.remap_stdlib(stdlib, plan.libdir)
        isolation.choose_uid(plan, uid, "unprivileged_uid" in wanted)
        if "landlock" in wanted:
            isolation.build_landlock(plan, isolation.stdlib_read_dirs(plan.libdir))
        else:
            plan.drop("landlock", "disabled")
        plan.seccomp = linux.seccomp_program() if "seccomp" in wanted else None
        plan.layers["seccomp"] = plan.seccomp is not None
        if plan.seccomp is None:
            plan.drop("seccomp", "disabled" if "seccomp" not in wanted else f"no filter for {linux.MACHINE}")
        for name, why in self._probe().items():
            plan.drop(name, why)
        self.hello = {"layers": {name: plan.on(name) for name in isolation.LAYERS}, "missing": plan.missing,
                      "uid": plan.uid if plan.on("unprivileged_uid") else None,
                      "landlock_abi": plan.landlock_abi, "python": sys.version.split()[0]}

    def _probe(self) -> dict:
        """Try every per-child layer once in a throw-away child."""
        mine, theirs = socket.socketpair()
        null = os.open(os.devnull, os.O_WRONLY)
        pid = os.fork()
        if pid == 0:
            try:
                failed = isolation.probe(self.plan, Limits(), theirs.fileno(), null)
                os.write(isolation.CTL_FD, json.dumps(failed).encode())
            finally:
                os._exit(0)
        theirs.close()
        os.close(null)
        data = mine.recv(65536)
        mine.close()
        self._reap_all(pid)
        return json.loads(data) if data else {"session": "the probe child died"}

    def serve(self) -> None:
        self.sock.send(json.dumps(["hello", self.hello]).encode())
        gc.collect()
        gc.freeze()  # children's collections skip (and so do not copy) everything loaded so far
        while True:
            msg, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
            if not msg:
                return  # the trusted side is gone
            request = json.loads(msg)
            if request[0] != "run" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                raise RuntimeError(f"unexpected request {request[0]!r} with {len(fds)} fds")
            pid = self._start(Limits(**request[1]), *fds)
            msg = self.sock.recv(65536)
            if not msg:
                self._finish(pid, 0.0)
                return
            status = self._finish(pid, float(json.loads(msg)[1]))
            self.sock.send(json.dumps(["ended", status]).encode())

    def _start(self, limits: Limits, ctl_fd: int, out_fd: int) -> int:
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            code = _EXIT_SETUP_FAILED
            try:
                self.sock.close()
                isolation.enter(self.plan, limits, ctl_fd, out_fd)
                code = 0
                serve_sample()
            except BaseException:
                pass
            finally:
                os._exit(code)
        os.close(ctl_fd)
        os.close(out_fd)
        return pid

    def _finish(self, pid: int, grace: float) -> dict:
        """Kill every process of the sample, reap them, empty the temp dir."""
        if pid < 0:
            return {"state": "fork_failed"}
        status = _wait(pid, grace)
        self._reap_all(pid)
        self._clean()
        if status is None:
            return {"state": "killed"}
        if os.WIFSIGNALED(status):
            return {"state": "signal", "signal": os.WTERMSIG(status)}
        code = os.WEXITSTATUS(status)
        if code == _EXIT_SETUP_FAILED:
            return {"state": "setup_failed"}
        return {"state": "exit", "code": code}

    def _reap_all(self, pid: int) -> None:
        if self.plan.in_pid_namespace:
            kill_all = lambda: os.kill(-1, signal.SIGKILL)  # noqa: E731  init is spared
        else:
            kill_all = lambda: _kill_descendants(pid)  # noqa: E731
        while True:
            try:
                kill_all()
            except ProcessLookupError:
                pass
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return

    def _clean(self) -> None:
        work = self.plan.workdir
        for entry in os.listdir(work):
            path = os.path.join(work, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        os.chmod(work, 0o700)


def _wait(pid: int, grace: float):
    """The child's wait status if it has ended (waiting up to ``grace`` s), else None."""
    deadline = time.monotonic() + grace
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        left = deadline - time.monotonic()
        if left <= 0:
            return None
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
    call = wire.loads(wire.frame(["call", wire.pack(([1.5, -2.0, 3.0],)), wire.pack({})])[4:])
    from .child import _answer

    _answer(scope["f"], call)
