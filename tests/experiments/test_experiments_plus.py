"""Plus tests: generated inputs never fail a canonical solution, catch planted wrong
completions the base tests miss, are stored and reused, and keep the examples' invariants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_codex.core.problems import Problem, load_suite
from pytest_codex.experiments.drawing import draw_examples
from pytest_codex.experiments.plus_inputs import arguments_strategy, equal_length_args, signature
from pytest_codex.experiments.plus_oracle import Oracle, OracleJob

HUMANEVAL = load_suite("humaneval").by_id()

# Wrong completions that pass HumanEval's base tests.
PLANTED = {
    "HumanEval/23": "    return min(len(string), 9)\n",  # strlen capped at the longest base example
    "HumanEval/55": "    return [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144][n]\n",  # fib memorised
    "HumanEval/60": "    return {1: 1, 6: 21, 11: 66, 30: 465, 100: 5050}[n]\n",  # sum_to_n memorised
}


def plus_of(report: Path) -> dict:
    return json.loads(report.read_text())["experiments"]["plus"]


def test_canonical_solutions_pass_every_generated_test_and_a_rerun_reuses_them(project, tmp_path):
    """The property over all 164 problems (under xdist: the controller draws, workers read
    the store); then a single-process rerun of a few problems uses the stored tests."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    result = project.runpytest_subprocess(
        "--model=reference", "--codex-plus", "--codex-plus-inputs=10", "-n", "2", f"--codex-report={first}"
    )
    result.assert_outcomes(passed=164)
    run = json.loads(first.read_text())["runs"][0]
    verdicts = {s["plus_verdict"] for p in run["problems"] for s in p["samples"]}
    assert verdicts == {"passed"}
    plus = plus_of(first)
    assert plus["models"]["reference"]["pass_at_k_plus"] == {"1": 1.0}
    assert plus["tests"] >= 164 * 5, plus["tests"]
    assert sum(1 for t in plus["tests_by_problem"].values() if t["cases"]) >= 160
    store = Path(plus["file"])
    assert store.is_file() and store.parent == project.path / ".codex" / "plus"
    before = store.read_bytes()
    result.stdout.fnmatch_lines(["*base vs plus tests*", "reference * 164 * 1.0 -> 1.0 * 0"])

    again = project.runpytest_subprocess(
        "--model=reference",
        "--codex-plus",
        "--codex-plus-inputs=10",
        "-k",
        "HumanEval/32] or HumanEval/144]",
        f"--codex-report={second}",
    )
    again.assert_outcomes(passed=2, deselected=162)
    assert store.read_bytes() == before
    reused = plus_of(second)["tests_by_problem"]
    assert reused == {t: plus["tests_by_problem"][t] for t in ("HumanEval/32", "HumanEval/144")}
    assert reused["HumanEval/32"]["relation"] == "poly_zero"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_planted_wrong_completions_pass_base_and_fail_plus(project, tmp_path, workers):
    samples = tmp_path / "planted.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in PLANTED.items()))
    report = tmp_path / "r.json"
    select = " or ".join(f"{t}]" for t in PLANTED)
    result = project.runpytest_subprocess(
        f"--model=samples:{samples}",
        "--model=reference",
        "--codex-plus",
        "-n",
        workers,
        "-k",
        select,
        f"--codex-report={report}",
    )
    result.assert_outcomes(passed=6)  # base tests: all pass
    planted = next(r for r in json.loads(report.read_text())["runs"] if r["label"] == "samples:planted")
    for p in planted["problems"]:
        s = p["samples"][0]
        assert s["verdict"] == "passed" and s["plus_verdict"] in ("failed", "error"), (p["task_id"], s)
    plus = plus_of(report)["models"]
    assert sorted(plus["samples:planted"]["caught"]) == sorted(PLANTED)
    assert plus["samples:planted"]["pass_at_k_base"] == {"1": 1.0}
    assert plus["samples:planted"]["pass_at_k_plus"] == {"1": 0.0}
    assert plus["reference"]["pass_at_k_plus"] == {"1": 1.0}
    result.stdout.fnmatch_lines(["samples:planted * 3 * 1.0 -> 0.0 * 3 (HumanEval/23, HumanEval/55, HumanEval/60)"])


def test_a_damaged_store_is_a_one_line_error(project):
    store = project.path / ".codex" / "plus"
    store.mkdir(parents=True)
    sha = load_suite("humaneval").sha256
    damaged = json.dumps({"schema": 1, "suite_sha256": sha, "problems": {"HumanEval/0": {}}})
    (store / f"humaneval-{sha[:12]}-seed0-n30-v1.json").write_text(damaged)
    result = project.runpytest_subprocess("--model=reference", "--codex-plus", "-k", "HumanEval/0]")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "lacks the field 'cases'; delete it to draw the tests again" in out and "Traceback" not in out


