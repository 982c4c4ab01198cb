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
from fractions import Fraction
from math import comb
from typing import Callable, Sequence

from .passk import pass_at_k_exact

HEURISTICS = ("random", "mean_logprob", "sum_logprob", "backtranslation", "oracle")
LABELS = {"random": "random (pass@1)", "mean_logprob": "highest mean log-prob",
          "sum_logprob": "highest sum log-prob", "backtranslation": "back-translation",
          "oracle": "oracle (pass@m)"}


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
        mean = sum(value[start:end + 1], Fraction(0)) / (end - start + 1)
        value[start:end + 1] = [mean] * (end - start + 1)
        start = end + 1
    total = comb(n, m)
    return sum((v * comb(n - 1 - r, m - 1) for r, v in enumerate(value) if n - 1 - r >= m - 1),
               Fraction(0)) / total


def _scores(samples: Sequence[dict], key: str) -> list[float] | None:
    """The samples' scores; None when one lacks the key; a None value (unscorable) ranks last."""
    if any(key not in s for s in samples):
        return None
    return [float("-inf") if s[key] is None else float(s[key]) for s in samples]


def problem_value(heuristic: str, samples: Sequence[dict], m: int) -> Fraction | None:
    passed = [s["verdict"] == "passed" for s in samples]
    n, c = len(passed), sum(passed)
    if heuristic == "random":
        return Fraction(c, n)
    if heuristic == "oracle":
        return pass_at_k_exact(n, c, m)
    scores = _scores(samples, heuristic)
    return None if scores is None else pick_best_expectation(passed, scores, m)


def curve(heuristic: str, problems: Sequence[dict], ms: Sequence[int]) -> dict[int, float] | None:
    """Mean over problems at each ``m``; None when a sample lacks the heuristic's score."""
    out = {}
    for m in ms:
        values = [problem_value(heuristic, p["samples"], m) for p in problems]
        if any(v is None for v in values):
            return None
        out[m] = float(sum(values, Fraction(0)) / len(values))
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
    if not doc:
        return None
    expr = fn.body[0]
    lines = program.splitlines(keepends=True)
    code = "".join(lines[:expr.lineno - 1] + lines[expr.end_lineno:])
    return doc, code


def backtranslation_prompt(code: str, entry_point: str) -> str:
    return f'{code.rstrip()}\n\n\n# The docstring of {entry_point} above:\n"""'


def backtranslation_scores(score: Callable[[list[tuple[str, str]]], list[float]], problems_by_id: dict,
                           payloads: Sequence[dict]) -> int:
    """Set ``sample["backtranslation"]`` = log P(docstring | code) for every sample, with
    ``score([(context, continuation), ...]) -> [log-likelihood, ...]`` (a model hook).
    A sample whose program does not parse gets None (ranked last).  Returns the samples scored."""
    pairs, where = [], []
    for payload in payloads:
        problem = problems_by_id[payload["task_id"]]
        for sample in payload["samples"]:
            split = docstring_and_code(problem.prompt, sample.get("completion", ""), problem.entry_point)
            if split is None:
                sample["backtranslation"] = None
                continue
            doc, code = split
            pairs.append((backtranslation_prompt(code, problem.entry_point), doc + '"""'))
            where.append(sample)
    for sample, value in zip(where, score(pairs) if pairs else []):
        sample["backtranslation"] = float(value)
    return len(where)


def causal_lm_loglikelihoods(generator, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """log P(continuation | context) under a transformers causal LM (a generator with
    ``load()``, ``model`` and ``tokenizer``); context and continuation are tokenized apart,
    and the context is cut from the left to fit the model's positions."""
    import torch

    generator.load()
    model, tok = generator.model, generator.tokenizer
    limit = getattr(model.config, "max_position_embeddings", None) or 4096
    out = []
    with torch.inference_mode():
        for context, continuation in pairs:
            ctx = tok(context)["input_ids"]
            cont = tok(continuation, add_special_tokens=False)["input_ids"][: limit - 1]
            ctx = ctx[max(0, len(ctx) + len(cont) - limit):] or [tok.eos_token_id or 0]
            ids = torch.tensor([ctx + cont], device=model.device)
            logprobs = torch.log_softmax(model(ids).logits[0, len(ctx) - 1:-1].float(), dim=-1)
            out.append(float(logprobs.gather(1, ids[0, len(ctx):, None]).sum()))
    return out


def scorer_for(model) -> Callable[[list[tuple[str, str]]], list[float]] | None:
    """The text-scoring hook of a model source: its own ``loglikelihoods``, its generator's, or
    a transformers causal LM behind its generator; None if it cannot score text."""
    generator = getattr(model, "generator", None)
    for owner in (model, generator):
        hook = getattr(owner, "loglikelihoods", None)
        if callable(hook):
            return hook
    if generator is not None and all(hasattr(generator, a) for a in ("load", "model", "tokenizer")):
        return lambda pairs: causal_lm_loglikelihoods(generator, pairs)
    return None
