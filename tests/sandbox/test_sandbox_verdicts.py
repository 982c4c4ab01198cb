"""Verdicts are decided by the trusted side: each one, its detail, and the proxy's semantics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pytest_codex.core.problems import Problem, load_suite
from pytest_codex.core.verdicts import VERDICTS
from pytest_codex.sandbox.executor import make_executor

from sandbox_support import ADD, CORRECT
from support import HE_EXAMPLE_PROBLEM, HE_EXAMPLE_SAMPLES

SUITE = load_suite("humaneval")
HE = SUITE.by_id()

# openai/human-eval's own example (data/example_problem.jsonl, example_samples.jsonl) and the
# verdicts its harness gives: failed, timed out, failed, passed, passed, passed (pass@1 = 0.5).
HE_EXAMPLE = Problem(**HE_EXAMPLE_PROBLEM)


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def problem(prompt: str, test: str, entry: str, canonical: str = "    pass\n") -> Problem:
    return Problem(
        task_id=f"test/{entry}",
        prompt=prompt,
        canonical_solution=canonical,
        test=textwrap.dedent(test),
        entry_point=entry,
    )


def test_canonical_solutions_pass_all_164_through_the_proxy(executor):
    failures = [(p.task_id, r) for p in SUITE.problems if not (r := executor.run(p, p.canonical_solution, 10.0)).passed]
    assert failures == []


def test_human_eval_example_gets_human_evals_verdicts(executor):
    # human-eval's limit is 3 s of wall-clock time; here 0.5 s of CPU time, so the sample that
    # sleeps 10 s (using no CPU) is ended by the wall-clock guard, 10 x 0.5 s
    results = [executor.run(HE_EXAMPLE, c, 0.5) for c in HE_EXAMPLE_SAMPLES]
    verdicts = [r.verdict for r in results]
    assert verdicts[1] == "timeout" and verdicts[3:] == ["passed"] * 3
    assert verdicts[0] not in ("passed", "timeout") and verdicts[2] not in ("passed", "timeout")
    assert results[0].error_type == "PermissionError"  # it runs a program: seccomp refuses execve
    assert results[2].error_type == "EOFError"  # stdin is closed


def test_a_failed_assertion_shows_the_call_the_value_and_the_assertion(executor):
    r = executor.run(HE["HumanEval/0"], "    return True\n", 3.0)
    assert r.verdict == "failed" and r.error_type == "AssertionError"
    assert r.detail == (
        "candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) returned True\n"
        "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False"
    )


def test_an_exception_is_an_error_with_its_type_and_call(executor):
    r = executor.run(ADD, "    return a / 0\n", 3.0)
    assert (r.verdict, r.error_type) == ("error", "ZeroDivisionError")
    assert r.detail == "candidate(2, 3) raised ZeroDivisionError: division by zero"
    r = executor.run(ADD, "    return a + b\nundefined_name\n", 3.0)
    assert (r.verdict, r.error_type) == ("error", "NameError") and "while loading" in r.detail
    r = executor.run(ADD, "    return a + b\ndel add\n", 3.0)
    assert (r.verdict, r.error_type) == ("error", "NameError")


def test_syntax_error(executor):
    r = executor.run(ADD, "    return (a +\n", 3.0)
    assert (r.verdict, r.error_type) == ("syntax_error", "SyntaxError")
    r = executor.run(ADD, "  return a\n    return b\n", 3.0)
    assert (r.verdict, r.error_type) == ("syntax_error", "IndentationError")
    assert executor.run(ADD, "    return a\0\n", 3.0).verdict == "syntax_error"


def test_a_crash_is_not_a_timeout(executor):
    segv = executor.run(ADD, "    import ctypes\n    return ctypes.string_at(0)\n", 30.0)
    assert segv.verdict == "crashed" and "SIGSEGV" in segv.detail and segv.duration < 10
    early = executor.run(ADD, "    import os\n    os._exit(0)\n", 30.0)
    assert early.verdict == "crashed" and "exited with status 0 before the tests finished" in early.detail
    slow = executor.run(ADD, "    import time\n    time.sleep(60)\n", 0.5)
    assert slow.verdict == "timeout" and slow.duration < 30 and "wall-clock guard (5 s)" in slow.detail


def test_cpu_time_limit_is_a_timeout(executor):
    # Threads burn CPU faster than the wall clock: RLIMIT_CPU (the limit rounded up) fires first.
    body = (
        "    import threading\n    def spin():\n        while True:\n            pass\n"
        "    for _ in range(4):\n        threading.Thread(target=spin, daemon=True).start()\n    spin()\n"
    )
    r = executor.run(ADD, body, 3.0)
    assert r.verdict == "timeout", r


def test_every_result_is_one_known_verdict_with_its_limit(executor):
    r = executor.run(ADD, CORRECT, 2.5)
    assert r.verdict in VERDICTS and r.time_limit == 2.5 and r.to_json()["time_limit"] == 2.5


def test_output_is_captured_and_capped(executor):
    r = executor.run(ADD, "    print('hello from', a)\n    return a + b\n", 3.0)
    assert r.passed and r.output.splitlines() == ["hello from 2", "hello from -1", "hello from 10"]
    r = executor.run(ADD, "    print('y' * 100000)\n    return a + b\n", 3.0)
    assert r.passed and len(r.output) < 4200 and "earlier bytes not kept" in r.output


MUTATE = problem(
    "def sort_in_place(xs):\n",
    """
    def check(candidate):
        xs = [3, 1, 2]
        assert candidate(xs) is None
        assert xs == [1, 2, 3]
        d = {"a": 1}
        candidate(d)
        assert d == {"a": 1, "seen": True}
    """,
    "sort_in_place",
)


def test_mutated_arguments_are_visible_to_the_tests(executor):
    body = "    if isinstance(xs, dict):\n        xs['seen'] = True\n    else:\n        xs.sort()\n"
    assert executor.run(MUTATE, body, 3.0).passed
    r = executor.run(MUTATE, "    sorted(xs)\n", 3.0)  # does not mutate
    assert r.verdict == "failed" and "assert xs == [1, 2, 3]" in r.detail


EXPECTS_VALUE_ERROR = problem(
    "def parse(s):\n",
    """
    def check(candidate):
        try:
            candidate("x")
        except ValueError:
            pass
        else:
            assert False, "no ValueError"
        assert candidate("3") == 3
    """,
    "parse",
)


def test_the_candidates_builtin_exceptions_can_be_caught_by_the_tests(executor):
    assert executor.run(EXPECTS_VALUE_ERROR, "    return int(s)\n", 3.0).passed
    r = executor.run(EXPECTS_VALUE_ERROR, "    raise TypeError('no')\n", 3.0)
    assert (r.verdict, r.error_type) == ("error", "TypeError")


SWALLOWS = problem(
    "def f(x):\n",
    """
    def check(candidate):
        try:
            candidate(1)
        except BaseException:
            pass
    """,
    "f",
)


def test_a_test_that_swallows_everything_cannot_swallow_a_timeout_or_crash(executor):
    assert executor.run(SWALLOWS, "    import time\n    time.sleep(60)\n", 0.5).verdict == "timeout"
    assert executor.run(SWALLOWS, "    import os\n    os.abort()\n", 3.0).verdict == "crashed"
    assert executor.run(SWALLOWS, "    return x\n", 3.0).passed


def test_helpers_in_the_tests_come_from_the_prompt_not_the_completion(executor):
    # human-eval would run its tests against the completion's own encode_cyclic (identity here),
    # so this wrong decode_cyclic would pass there.
    cheat = "    return s\n\n\ndef encode_cyclic(s):\n    return s\n"
    assert executor.run(HE["HumanEval/38"], cheat, 3.0).verdict == "failed"
    assert executor.run(HE["HumanEval/38"], HE["HumanEval/38"].canonical_solution, 3.0).passed


def test_an_argument_that_cannot_be_sent_is_a_harness_error(executor):
    callback = problem(
        "def apply(f, x):\n",
        """
        def check(candidate):
            assert candidate(abs, -1) == 1
        """,
        "apply",
    )
    from pytest_codex.sandbox.judge import UnproxiableArgument

    with pytest.raises(UnproxiableArgument, match="candidate.*builtin_function_or_method"):
        executor.run(callback, "    return f(x)\n", 3.0)
    assert executor.run(ADD, CORRECT, 3.0).passed  # and the executor carries on


def test_asserts_are_kept_when_the_trusted_process_runs_optimized(tmp_path):
    script = textwrap.dedent("""
        import json, sys
        from pytest_codex.sandbox.executor import make_executor
        from pytest_codex.core.problems import load_suite
        p = load_suite().by_id()["HumanEval/0"]
        ex = make_executor()
        try:
            print(json.dumps([sys.flags.optimize, ex.run(p, "    return True\\n", 5.0).verdict,
                              ex.run(p, p.canonical_solution, 5.0).verdict]))
        finally:
            ex.close()
    """)
    for flags, env in ((["-O"], {}), (["-OO"], {}), ([], {"PYTHONOPTIMIZE": "2"})):
        out = subprocess.run(
            [sys.executable, *flags, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
        )
        optimize, wrong, right = json.loads(out.stdout.strip().splitlines()[-1])
        assert optimize >= 1 and (wrong, right) == ("failed", "passed"), out.stderr