def test_bad_plus_options_are_usage_errors(project):
    result = project.runpytest_subprocess("--model=reference", "--codex-plus", "--codex-plus-inputs=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--codex-plus-inputs='0': must be at least 1" in result.stderr.str()


def test_signature_examples_come_from_the_tests_and_the_doctests():
    sig = signature(HUMANEVAL["HumanEval/32"])  # no literal call in the test: the doctest's
    assert sig.names == ("xs",) and ([1, 2],) in sig.examples and ([-6, 11, -6, 1],) in sig.examples
    sig = signature(HUMANEVAL["HumanEval/11"])
    assert sig.hints == ("str", "str") and ("010", "110") in sig.examples
    assert equal_length_args(sig) == (0, 1)


def draws(task_id: str, count: int = 40, seed: int = 1) -> list[tuple]:
    sig = signature(HUMANEVAL[task_id])
    return draw_examples(lambda s: arguments_strategy(s, sig), count, seed)


def test_drawn_inputs_keep_the_invariants_of_the_examples():
    assert all(len(a) == len(b) and set(a + b) <= set("01") for a, b in draws("HumanEval/11"))
    assert all(re.fullmatch(r"\d+/\d+", x) and re.fullmatch(r"\d+/\d+", n) for x, n in draws("HumanEval/144"))
    fruit = draws("HumanEval/67")
    assert all(re.fullmatch(r"\d+ apples and \d+ oranges", s) and isinstance(n, int) for s, n in fruit)
    assert all(n >= 1 for (n,) in draws("HumanEval/55"))  # every example is positive
    words = [s for (s,) in draws("HumanEval/125")]
    assert any(" " in s for s in words)
    assert all(isinstance(s, str) or s == [] for (s,) in draws("HumanEval/78"))  # its one list example is []
    assert len({repr(d) for d in draws("HumanEval/0")}) == 40


def test_draws_are_deterministic_per_seed():
    assert draws("HumanEval/0", seed=3) == draws("HumanEval/0", seed=3)
    assert draws("HumanEval/0", seed=3) != draws("HumanEval/0", seed=4)


def test_every_problem_gets_a_strategy_of_its_arity():
    for task_id, problem in HUMANEVAL.items():
        sig = signature(problem)
        got = draws(task_id, count=3)
        assert got and all(len(args) == len(sig.names) for args in got), task_id


def test_oracle_keeps_outputs_and_drops_what_the_canonical_rejects():
    program = (
        "import os, time\n"
        "def f(x):\n"
        "    if x == 1:\n        raise ValueError('no')\n"
        "    if x == 2:\n        time.sleep(30)\n"
        "    if x == 3:\n        os._exit(1)\n"
        "    if x == 4:\n        return object()\n"
        "    return [x, x / 2]\n"
    )
    oracle = Oracle(per_input_limit=0.5)
    try:
        res = oracle.run(OracleJob("t", program, "f", [repr((x,)) for x in range(7)]))
        again = oracle.run(OracleJob("t2", "def g(s):\n    return s[::-1]\n", "g", ["('abc',)"]))
    finally:
        oracle.close()
    assert res.outputs == {0: "[0, 0.0]", 5: "[5, 2.5]", 6: "[6, 3.0]"}
    assert res.dropped == {
        "raised ValueError": 1,
        "timeout": 1,
        "died or hung": 1,
        "unrepresentable or relation failed": 1,
    }
    assert again.outputs == {0: "'cba'"}  # the restarted child goes on with the next job


def test_the_synthesized_problem_runs_through_the_executor():
    from pytest_codex.experiments.plus import PlusProblem, plus_problem
    from pytest_codex.sandbox.executor import make_executor

    problem = Problem("t/0", "def f(x):\n", "    return x * 2.0\n", "def check(candidate):\n    pass\n", "f")
    pp = PlusProblem("t/0", cases=[("(1,)", "2.0"), ("(0.1,)", "0.2")])
    synth = plus_problem(problem, pp)
    executor = make_executor()
    try:
        assert executor.run(synth, "    return x * 2.0000000001\n", 5).passed  # float tolerance
        wrong = executor.run(synth, "    return 2.0\n", 5)
    finally:
        executor.close()
    assert wrong.verdict == "failed" and "plus input (0.1,)" in (wrong.detail or "")
