"""Time limits: floor + factor x the canonical runtime, measured once and cached; an override."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_codex.core.problems import load_suite
from pytest_codex.sandbox.executor import make_executor
from pytest_codex.sandbox.timelimits import CACHE_NAME, CALIBRATION_RUNS, TimeLimits

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
    assert tl.upper_bound() == pytest.approx(first, abs=1e-3)


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
    assert tl.limit(P0, counting) == 0.75 and counting.runs == 0 and tl.upper_bound() == 0.75
    assert tl.describe() == {"policy": "fixed", "seconds": 0.75}
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
