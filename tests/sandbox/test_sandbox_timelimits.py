"""Time limits: judged on CPU time, floor + factor x the canonical solution's CPU time,
measured once and cached; a wall-clock guard for samples that sleep; an override; the same
verdicts on a loaded machine as on an idle one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_codex.core.problems import load_suite
from pytest_codex.sandbox.executor import make_executor
from pytest_codex.sandbox.timelimits import CACHE_NAME, CALIBRATION_RUNS, TimeLimits

from sandbox_support import ADD, CORRECT

SUITE = load_suite("humaneval")
P0, P1 = SUITE.problems[0], SUITE.problems[1]


class Counting:
    """The real executor, counting the samples it runs."""

    def __init__(self, executor) -> None:
        self.executor, self.runs = executor, 0

    def run(self, problem, completion, time_limit):
        self.runs += 1
        return self.executor.run(problem, completion, time_limit)


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def limits(tmp_path, **kw) -> TimeLimits:
    args = {"floor": 2.0, "factor": 10.0, "override": None, "cache_dir": tmp_path, "suite_sha256": SUITE.sha256}
    return TimeLimits(**{**args, **kw})


def test_the_limit_is_floor_plus_factor_times_the_measured_canonical_runtime(tmp_path, executor):
    counting = Counting(executor)
    tl = limits(tmp_path)
    first = tl.limit(P0, counting)
    measured = tl.measured[P0.task_id]
    assert counting.runs == CALIBRATION_RUNS and 0 < measured < 2
    assert first == pytest.approx(2.0 + 10.0 * measured, abs=1e-3)
    assert tl.limit(P0, counting) == first and counting.runs == CALIBRATION_RUNS  # measured once
    assert tl.upper_bound() == pytest.approx(10 * first, abs=1e-2)  # the wall-clock guard of the largest


def test_measurements_are_cached_on_disk_and_merged(tmp_path, executor):
    counting = Counting(executor)
    a, b = limits(tmp_path), limits(tmp_path)
    a.limit(P0, counting)
    b.limit(P1, counting)
    a.save()
    b.save()
    entries = json.loads((tmp_path / CACHE_NAME).read_text())["entries"]
    (key,) = entries
    assert key.startswith(SUITE.sha256) and set(entries[key]) == {P0.task_id, P1.task_id}
    counting.runs = 0
    c = limits(tmp_path, factor=3.0)  # a new session: nothing is measured again
    assert c.limit(P0, counting) == pytest.approx(2.0 + 3.0 * entries[key][P0.task_id], abs=1e-3)
    assert c.limit(P1, counting) and counting.runs == 0
    other_suite = limits(tmp_path, suite_sha256="0" * 64)
    other_suite.limit(P0, counting)
    assert counting.runs == CALIBRATION_RUNS  # keyed by the suite's hash


def test_a_damaged_cache_is_measured_again(tmp_path, executor):
    (tmp_path / CACHE_NAME).write_text("{not json")
    counting = Counting(executor)
    tl = limits(tmp_path)
    tl.limit(P0, counting)
    assert counting.runs == CALIBRATION_RUNS
    tl.save()
    assert P0.task_id in json.loads((tmp_path / CACHE_NAME).read_text())["entries"][tl.key]


def test_an_override_is_used_as_is_and_measures_nothing(tmp_path, executor):
    counting = Counting(executor)
    tl = limits(tmp_path, override=0.75)
    assert tl.limit(P0, counting) == 0.75 and counting.runs == 0 and tl.upper_bound() == 7.5
    assert tl.describe()["policy"] == "fixed CPU time" and tl.describe()["seconds"] == 0.75
    tl.save()
    assert not (tmp_path / CACHE_NAME).exists()


def test_canonical_solutions_pass_with_both_cores_busy(tmp_path, executor):
    """Scaled limits leave room for a loaded machine: two CPU burners run meanwhile."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        tl = limits(tmp_path, floor=3.0)
        failures = [
            (p.task_id, r.verdict)
            for p in SUITE.problems
            if not (r := executor.run(p, p.canonical_solution, tl.limit(p, executor))).passed
        ]
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert failures == []


def test_a_broken_canonical_solution_gets_the_floor(tmp_path, executor):
    broken = P0.__class__(
        **{
            **P0.__dict__,
            "task_id": "test/broken",
            "canonical_solution": "    import time\n    time.sleep(0.2)\n    return None\n",
        }
    )
    tl = limits(tmp_path)
    assert tl.limit(broken, executor) == 2.0 and tl.measured["test/broken"] == 0.0


