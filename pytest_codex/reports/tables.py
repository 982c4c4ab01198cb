"""Rendering of per-model results: plain-text tables (terminal) and markdown (files).

One set of row builders serves the terminal summary and the ``pytest-codex`` command
line: ``pass_at_k_rows`` (the pass@k table with 95% intervals and verdict counts) and
``comparison_rows`` (paired differences); ``text_table`` / ``markdown_table`` lay them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_codex.core.verdicts import VERDICTS
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.stats import LEVEL, METHOD, PairedDiff, pass_at_k_intervals

CI_HEADER = f"{LEVEL:.0%} CI"


SIGNIFICANT = 4  # the one precision rule: pass@k, intervals, differences, p-values, badges, markdown


def fmt_rate(x: float | None) -> str:
    """``x`` to 4 significant digits, never in exponent notation, trailing zeros dropped (at
    least one decimal): 0.05488, 0.2881, 0.5, 1.0, 0.0."""
    if x is None:
        return "—"
    if x == 0 or not math.isfinite(x):
        return "0.0" if x == 0 else str(x)
    decimals = max(1, SIGNIFICANT - 1 - math.floor(math.log10(abs(x))))
    s = f"{x:.{decimals}f}".rstrip("0")
    s = s + "0" if s.endswith(".") else s
    return "0.0" if s == "-0.0" else s


def fmt_signed(x: float) -> str:
    s = fmt_rate(abs(x))
    return s if s == "0.0" else ("-" if x < 0 else "+") + s


def fmt_interval(ci: tuple[float, float] | None, signed: bool = False) -> str:
    if ci is None:
        return "—"
    f = fmt_signed if signed else fmt_rate
    return f"[{f(ci[0])}, {f(ci[1])}]"


def fmt_p(p: float) -> str:
    return "<0.0001" if p < 0.0001 else fmt_rate(p)


def _samples_per_problem(r: ModelResult) -> str:
    counts = r.sample_counts
    if not counts:
        return "0"
    lo, hi = min(counts), max(counts)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> list[str]:
    """Fixed-layout text table: the ``left`` columns left-aligned, the others right-aligned."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> list[str]:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---" if i in left else "---:" for i in range(len(headers))]
    return [line(headers), "|" + "|".join(align) + "|"] + [line(r) for r in rows]


def pass_at_k_rows(results: Sequence[ModelResult], ks: Sequence[int]):
    """(pass@k headers, verdict headers, rows as (pass@k cells, verdict cells), notes).
    When a result is partial, a ``coverage`` column follows the pass@k cells ("partial: N of
    M problems"), so the figure is never shown without it."""
    headers = ["model", "problems", "n"]
    plus = any(r.pass_at_k_plus is not None for r in results)  # EvalPlus's format: base and plus side by side
    for k in ks:
        headers += [f"pass@{k}", CI_HEADER] + ([f"plus@{k}", CI_HEADER] if plus else [])
    any_partial = any(r.partial for r in results)
    if any_partial:
        headers.append("coverage")
    rows: list[tuple[list[str], list[str]]] = []
    notes: list[str] = []
    for r in results:
        cells = [r.label, str(len(r.problems)), _samples_per_problem(r)]
        intervals = pass_at_k_intervals(r.problems, ks)
        plus_intervals = pass_at_k_intervals(r.plus_problems(), ks) if r.pass_at_k_plus is not None else {}
        for k in ks:
            cell = fmt_rate(r.pass_at_k.get(k))
            if r.pass_at_k.get(k) is None:
                notes.append(f"[{len(notes) + 1}] {r.label} pass@{k}: {r.k_reasons.get(k, 'not computed')}")
                cell += f" [{len(notes)}]"
            cells += [cell, fmt_interval(intervals.get(k))]
            if plus:
                value = r.pass_at_k_plus.get(k) if r.pass_at_k_plus is not None else None
                cells += [fmt_rate(value), fmt_interval(plus_intervals.get(k))]
        if any_partial:
            cells.append(r.coverage.short())
        rows.append((cells, [str(r.verdicts.get(v, 0)) for v in VERDICTS]))
    if plus:
        notes.append(PLUS_NOTE)
    return headers, list(VERDICTS), rows, notes


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    groups: Sequence[Sequence[int]],
    left: Sequence[int] = (0,),
) -> list[str]:
    """``text_table``, split into several tables when wider than ``width``: each repeats the
    columns of ``groups[0]`` (the model) and takes as many of the other groups (columns that
    belong together, such as pass@k and its interval) as fit."""
    whole = text_table(headers, rows, left)
    if width is None or max(len(line) for line in whole) <= width:
        return whole
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def span(cols: Sequence[int]) -> int:
        return sum(widths[c] for c in cols) + 2 * (len(cols) - 1)

    parts: list[list[int]] = []
    current: list[int] = []
    for group in groups[1:]:
        if current and span([*groups[0], *current, *group]) > width:
            parts.append(current)
            current = []
        current += group
    parts.append(current)
    out: list[str] = []
    for cols in parts:
        chosen = [*groups[0], *cols]
        out += [""] if out else []
        aligned = [i for i, c in enumerate(chosen) if c in left]
        out += text_table([headers[c] for c in chosen], [[r[c] for c in chosen] for r in rows], aligned)
    return out


