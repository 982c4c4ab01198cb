"""Minimal executor: one fresh interpreter per sample, killed at the time limit.

This is the correct minimum the plugin needs; the hardened sandbox replaces it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

from .execution import CRASHED, ERROR, FAILED, PASSED, SYNTAX_ERROR, TIMEOUT, SampleResult
from .problems import Problem

OUTPUT_CAP = 4096
_MARK = "@@CODEX-VERDICT@@"

_RUNNER = r'''
import sys, os, traceback
MARK = sys.argv[2]
out = os.fdopen(os.dup(2), "w")
def report(verdict, etype="", detail=""):
    out.write(MARK + verdict + MARK + etype + MARK + detail.replace("\n", "\\n") + "\n"); out.flush()
src = open(sys.argv[1], encoding="utf-8").read()
candidate, tests = src.split(MARK)
try:
    code = compile(candidate, "<completion>", "exec")
except (SyntaxError, ValueError) as e:
    report("syntax_error", type(e).__name__, str(e)); sys.exit(3)
g = {"__name__": "__main__"}
try:
    exec(code, g)
    exec(compile(tests, "<tests>", "exec"), g)
except AssertionError as e:
    tb = traceback.extract_tb(e.__traceback__)
    where = tb[-1].line if tb else ""
    report("failed", "AssertionError", (where or "") + (": " + str(e) if str(e) else "")); sys.exit(1)
except BaseException as e:
    report("error", type(e).__name__, str(e)[:500]); sys.exit(1)
report("passed"); sys.exit(0)
'''


class SubprocessExecutor:
    name = "subprocess"

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="codex-exec-")

    def describe(self) -> dict:
        return {"executor": self.name, "layers": {"process": True}}

    def run(self, problem: Problem, completion: str, time_limit: float) -> SampleResult:
        tests = f"{problem.test}\ncheck({problem.entry_point})\n"
        path = os.path.join(self._tmp.name, "sample.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(problem.program(completion) + "\n" + _MARK + "\n" + tests)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _RUNNER, path, _MARK],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._tmp.name,
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        try:
            out, _ = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return SampleResult(TIMEOUT, detail=f"exceeded {time_limit:g} s",
                                duration=time.perf_counter() - start,
                                output=out.decode("utf-8", "replace")[-OUTPUT_CAP:])
        duration = time.perf_counter() - start
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        text = out.decode("utf-8", "replace")
        verdict_line = None
        for line in text.splitlines():
            if line.startswith(_MARK):
                verdict_line = line
        output = "\n".join(l for l in text.splitlines() if not l.startswith(_MARK))[-OUTPUT_CAP:]
        if verdict_line is None or proc.returncode < 0:
            detail = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
            return SampleResult(CRASHED, detail=detail, duration=duration, output=output)
        _, verdict, etype, detail = verdict_line.split(_MARK)
        detail = detail.replace("\\n", "\n")
        if verdict == PASSED and proc.returncode != 0:
            return SampleResult(CRASHED, detail=f"exit status {proc.returncode}", duration=duration, output=output)
        return SampleResult(verdict, error_type=etype or None, detail=detail or None,
                            duration=duration, output=output)

    def close(self) -> None:
        self._tmp.cleanup()