def burn(seconds: float, indent: str = "    ") -> str:
    """Code that spends ``seconds`` of its own process's CPU time (whatever the load)."""
    return f"{indent}import time as _t\n{indent}while _t.process_time() < {seconds}:\n{indent}    pass\n"


def test_the_verdict_is_judged_on_cpu_time_summed_over_the_samples_processes(executor):
    # 0.8 s of CPU against a 0.5 s limit: RLIMIT_CPU (at 1 s) does not fire, the sample
    # answers every call correctly, and its measured CPU time makes it a timeout.
    over = executor.run(ADD, burn(0.8) + CORRECT, 0.5)
    assert over.verdict == "timeout" and over.cpu_time > 0.5, over
    assert "CPU time limit exceeded: the sample used" in over.detail and "(limit 0.5 s)" in over.detail
    # Two processes with 0.45 s each: each stays under the limit, together they do not.
    forked = (
        "    import os\n    pid = os.fork()\n"
        + burn(0.45)
        + "    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\n"
        + CORRECT
    )
    together = executor.run(ADD, forked, 0.7)
    assert together.verdict == "timeout" and together.cpu_time > 0.7, together
    # negative controls: the same samples within a larger limit pass, with their CPU time recorded
    assert executor.run(ADD, burn(0.8) + CORRECT, 2.0).passed
    control = executor.run(ADD, forked, 2.0)
    assert control.passed and control.cpu_time >= 0.8 and control.to_json()["cpu_time"] == control.cpu_time


def test_a_sample_that_sleeps_is_ended_by_the_wall_clock_guard():
    ex = make_executor(wall_factor=2.0)
    try:
        slept = ex.run(ADD, "    import time\n    time.sleep(60)\n    return a + b\n", 0.5)
        assert slept.verdict == "timeout" and "the wall-clock guard (1 s) ran out" in slept.detail, slept
        assert slept.cpu_time < 0.5 and ex.describe()["wall_guard_factor"] == 2.0
        assert ex.run(ADD, "    import time\n    time.sleep(0.1)\n    return a + b\n", 0.5).passed  # control
    finally:
        ex.close()


# A correct completion of HumanEval/147 in the style of a model's O(n^3) answer (every triple).
CUBIC_147 = """    a = [i * i - i + 1 for i in range(1, n + 1)]
    count = 0
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if i < j < k and (a[i] + a[j] + a[k]) % 3 == 0:
                    count += 1
    return count
"""
# A correct completion of HumanEval/0 that spends ~1.5 s of CPU while it loads (say, a table).
SLOW_LOADING_0 = (
    "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1 :])\n\n\n"
    + burn(1.5, indent="")
)
LOAD_SAMPLES = [
    ("HumanEval/147", CUBIC_147),
    ("HumanEval/0", SLOW_LOADING_0),
    ("HumanEval/147", "    return n // 3\n"),  # wrong
    ("HumanEval/0", "    return False\n"),  # wrong
    ("HumanEval/2", "    return number % 1.0\n"),
]


class BusyLoops:
    """``per_core`` CPU-bound processes per core, each in its own session (``setsid``), as other
    jobs on a machine are: within one session the kernel's autogroup scheduling would shield
    the sandbox and hide the problem.  Each ends by itself after ``seconds``."""

    def __init__(self, per_core: int = 4, seconds: float = 300) -> None:
        code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
        count = per_core * (os.cpu_count() or 1)
        self.procs = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(count)]

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def test_the_same_samples_get_the_same_verdicts_with_every_core_busy(tmp_path, executor):
    tl = TimeLimits(floor=3.0, factor=10.0, override=None, cache_dir=tmp_path, suite_sha256=SUITE.sha256)
    by_id = SUITE.by_id()

    def verdicts():
        out = []
        for task_id, body in LOAD_SAMPLES:
            problem = by_id[task_id]
            out.append(executor.run(problem, body, tl.limit(problem, executor)))
        return out

    idle = verdicts()
    loops = BusyLoops(per_core=4)
    try:
        time.sleep(0.5)  # let them start
        busy = verdicts()
        # negative control: the same sample judged on wall-clock time (the earlier policy: the
        # limit as a wall-clock deadline) is a timeout under this load
        problem = by_id["HumanEval/0"]
        limit = tl.limit(problem, executor)
        wall_judged = executor.run(problem, SLOW_LOADING_0, 60.0, wall_limit=limit)
    finally:
        loops.stop()
    assert [r.verdict.value for r in idle] == ["passed", "passed", "failed", "failed", "passed"], idle
    assert [r.verdict for r in busy] == [r.verdict for r in idle], busy
    assert wall_judged.verdict == "timeout", wall_judged
    assert all(p.returncode is not None for p in loops.procs)  # every busy loop is gone
