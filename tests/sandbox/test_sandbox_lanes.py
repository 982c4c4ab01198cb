"""Lanes: a single pytest process runs samples ahead of their items (``sandbox.lanes``).

The scheduling is tested on ``Lanes`` with a small in-process executor that records what it
ran (it executes nothing); ``interrupt`` on the real executor, and the plugin end to end, with
real fork servers.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.problems import Problem, load_suite
from pytest_codex.core.verdicts import SampleResult, Verdict
from pytest_codex.sandbox.executor import Interrupted, SandboxExecutor
from pytest_codex.sandbox.lanes import Lanes
from pytest_codex.sandbox.timelimits import TimeLimits

from support import usage_error

PROBLEM = Problem("T/0", "def f():\n", "    return 1\n", "def check(candidate):\n    assert candidate() == 1", "f")


class Recorder:
    """An executor that runs nothing: it answers ``passed`` with the completion as the
    output, records which thread ran what, and can be made to block or fail."""

    name = "recorder"

    def __init__(self, log: list, gate: threading.Event | None = None, fail: str | None = None) -> None:
        self.log, self.gate, self.fail = log, gate, fail
        self.interrupted = threading.Event()
        self.closed = False

    def run(self, problem, completion, time_limit, wall_limit=None) -> SampleResult:
        self.log.append((threading.current_thread().name, completion))
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if self.interrupted.is_set():
                    raise Interrupted("interrupted")
        if completion == self.fail:
            raise RuntimeError(f"harness error on {completion}")
        return SampleResult(Verdict.PASSED, output=completion, time_limit=time_limit)

    def interrupt(self) -> None:
        self.interrupted.set()

    def close(self) -> None:
        self.closed = True

    def describe(self) -> dict:
        return {}


def plan(sizes: list[int]) -> list[tuple[str, Problem, list[str]]]:
    return [(f"item{i}", PROBLEM, [f"i{i}s{j}" for j in range(n)]) for i, n in enumerate(sizes)]


def open_lanes(count: int, log: list, **kwargs) -> tuple[Lanes, list[Recorder]]:
    made: list[Recorder] = []

    def open_executor(cpu):
        executor = Recorder(log, **kwargs)
        made.append(executor)
        return executor

    lanes = Lanes(open_executor, count)
    lanes.executors()  # all open
    return lanes, made


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 4), max_size=12), count=st.integers(1, 3), lookahead=st.integers(0, 3))
def test_every_sample_runs_once_and_each_item_gets_its_own(sizes, count, lookahead):
    log: list = []
    lanes, made = open_lanes(count, log)
    lanes.lookahead = lookahead
    here = Recorder(log)
    items = plan(sizes)
    lanes.start(items, lambda problem, executor: 3.0)
    try:
        for key, problem, texts in items:
            got = lanes.results(key, problem, texts, here)
            assert [r.output for r in got] == texts
    finally:
        lanes.close()
    assert sorted(c for _, c in log) == sorted(t for _, _, texts in items for t in texts)  # each ran once
    assert all(executor.closed for executor in made)


def test_a_problems_limit_is_measured_by_one_thread_at_a_time():
    lock, active, worst = threading.Lock(), {"T/0": 0}, [0]

    def limit(problem, executor):  # a measurement that takes a while
        with lock:
            active[problem.task_id] += 1
            worst[0] = max(worst[0], active[problem.task_id])
        time.sleep(0.02)
        with lock:
            active[problem.task_id] -= 1
        return 3.0

    log: list = []
    lanes, _ = open_lanes(3, log)
    items = plan([6, 6])
    lanes.start(items, limit)
    try:
        for key, problem, texts in items:
            lanes.results(key, problem, texts, Recorder(log))
    finally:
        lanes.close()
    assert len(log) == 12 and worst[0] == 1


def test_lanes_take_nothing_beyond_the_look_ahead():
    log: list = []
    lanes, _ = open_lanes(2, log)
    lanes.lookahead = 2
    items = plan([1] * 10)
    lanes.start(items, lambda problem, executor: 3.0)
    try:
        deadline = time.monotonic() + 10
        while len(log) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # time enough to take more, were they allowed to
        assert sorted(c for _, c in log) == ["i0s0", "i1s0", "i2s0"]  # items 0..0+2
        lanes.results("item0", PROBLEM, ["i0s0"], Recorder(log))
        lanes.results("item1", PROBLEM, ["i1s0"], Recorder(log))  # item 1 runs: the window is 1..3
        deadline = time.monotonic() + 10
        while len(log) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert sorted(c for _, c in log) == ["i0s0", "i1s0", "i2s0", "i3s0"]  # it moved by one
    finally:
        lanes.close()


def test_a_sample_no_lane_took_runs_in_the_calling_thread():
    log: list = []
    gate = threading.Event()  # the lanes block on their first sample
    lanes, _ = open_lanes(1, log, gate=gate)
    lanes.lookahead = 0
    items = plan([2])
    lanes.start(items, lambda problem, executor: 3.0)
    try:
        while not log:
            time.sleep(0.01)
        here = Recorder(log)
        done = threading.Thread(target=lambda: lanes.results("item0", PROBLEM, ["i0s0", "i0s1"], here))
        done.start()
        while len(log) < 2:
            time.sleep(0.01)
        assert [c for name, c in log if not name.startswith("codex-lane")] == ["i0s1"]
        assert [c for name, c in log if name.startswith("codex-lane")] == ["i0s0"]
        gate.set()
        done.join(10)
        assert not done.is_alive()
    finally:
        gate.set()
        lanes.close()


def test_a_completion_other_than_planned_runs_here():
    log: list = []
    lanes, _ = open_lanes(1, log)
    lanes.start(plan([1]), lambda problem, executor: 3.0)
    try:
        here = Recorder(log)
        got = lanes.results("item0", PROBLEM, ["something else"], here)
        assert [r.output for r in got] == ["something else"]
        assert (threading.current_thread().name, "something else") in log
    finally:
        lanes.close()


def test_a_harness_error_in_a_lane_is_raised_in_the_item():
    log: list = []
    lanes, _ = open_lanes(2, log, fail="i1s0")
    items = plan([1, 1, 1])
    lanes.start(items, lambda problem, executor: 3.0)
    try:
        assert lanes.results("item0", PROBLEM, ["i0s0"], Recorder(log))[0].passed
        while not any(c == "i1s0" and name.startswith("codex-lane") for name, c in log):
            time.sleep(0.01)  # a lane ran it (here, it would pass)
        with pytest.raises(RuntimeError, match="harness error on i1s0"):
            lanes.results("item1", PROBLEM, ["i1s0"], Recorder(log))
        assert lanes.results("item2", PROBLEM, ["i2s0"], Recorder(log))[0].passed
    finally:
        lanes.close()


def test_close_ends_a_running_sample_and_closes_every_executor():
    log: list = []
    gate = threading.Event()  # never set: the sample would run for ever
    lanes, made = open_lanes(2, log, gate=gate)
    lanes.start(plan([1, 1]), lambda problem, executor: 3.0)
    while len(log) < 2:
        time.sleep(0.01)
    lanes.close()
    assert all(executor.interrupted.is_set() and executor.closed for executor in made)
    assert not any(thread.is_alive() for thread in lanes._threads)


def test_an_executor_that_cannot_open_is_raised_when_the_executors_are_asked_for():
    def open_executor(cpu):
        raise RuntimeError("no sandbox here")

    lanes = Lanes(open_executor, 2)
    with pytest.raises(RuntimeError, match="no sandbox here"):
        lanes.executors()
    lanes.close()


# -- the real executor's interrupt ------------------------------------------------------------


@pytest.fixture(scope="module")
def problem0() -> Problem:
    return load_suite("humaneval").by_id()["HumanEval/0"]


def test_interrupt_ends_a_running_sample_and_it_has_no_verdict(problem0):
    executor = SandboxExecutor()
    try:
        sleeper = "    import time\n    time.sleep(60)\n"
        outcome: list = []
        thread = threading.Thread(target=lambda: outcome.append(_run(executor, problem0, sleeper)))
        thread.start()
        deadline = time.monotonic() + 30
        while executor._live is None and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        executor.interrupt()
        thread.join(30)
        assert not thread.is_alive() and time.monotonic() - started < 20
        assert isinstance(outcome[0], Interrupted)
        # every later sample too, so a time-limit measurement is never taken from one
        limits = TimeLimits(floor=3.0, factor=10.0, override=None, cache_dir=None, suite_sha256="x")
        with pytest.raises(Interrupted):
            limits.limit(problem0, executor)
        assert limits.measured == {}
    finally:
        executor.close()


def test_without_interrupt_the_same_sample_gets_its_verdict(problem0):
    executor = SandboxExecutor()  # negative control of the test above
    try:
        result = executor.run(problem0, "    import time\n    time.sleep(60)\n", 1.0, wall_limit=1.0)
        assert result.verdict is Verdict.TIMEOUT
    finally:
        executor.close()


def _run(executor, problem, completion):
    try:
        return executor.run(problem, completion, 5.0)
    except Interrupted as exc:
        return exc


# -- through the plugin ------------------------------------------------------------------------


def test_the_header_names_the_lanes(project):
    result = project.runpytest_subprocess("--model=reference", "--codex-lanes=2", "-k", "HumanEval/0] or HumanEval/1]")
    header = next(ln for ln in result.outlines if ln.startswith("codex: executor"))
    assert "; lanes: 2 (samples run ahead of their items" in header
    result.assert_outcomes(passed=2)
    one = project.runpytest_subprocess("--model=reference", "--codex-lanes=1", "-k", "HumanEval/0]")
    header = next(ln for ln in one.outlines if ln.startswith("codex: executor"))
    assert "lanes" not in header  # one lane: the main thread, as before
    one.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--codex-lanes=0"], "--codex-lanes='0': must be at least 1"),
        (["--codex-lanes=two"], "--codex-lanes='two': not an integer"),
        (["-n", "2", "--codex-lanes=2"], "--codex-lanes=2 with -n/--tx: each xdist worker runs its samples one"),
    ],
)
def test_bad_lane_counts_are_usage_errors(project, args, message):
    result = project.runpytest_subprocess("--model=reference", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in usage_error(result)


def test_lanes_from_the_ini_file_under_xdist_are_a_note(project):
    project.makeini("[pytest]\ntestpaths = problems\ncodex_lanes = 3\n")
    result = project.runpytest_subprocess("--model=reference", "-n", "2", "-k", "HumanEval/0] or HumanEval/1]")
    result.assert_outcomes(passed=2)
    assert "codex: --codex-lanes=3 (ini) does not apply: each xdist worker is one lane" in result.stdout.str()


FAILING_COMPLETIONS = """
from pytest_codex.models.reference import ReferenceModel

_real = ReferenceModel.completions


def _completions(self, problem):
    if problem.task_id == "HumanEval/1":
        raise RuntimeError("the store cannot give HumanEval/1")
    return _real(self, problem)


ReferenceModel.completions = _completions
"""


@pytest.mark.parametrize("lanes", ["1", "2"])
def test_a_case_whose_completions_fail_is_an_error_of_its_item_with_or_without_lanes(project, lanes):
    """Planning the lanes reads every case's completions at collection; one that fails is not
    planned, and its item reports the error as it does without lanes (the run goes on)."""
    project.makeconftest(FAILING_COMPLETIONS)
    result = project.runpytest_subprocess(
        "--model=reference", f"--codex-lanes={lanes}", "-k", "HumanEval/0] or HumanEval/1] or HumanEval/2]"
    )
    result.assert_outcomes(passed=2, failed=1)
    assert "the store cannot give HumanEval/1" in result.stdout.str()