PLUS_NOTE = (
    "pass@k: on the base inputs (HumanEval's tests); plus@k: on base and plus inputs (HumanEval+, EvalPlus's rules)"
)


def render_table(results: Sequence[ModelResult], ks: Sequence[int], width: int | None = None) -> list[str]:
    """The pass@k table; verdict counts in the same rows, or in a second table when the
    one-table layout would be wider than ``width`` characters (the terminal's, which follows
    ``COLUMNS``); a table still too wide splits its columns further, the model column repeated
    (a pass@k stays beside its interval; the coverage column goes last)."""
    headers, vheaders, rows, notes = pass_at_k_rows(results, ks)
    out = text_table(headers + vheaders, [a + b for a, b in rows])
    if width is not None and max(len(line) for line in out) > width:
        coverage = headers[-1] == "coverage"
        last = len(headers) - 1 if coverage else len(headers)
        groups = [[0], [1, 2], *[[i, i + 1] for i in range(3, last, 2)]] + ([[last]] if coverage else [])
        left = (0, last) if coverage else (0,)
        out = fit_table(headers, [a for a, _ in rows], width, groups, left) + [""]
        vgroups = [[0], *([i] for i in range(1, len(vheaders) + 1))]
        out += fit_table(["verdicts"] + vheaders, [[a[0]] + b for a, b in rows], width, vgroups)
    return out + notes


def render_markdown(results: Sequence[ModelResult], ks: Sequence[int]) -> list[str]:
    headers, vheaders, rows, notes = pass_at_k_rows(results, ks)
    return markdown_table(headers + vheaders, [a + b for a, b in rows]) + ([""] + notes if notes else [])


def comparison_rows(pairings: Sequence) -> tuple[list[str], list[list[str]], list[str]]:
    """Rows of paired differences (``compare.Pairing``): model minus baseline per k."""
    headers = ["model", "baseline", "problems", "metric", "value", "base", "diff", CI_HEADER, "p", "verdict"]
    rows, notes = [], []
    for pg in pairings:
        for d in pg.diffs:
            rows.append(_diff_cells(pg.name, pg.base_name, d))
        for why in pg.missing.values():
            notes.append(f"{pg.name} vs {pg.base_name}: {why}")
        if pg.note():
            notes.append(pg.note())
    return headers, rows, notes


def _diff_cells(name: str, base_name: str, d: PairedDiff) -> list[str]:
    return [
        name,
        base_name,
        str(d.problems),
        f"pass@{d.k}",
        fmt_rate(d.b),
        fmt_rate(d.a),
        fmt_signed(d.diff),
        fmt_interval((d.low, d.high), signed=True),
        fmt_p(d.p_value),
        d.verdict,
    ]


COMPARISON_LEGEND = [
    "value, base: pass@k of the model and of the baseline over their common problems; diff = value - base",
    f"{CI_HEADER}: paired bootstrap; p: paired permutation test; better/worse: CI excludes 0 and p < {1 - LEVEL:.2g}",
]
COMPARISON_LEFT = (0, 1, 3, 9)


def render_comparison(pairings: Sequence, markdown: bool = False, width: int | None = None) -> list[str]:
    """The paired differences; plain text wider than ``width`` splits its columns (model and
    baseline repeated; prose lines are left for the terminal to wrap)."""
    headers, rows, notes = comparison_rows(pairings)
    if not rows and not notes:
        return []
    if markdown:
        out = markdown_table(headers, rows, COMPARISON_LEFT) if rows else []
        return out + (["", *notes] if notes else []) + (["", *COMPARISON_LEGEND] if rows else [])
    out = text_table(headers, rows, COMPARISON_LEFT) if rows else []
    legend = COMPARISON_LEGEND if rows else []
    if width is not None and rows and max(len(line) for line in out) > width:
        out = fit_table(headers, rows, width, [[0, 1], [2, 3], [4, 5, 6], [7, 8], [9]], COMPARISON_LEFT)
    return out + notes + legend


