"""The replay optimisation never changes a verdict: answers are used only for matching calls."""

from __future__ import annotations

import textwrap

import pytest

from pytest_codex.core.problems import Problem, load_suite
from pytest_codex.sandbox.executor import NO_REPLAY, make_executor
from pytest_codex.sandbox.replays import ReplayStore

from sandbox_support import ADD, CORRECT

HE = load_suite("humaneval").by_id()
CHAINED = Problem(
    task_id="test/chained",
    prompt="def step(n):\n",
    canonical_solution="    return n + 1\n",
    test=textwrap.dedent("""
                      def check(candidate):
                          x = candidate(0)
                          assert candidate(x) == 2
                          assert candidate(x + 1) == 3
                      """),
    entry_point="step",
)


@pytest.fixture
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def live_verdict(executor, problem, completion, limit=2.0):
    result, _ = executor._attempt(problem, completion, limit, [])
    return result.verdict, result.error_type, result.detail


@pytest.mark.parametrize(
    "completion",
    [
        "    return n + 1\n",  # matches the recorded calls all the way
        "    return n + 2\n",  # the second call's argument differs: live again
        "    return 1 if n == 0 else n + 1\n",  # same calls, same answers
        "    return 1 if n == 0 else 0\n",  # same first calls, a wrong answer
        "    raise ValueError(n)\n",
        "    import os\n    os._exit(0)\n",
    ],
)
def test_replayed_and_live_runs_give_the_same_verdict(executor, completion):
    assert executor.run(CHAINED, CHAINED.canonical_solution, 2.0).passed  # records the calls
    replayed = executor.run(CHAINED, completion, 2.0)
    live = live_verdict(executor, CHAINED, completion)
    assert (replayed.verdict, replayed.error_type) == live[:2]
    if replayed.verdict == "failed":
        assert replayed.detail == live[2]


def test_the_replay_comes_from_the_canonical_solution_and_outlives_a_differing_sample(executor):
    r = executor.run(CHAINED, "    return n + 2\n", 2.0)  # the first sample: calls recorded first
    assert r.verdict == "failed" and r.detail.startswith("candidate(2) returned 4\n")
    canonical = ['[["t",0],["d"]]', '[["t",1],["d"]]', '[["t",2],["d"]]']
    assert executor._replays[CHAINED] == canonical  # not the differing sample's calls
    assert executor._stable[CHAINED]  # the canonical solution's calls did not change: keep them
    assert executor.run(CHAINED, "    return n + 1\n", 2.0).passed


def test_random_tests_fall_back_to_live_calls(executor):
    problem = HE["HumanEval/38"]  # its tests draw unseeded random strings
    assert executor.run(problem, problem.canonical_solution, 5.0).passed
    assert executor.run(problem, problem.canonical_solution, 5.0).passed
    assert executor._replays[problem] is NO_REPLAY
    assert executor.run(problem, "    return s\n", 5.0).verdict == "failed"


def test_a_call_the_tests_never_make_cannot_change_the_verdict(executor):
    assert executor.run(ADD, CORRECT, 2.0).passed
    # The first answer is wrong, so the tests stop there; the replay goes on to call
    # add(-1, 1), which hangs or crashes, but that happens after the verdict.
    # (The trusted side still waits for every replayed answer before the tests run, so that
    # how fast it reads them says nothing about which are right: the hang costs time.)
    hangs = executor.run(ADD, "    if a == -1:\n        while True:\n            pass\n    return 0\n", 1.0)
    # never a pass; the CPU-time rule (issue 11) makes a sample that spent its CPU budget a
    # timeout even when the tests had already failed it
    assert hangs.verdict in ("failed", "timeout")
    crashes = executor.run(ADD, "    if a == -1:\n        import os\n        os._exit(3)\n    return 0\n", 2.0)
    assert crashes.verdict == "failed"
    # ... whereas a hang or crash on a call the tests do make is one.
    assert (
        executor.run(ADD, "    if a == -1:\n        while True:\n            pass\n    return a + b\n", 1.0).verdict
        == "timeout"
    )
    assert (
        executor.run(ADD, "    if a == -1:\n        import os\n        os._exit(3)\n    return a + b\n", 2.0).verdict
        == "crashed"
    )


