"""Ranking heuristics of the Codex paper (section 3.3, figure 7), computed exactly.

With ``n`` samples of a problem, draw ``m`` of them at random and keep the one a
heuristic scores highest; its pass rate, averaged over problems, is the heuristic's value
at ``m``.  The expectation over the ``C(n, m)`` subsets is exact: after sorting the samples
by score (best first), the sample in position ``r`` is the one kept with probability
``C(n-1-r, m-1) / C(n, m)``; samples with equal scores share their mean pass (ties are
broken at random).

* ``random``: the pass@1 estimate, ``c / n`` at every ``m``;
* ``mean_logprob`` / ``sum_logprob``: the sample's mean / total token log-probability;
* ``backtranslation``: the log-likelihood of the problem's docstring given the sample's
  code (needs a model that can score text, see ``backtranslation_scores``);
* ``oracle``: any of the ``m`` passes, i.e. pass@m.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from fractions import Fraction
from math import comb

from pytest_codex.core.generation import ModelSource, Scorer
from pytest_codex.core.passk import pass_at_k_exact
from pytest_codex.core.records import ProblemPayload, SampleRecord

HEURISTICS = ("random", "mean_logprob", "sum_logprob", "backtranslation", "oracle")
LABELS = {
    "random": "random (pass@1)",
    "mean_logprob": "highest mean log-prob",
    "sum_logprob": "highest sum log-prob",
    "backtranslation": "back-translation",
    "oracle": "oracle (pass@m)",
}


def pick_best_expectation(passed: Sequence[bool], scores: Sequence[float], m: int) -> Fraction:
    """Exact expected pass of the highest-scored of ``m`` samples drawn without replacement."""
    n = len(passed)
    if not 1 <= m <= n:
        raise ValueError(f"m={m} must be between 1 and n={n}")
    order = sorted(range(n), key=lambda i: -scores[i])
    value = [Fraction(int(passed[i])) for i in order]
    start = 0
    while start < n:  # tie groups share their mean pass
        end = start
        while end + 1 < n and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        mean = sum(value[start : end + 1], Fraction(0)) / (end - start + 1)
        value[start : end + 1] = [mean] * (end - start + 1)
        start = end + 1
    total = comb(n, m)
    return sum((v * comb(n - 1 - r, m - 1) for r, v in enumerate(value) if n - 1 - r >= m - 1), Fraction(0)) / total


def _scores(samples: Sequence[SampleRecord], key: str) -> list[float] | None:
    """The samples' scores; None when one lacks the key; a None value (unscorable) ranks last."""
    scores = [s.scores() for s in samples]
    if any(key not in sc for sc in scores):
        return None
    return [float("-inf") if (v := sc[key]) is None else float(v) for sc in scores]


def problem_value(heuristic: str, samples: Sequence[SampleRecord], m: int) -> Fraction | None:
    passed = [s.passed for s in samples]
    n, c = len(passed), sum(passed)
    if heuristic == "random":
        return Fraction(c, n)
    if heuristic == "oracle":
        return pass_at_k_exact(n, c, m)
    scores = _scores(samples, heuristic)
    return None if scores is None else pick_best_expectation(passed, scores, m)


def curve(heuristic: str, problems: Sequence[ProblemPayload], ms: Sequence[int]) -> dict[int, float] | None:
    """Mean over problems at each ``m``; None when a sample lacks the heuristic's score."""
    out = {}
    for m in ms:
        values = [problem_value(heuristic, p.samples, m) for p in problems]
        known = [v for v in values if v is not None]
        if len(known) < len(values):
            return None
        out[m] = float(sum(known, Fraction(0)) / len(known))
    return out


def table_ms(n: int) -> list[int]:
    return [m for m in (1, 2, 5, 10, 20, 50, 100, 200) if m < n] + [n]


# --- back-translation ------------------------------------------------------------------


def docstring_and_code(prompt: str, completion: str, entry_point: str) -> tuple[str, str] | None:
    """The entry point's docstring, and the program with that docstring removed."""
    program = prompt + completion
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point), None)
    doc = ast.get_docstring(fn) if fn is not None else None
    if fn is None or not doc:
        return None
    expr = fn.body[0]
    lines = program.splitlines(keepends=True)
    code = "".join(lines[: expr.lineno - 1] + lines[expr.end_lineno :])
    return doc, code


def backtranslation_prompt(code: str, entry_point: str) -> str:
    return f'{code.rstrip()}\n\n\n# The docstring of {entry_point} above:\n"""'


def backtranslation_scores(
    score: Callable[[list[tuple[str, str]]], list[float]], problems_by_id: dict, payloads: Sequence[ProblemPayload]
) -> int:
    """Set ``sample["backtranslation"]`` = log P(docstring | code) for every sample, with
    ``score([(context, continuation), ...]) -> [log-likelihood, ...]`` (a model hook).
    A sample whose program does not parse gets None (ranked last).  Returns the samples scored."""
    pairs, where = [], []
    for payload in payloads:
        problem = problems_by_id[payload.task_id]
        for sample in payload.samples:
            split = docstring_and_code(problem.prompt, sample.completion, problem.entry_point)
            if split is None:
                sample.ranking["backtranslation"] = None
                continue
            doc, code = split
            pairs.append((backtranslation_prompt(code, problem.entry_point), doc + '"""'))
            where.append(sample)
    for sample, value in zip(where, score(pairs) if pairs else []):
        sample.ranking["backtranslation"] = float(value)
    return len(where)


def scorer_for(model: ModelSource) -> Scorer | None:
    """The text-scoring hook of a model source (None if it cannot score text)."""
    return model.scorer()