def scope_line(results: Sequence[ModelResult], suite_name: str) -> str:
    """What the figures cover: ``humaneval: over 164 of 164 problems``, or for a partial run
    ``humaneval: PARTIAL: over 60 of 164 problems (104 interrupted)``."""
    parts = []
    for r in results:
        cov = r.coverage
        s = f"over {cov.problems_scored} of {cov.problems_planned} problems"
        if not cov.complete:
            why = cov.reasons() or "interrupted"
            s = f"PARTIAL: {s} ({why})"
        parts.append((r.label, s))
    distinct = {s for _, s in parts}
    if len(distinct) == 1:
        return f"{suite_name}: {distinct.pop()}"
    return "; ".join(f"{label}: {s}" for label, s in parts)


def method_line() -> str:
    return (
        f"pass@k: the unbiased estimator of the Codex paper, averaged over problems. {CI_HEADER}: "
        f"{METHOD['interval']} ({METHOD['resamples']:,} resamples, seed {METHOD['seed']})."
    )


@dataclass(frozen=True)
class PaperFigure:
    """A HumanEval figure the Codex paper reports (not measured by this package)."""

    model: str
    pass_at_1: float | None
    pass_at_100: float | None


PAPER = 'Chen et al. (2021), "Evaluating Large Language Models Trained on Code"'
PAPER_FIGURES = (  # the paper's abstract: "solves 28.8% ... GPT-3 solves 0% and GPT-J solves 11.4%"
    PaperFigure("GPT-3", 0.0, None),
    PaperFigure("GPT-J", 0.114, None),
    PaperFigure("Codex-12B", 0.288, 0.702),  # "70.2% of our problems with 100 samples per problem"
)


def paper_rows(results: Sequence[ModelResult]) -> list[list[str]]:
    """This run's models among the paper's HumanEval figures, best pass@1 first."""
    rows: list[tuple[float, int, list[str]]] = []
    for i, r in enumerate(results):
        p1 = r.pass_at_k.get(1)
        over = "" if r.selected == r.suite_total else f", over {r.selected} of {r.suite_total} problems"
        n = _samples_per_problem(r)
        rows.append(
            (
                -1.0 if p1 is None else p1,
                i,
                [r.label, fmt_rate(p1), fmt_rate(r.pass_at_k.get(100)), f"this run (n = {n}{over})"],
            )
        )
    for j, f in enumerate(PAPER_FIGURES):
        rows.append(
            (
                f.pass_at_1 or 0.0,
                len(results) + j,
                [f.model, fmt_rate(f.pass_at_1), fmt_rate(f.pass_at_100), "the Codex paper"],
            )
        )
    return [cells for _, _, cells in sorted(rows, key=lambda x: (-x[0], x[1]))]


PAPER_NOTE = (
    f"The rows marked 'the Codex paper' are that paper's reported figures ({PAPER}, abstract), "
    "not measured by this run: HumanEval pass@1 of GPT-3 (0%), GPT-J (11.4%) and Codex-12B (28.8%), "
    "and 70.2% of the problems solved by Codex-12B with 100 samples per problem. They compare with "
    "a run over all 164 problems with the paper's sampling (pass@1 at T = 0.2, pass@100 at T = 0.8, n = 200)."
)


def render_paper_figures(results: Sequence[ModelResult]) -> list[str]:
    return markdown_table(["model", "pass@1", "pass@100", "source"], paper_rows(results), left=(0, 3)) + [
        "",
        PAPER_NOTE,
    ]


def markdown_document(
    title: str,
    results: Sequence[ModelResult],
    ks: Sequence[int],
    scope: str,
    pairings: Sequence = (),
    compared: Sequence = (),
    compared_title: str = "",
    paper_figures: bool = False,
    compared_warnings: Sequence[str] = (),
) -> str:
    """A markdown report: the pass@k table, paired differences within the run, and the
    comparison with another run (each section only when there is something in it; the
    comparison opens with any settings that change completions in which the runs differ);
    with ``paper_figures`` (HumanEval runs), the Codex paper's figures beside the run's."""
    out = [f"## {title}", "", scope, ""] + render_markdown(results, ks) + ["", method_line()]
    if paper_figures:
        out += ["", "### Beside the Codex paper's figures", ""] + render_paper_figures(results)
    for heading, pgs, warnings in (("Paired differences", pairings, ()), (compared_title, compared, compared_warnings)):
        lines = render_comparison(pgs, markdown=True)
        if lines:
            out += ["", f"### {heading}", ""] + [f"> {w}\n" for w in warnings] + lines
    return "\n".join(out) + "\n"
