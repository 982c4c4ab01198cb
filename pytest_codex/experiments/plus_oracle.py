"""Expected outputs of the plus tests: the canonical solution run in a child process.

The pytest process never executes problem code.  One child interpreter (``-I``, scrubbed
environment, own session, temp dir as cwd, memory and CPU rlimits) runs the canonical
solutions, one job per problem, and streams one JSON line per input: the output's
``repr`` (checked to read back as an equal literal and to satisfy the problem's
relation) or why the input is dropped: the solution raised, ran past the per-input
limit, or returned something that is not a plain literal.  If the child dies or hangs,
it is killed and restarted after the input it was on, which is dropped as a timeout.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

MEMORY_LIMIT = 2 << 30
OUTPUT_LIMIT = 20_000  # characters of repr(output); larger outputs are dropped

# Comparison and relation helpers: the same text runs in the oracle (to validate the
# canonical output) and in every generated check(candidate).
SAME_SOURCE = """
def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and __import__("math").isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
"""

RELATIONS = {
    # the output equals the canonical one (floats within a tolerance), as in the base tests
    "equal": "def _relation(args, out, expected):\n    return _same(out, expected)\n",
    # HumanEval/32 find_zero: any zero of the polynomial will do, as in its base test
    "poly_zero": (
        "def _relation(args, out, expected):\n"
        "    import math\n"
        "    return isinstance(out, (int, float)) and math.fabs(sum(c * math.pow(out, i) "
        "for i, c in enumerate(args[0]))) < 1e-4\n"
    ),
}

_RUNNER = r"""
import ast, copy, json, os, resource, signal, sys, time
out = os.fdopen(os.dup(1), "w")
sys.stdout = open(os.devnull, "w")
MEMORY, LIMIT = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
class _Timeout(BaseException):
    pass
def _alarm(signum, frame):
    raise _Timeout()
signal.signal(signal.SIGALRM, _alarm)
def emit(**kw):
    out.write(json.dumps(kw) + "\n"); out.flush()
for line in sys.stdin:
    job = json.loads(line)
    g = {"__name__": "__plus__"}
    helpers = {}
    exec(job["helpers"], helpers)
    try:
        exec(compile(job["program"], "<canonical>", "exec"), g)
        fn = g[job["entry_point"]]
    except BaseException as e:
        emit(job=job["id"], fatal=f"{type(e).__name__}: {e}"[:300]); continue
    for i in range(job["start"], len(job["inputs"])):
        args = ast.literal_eval(job["inputs"][i])
        t0 = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, job["limit"])
            try:
                res = fn(*copy.deepcopy(args))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Timeout:
            emit(job=job["id"], i=i, ok=False, why="timeout"); continue
        except BaseException as e:
            emit(job=job["id"], i=i, ok=False, why="raised " + type(e).__name__); continue
        t = time.perf_counter() - t0
        try:
            text = repr(res)
            back = ast.literal_eval(text)
            good = len(text) <= LIMIT and helpers["_same"](back, res) and helpers["_relation"](args, back, back)
        except BaseException:
            good = False
        if good:
            emit(job=job["id"], i=i, ok=True, out=text, t=t)
        else:
            emit(job=job["id"], i=i, ok=False, why="unrepresentable or relation failed")
    emit(job=job["id"], done=True)
"""


@dataclass
class OracleResult:
    outputs: dict[int, str] = field(default_factory=dict)  # input index -> repr(expected)
    seconds: dict[int, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count
    fatal: str | None = None


@dataclass
class OracleJob:
    key: str
    program: str
    entry_point: str
    inputs: Sequence[str]  # repr of argument tuples
    relation: str = "equal"


class Oracle:
    """One child interpreter, restarted when it dies or hangs."""

    def __init__(self, per_input_limit: float = 1.0) -> None:
        self.limit = per_input_limit
        self._tmp = tempfile.TemporaryDirectory(prefix="codex-plus-")
        self._proc: subprocess.Popen | None = None
        self._buf = b""

    def _start(self) -> subprocess.Popen:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _RUNNER, str(MEMORY_LIMIT), str(OUTPUT_LIMIT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self._tmp.name,
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        self._buf = b""
        return self._proc

    def _kill(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    f.close()
            self._proc = None

    def _readline(self, deadline: float) -> dict | None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        out = proc.stdout
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(out.fileno(), 65536)
                if not chunk:
                    return None
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, job: OracleJob) -> OracleResult:
        result = OracleResult()
        helpers = SAME_SOURCE + RELATIONS[job.relation]
        start = 0
        while True:
            proc = self._proc or self._start()
            request = {
                "id": job.key,
                "program": job.program,
                "entry_point": job.entry_point,
                "inputs": list(job.inputs),
                "start": start,
                "limit": self.limit,
                "helpers": helpers,
            }
            assert proc.stdin is not None
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                continue
            while True:
                msg = self._readline(time.monotonic() + self.limit + 10.0)
                if msg is None:  # died, or hung where the alarm cannot stop it (a C-level loop)
                    self._kill()
                    result.dropped["died or hung"] = result.dropped.get("died or hung", 0) + 1
                    start += 1
                    break
                if "fatal" in msg:
                    result.fatal = msg["fatal"]
                    return result
                if msg.get("done"):
                    return result
                start = msg["i"] + 1
                if msg["ok"]:
                    result.outputs[msg["i"]] = msg["out"]
                    result.seconds[msg["i"]] = msg["t"]
                else:
                    result.dropped[msg["why"]] = result.dropped.get(msg["why"], 0) + 1
            if start >= len(job.inputs):
                return result

    def close(self) -> None:
        self._kill()
        self._tmp.cleanup()
