"""Ranking heuristics: exact expectations, known answers from hand-made log-probs, the table."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.records import ProblemPayload
from pytest_codex.experiments.ranking import curve, docstring_and_code, pick_best_expectation, table_ms

# A model whose samples carry hand-made log-probs, registered through the model registry
# from the inner run's conftest.  Per problem: sample 0 is right, short and confident
# (best mean log-prob, worst sum); samples 1-3 are wrong, long and less confident per token
# (but with a higher sum).  So: mean log-prob always picks the right one once it is drawn,
# sum log-prob never does, random picks it 1 time in 4, the oracle as soon as it is drawn.
CONFTEST = """
from pytest_codex.models import NAMES
from pytest_codex.core.generation import Completion, ModelSource

RIGHT = {"HumanEval/0": "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\\n",
         "HumanEval/2": "    return number % 1.0\\n",
         "HumanEval/7": "    return [s for s in strings if substring in s]\\n"}

class HandMade(ModelSource):
    max_samples = 4

    def __init__(self, spec, context):
        self.spec = spec

    def completions(self, problem):
        right = Completion(RIGHT[problem.task_id], 0, sum_logprob=-4.0, mean_logprob=-0.5, num_tokens=8)
        wrong = [Completion("    return None\\n", i, sum_logprob=-3.0 + i * 0.1, mean_logprob=-1.0 - i, num_tokens=3)
                 for i in (1, 2, 3)]
        return [right] + wrong

    def manifest(self):
        return {"name": "handmade", "kind": "test"}

NAMES["handmade"] = "conftest:HandMade"
"""


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(CONFTEST)
    return project


def brute_force(passed, scores, m):
    """Enumerate the subsets; ties split evenly."""
    total = Fraction(0)
    subsets = list(itertools.combinations(range(len(passed)), m))
    for subset in subsets:
        best = max(scores[i] for i in subset)
        top = [i for i in subset if scores[i] == best]
        total += Fraction(sum(passed[i] for i in top), len(top))
    return total / len(subsets)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-3, 3)), min_size=1, max_size=7), st.data())
def test_exact_expectation_equals_enumerating_the_subsets(samples, data):
    passed, scores = [p for p, _ in samples], [float(s) for _, s in samples]
    m = data.draw(st.integers(1, len(samples)))
    assert pick_best_expectation(passed, scores, m) == brute_force(passed, scores, m)


def test_known_answers():
    passed, scores = [True, False, False, False], [0.9, 0.1, 0.2, 0.3]
    assert [pick_best_expectation(passed, scores, m) for m in (1, 2, 3, 4)] == [
        Fraction(1, 4),
        Fraction(1, 2),
        Fraction(3, 4),
        Fraction(1),
    ]
    assert [pick_best_expectation(passed, [-s for s in scores], m) for m in (1, 2, 4)] == [
        Fraction(1, 4),
        Fraction(0),
        Fraction(0),
    ]
    assert pick_best_expectation(passed, [1.0] * 4, 3) == Fraction(1, 4)  # all tied: random


def test_curves_and_a_heuristic_without_scores():
    problems = [
        ProblemPayload.from_json(
            {
                "task_id": f"t/{i}",
                "samples": [
                    {"index": 0, "verdict": first, "mean_logprob": -0.1},
                    {"index": 1, "verdict": "failed", "mean_logprob": -2.0},
                ],
            }
        )
        for i, first in enumerate(("passed", "failed"))
    ]
    assert curve("mean_logprob", problems, [1, 2]) == {1: 0.25, 2: 0.5}
    assert curve("random", problems, [1, 2]) == {1: 0.25, 2: 0.25}
    assert curve("oracle", problems, [1, 2]) == {1: 0.25, 2: 0.5}
    assert curve("sum_logprob", problems, [1, 2]) is None
    assert table_ms(200) == [1, 2, 5, 10, 20, 50, 100, 200] and table_ms(7) == [1, 2, 5, 7]


def test_backtranslation_splits_docstring_from_code():
    prompt = 'def f(x):\n    """Return x twice.\n    >>> f(1)\n    2\n    """\n'
    doc, code = docstring_and_code(prompt, "    return 2 * x\n", "f")
    assert doc == "Return x twice.\n>>> f(1)\n2" and code == "def f(x):\n    return 2 * x\n"
    assert docstring_and_code(prompt, "    return (\n", "f") is None


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ranking_table_with_hand_made_log_probs(project, tmp_path, workers):
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=handmade",
        "-n",
        workers,
        "-k",
        "HumanEval/0] or HumanEval/2] or HumanEval/7]",
        f"--codex-report={report}",
        f"--codex-plots={tmp_path}",
        "--codex-backtranslate",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*ranking heuristics*",
            "handmade: pass rate of the sample each heuristic picks from m drawn (n = 4)",
            "heuristic * m=1 * m=2 * m=4",
            "random (pass@1) * 0.25 * 0.25 * 0.25",
            "highest mean log-prob * 0.25 * 0.5 * 1.0",
            "highest sum log-prob * 0.25 * 0.0 * 0.0",
            "oracle (pass@m) * 0.25 * 0.5 * 1.0",
            "not available: back-translation*",
            "back-translation: handmade cannot score text*",
        ]
    )
    rec = json.loads(report.read_text())["experiments"]["ranking"]
    curves = rec["models"]["handmade"]["curves"]
    assert curves["mean_logprob"] == {"1": 0.25, "2": 0.5, "3": 0.75, "4": 1.0}
    assert curves["backtranslation"] is None
    assert ElementTree.parse(rec["plots"][0]).getroot().tag.endswith("svg")