# --- the recordings cached between sessions ---------------------------------------------


def test_recorded_calls_are_cached_between_sessions_per_problem(tmp_path, monkeypatch):
    import pytest_codex.sandbox.executor as executor_module

    recorded = []
    real = executor_module.record_calls
    monkeypatch.setattr(executor_module, "record_calls", lambda p: recorded.append(p.task_id) or real(p))
    first = make_executor(replays=ReplayStore(tmp_path))
    try:
        assert first.run(CHAINED, CHAINED.canonical_solution, 2.0).passed
    finally:
        first.close()  # saves the recording
    assert recorded == ["test/chained"]
    second = make_executor(replays=ReplayStore(tmp_path))
    try:
        assert second.run(CHAINED, CHAINED.canonical_solution, 2.0).passed
        assert recorded == ["test/chained"]  # from the cache: not recorded again
        edited = Problem(**{**CHAINED.__dict__, "test": CHAINED.test.replace("== 3", "== 3, 'edited'")})
        assert second.run(edited, CHAINED.canonical_solution, 2.0).passed
    finally:
        second.close()
    assert recorded == ["test/chained", "test/chained"]  # only the edited problem was recorded again


@pytest.mark.parametrize("shared", [True, False])
def test_the_executors_of_a_process_share_one_recording(tmp_path, monkeypatch, shared):
    """Lanes: the executors of one process share one store, so a problem is recorded once;
    negative control: executors with stores of their own each record it."""
    import pytest_codex.sandbox.executor as executor_module

    recorded = []
    real = executor_module.record_calls
    monkeypatch.setattr(executor_module, "record_calls", lambda p: recorded.append(p.task_id) or real(p))
    store = ReplayStore(tmp_path)
    executors = [make_executor(replays=store if shared else ReplayStore(tmp_path)) for _ in range(2)]
    try:
        for ex in executors:
            assert ex.run(CHAINED, CHAINED.canonical_solution, 2.0).passed
    finally:
        for ex in executors:
            ex.close()
    assert recorded == ["test/chained"] * (1 if shared else 2)


@pytest.mark.parametrize(
    "completion,verdict",
    [(CHAINED.canonical_solution, "passed"), ("    return n + 2\n", "failed"), ("    return 1\n", "failed")],
)
def test_a_tampered_cached_recording_changes_no_verdict(tmp_path, completion, verdict):
    """The cache is a hint: a recording whose calls the tests do not make is not used (the
    sample runs again, live); negative control: the true recording gives the same verdicts."""
    from pytest_codex.sandbox.judge import record_calls
    from pytest_codex.sandbox.wire import dumps, pack

    true = record_calls(CHAINED)
    assert true is not None and len(true) == 3
    for calls in (true, [dumps([pack((5,)), pack({})])], true[:1] + [dumps([pack((7,)), pack({})])]):
        store = ReplayStore(tmp_path)
        store.put(CHAINED, calls)
        store.save()
        ex = make_executor(replays=ReplayStore(tmp_path))
        try:
            result = ex.run(CHAINED, completion, 2.0)
            assert result.verdict == verdict, (calls, result.detail)
        finally:
            ex.close()


def test_a_damaged_cache_is_recorded_again(tmp_path):
    from pytest_codex.sandbox.replays import CACHE_NAME

    (tmp_path / CACHE_NAME).write_text('{"schema": 1, "entries": {')
    store = ReplayStore(tmp_path)
    assert store.get(CHAINED) is None
    store.put(CHAINED, ["[1]"])
    store.save()
    assert ReplayStore(tmp_path).get(CHAINED) == ["[1]"]
