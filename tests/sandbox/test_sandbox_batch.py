"""The batch request: every input in one exchange, each answer judged by the trusted caller;
per-input CPU limits, the whole sample's CPU rlimit and the trusted wall-clock guard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core.verdicts import Verdict
from pytest_codex.sandbox import batch, child_batch, wire
from pytest_codex.sandbox.executor import make_executor


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def run(executor, program, inputs, limit=1.0, **kw):
    answers: list[batch.Answer] = []

    def keep(answer):
        answers.append(answer)
        return True

    job = batch.BatchJob(program, "f", batch.pack_inputs(inputs), tuple(limit for _ in inputs), **kw)
    return executor.run_batch(job, keep), answers


PROGRAM = (
    "def f(x, acc):\n"
    "    if x == 3:\n        while True:\n            pass\n"
    "    if x == 4:\n        raise ValueError('four')\n"
    "    if x == 5:\n        return object()\n"
    "    if x == 6:\n        return None\n"
    "    acc.append(x)\n"
    "    return [x] * 100\n"
)


def test_every_answer_kind_in_order(executor):
    result, answers = run(executor, PROGRAM, [[i, []] for i in range(8)], limit=0.3, want_args=True)
    assert result.verdict is None and result.answered == 8 and result.loaded
    kinds = [a.kind for a in answers]
    ok, timeout, raised, bad = (
        batch.AnswerKind.OK,
        batch.AnswerKind.TIMEOUT,
        batch.AnswerKind.RAISED,
        batch.AnswerKind.BAD,
    )
    assert kinds == [ok, ok, ok, timeout, raised, bad, ok, ok]
    assert answers[6].value is None and answers[7].value == [7] * 100
    assert answers[2].value == [2] * 100 and answers[2].args_after == [2, [2]]
    assert answers[4].error_type == "ValueError" and answers[4].message == "four"
    assert answers[3].cpu >= 0.3


def test_the_caller_stops_the_exchange(executor):
    seen = []

    def first_two(answer):
        seen.append(answer.index)
        return answer.index < 1

    job = batch.BatchJob("def f(x):\n    return x\n", "f", batch.pack_inputs([[i] for i in range(50)]), (1.0,) * 50)
    result = executor.run_batch(job, first_two)
    assert result.stopped and result.answered == 2 and seen == [0, 1]


@pytest.mark.parametrize(
    "program,verdict",
    [
        ("def f(x:\n", Verdict.SYNTAX_ERROR),
        ("raise KeyError('at import')\n", Verdict.ERROR),
        ("g = 1\n", Verdict.ERROR),  # no function f
    ],
)
def test_a_program_that_does_not_load(executor, program, verdict):
    result, answers = run(executor, program, [[1]])
    assert result.verdict == verdict and not result.loaded and answers == []


def test_a_swallowed_timer_still_ends_in_a_timeout(executor):
    """The kernel's CPU rlimit of the whole sample (2 s here) or, on a busy machine, the wall
    guard (4 x 0.2 + 2 s), whichever comes first."""
    program = (
        "import signal\ndef f(x):\n    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n    while True:\n        pass\n"
    )
    result, answers = run(executor, program, [[1]], limit=0.2)
    assert result.verdict == Verdict.TIMEOUT and answers == []
    detail = result.detail or ""
    assert "CPU time limit of the whole sample (2 s)" in detail or "wall-clock guard" in detail, detail


def test_a_sample_that_sleeps_meets_the_wall_clock_guard(executor):
    """Sleeping uses no CPU: neither the timer nor the rlimit fires; the trusted side's
    per-input guard (4 x the limit + 2 s) ends it."""
    result, _ = run(executor, "import time\ndef f(x):\n    time.sleep(60)\n", [[1]], limit=0.1)
    assert result.verdict == Verdict.TIMEOUT and "wall-clock guard" in (result.detail or "")
    assert result.duration < 30


def test_a_reported_time_past_the_limit_is_a_timeout(executor):
    """Answers are checked against their limit with the CPU time the sample reports (here the
    program forges its answers with a huge time: a timeout, not a pass)."""
    forge = (
        "import json, os, struct\n"
        "def _frame(obj):\n    body = json.dumps(obj).encode()\n    return struct.pack('>I', len(body)) + body\n"
        "os.write(3, _frame(['ready']) + _frame(['ok', 99.0, None, False]) + _frame(1))\n"
        "def f(x):\n    return x\n"
    )
    _, answers = run(executor, forge, [[1]])
    assert answers[0].kind is batch.AnswerKind.TIMEOUT


def test_a_malformed_answer_is_a_protocol_error(executor):
    forge = (
        "import os, struct\n"
        "body = b'[\"ready\"]'\n"
        "os.write(3, struct.pack('>I', len(body)) + body + struct.pack('>I', 7) + b'[\"ok\",1]')\n"
        "def f(x):\n    return x\n"
    )
    result, answers = run(executor, forge, [[1]])
    assert result.verdict == Verdict.ERROR and result.error_type == "ProtocolError" and answers == []


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**10_990, max_value=2**13_000),
    st.floats(),
    st.text(),
)


@given(st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), min_size=0, max_size=200))
def test_the_fast_paths_agree_with_the_wire_format(values):
    packed = child_batch.pack(values)
    assert packed == wire.pack(values)
    again = batch.unpack_value(wire.loads(wire.dumps(packed).encode()))
    expected = wire.unpack(wire.loads(wire.dumps(wire.pack(values)).encode()))
    assert repr(again) == repr(expected) and type(again) is list
