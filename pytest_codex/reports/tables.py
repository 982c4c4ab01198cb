"""Rendering of per-model results: plain-text tables (terminal) and markdown (files).

One set of row builders serves the terminal summary and the ``pytest-codex`` command
line: ``pass_at_k_rows`` (the pass@k table with 95% intervals and verdict counts) and
``comparison_rows`` (paired differences); ``text_table`` / ``markdown_table`` lay them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_codex.core.verdicts import VERDICTS
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.stats import LEVEL, METHOD, PairedDiff, pass_at_k_intervals

CI_HEADER = f"{LEVEL:.0%} CI"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    s = f"{x:.4f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


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
    """(pass@k headers, verdict headers, rows as (pass@k cells, verdict cells), notes)."""
    headers = ["model", "problems", "n"]
    plus = any(r.pass_at_k_plus is not None for r in results)  # EvalPlus's format: base and plus side by side
    for k in ks:
        headers += [f"pass@{k}", CI_HEADER] + ([f"plus@{k}", CI_HEADER] if plus else [])
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
        rows.append((cells, [str(r.verdicts.get(v, 0)) for v in VERDICTS]))
    if plus:
        notes.append(PLUS_NOTE)
    return headers, list(VERDICTS), rows, notes


PLUS_NOTE = (
    "pass@k: on the base inputs (HumanEval's tests); plus@k: on base and plus inputs (HumanEval+, EvalPlus's rules)"
)


def render_table(results: Sequence[ModelResult], ks: Sequence[int], width: int | None = None) -> list[str]:
    """The pass@k table; verdict counts in the same rows, or in a second table when the
    one-table layout would be wider than ``width`` characters."""
    headers, vheaders, rows, notes = pass_at_k_rows(results, ks)
    out = text_table(headers + vheaders, [a + b for a, b in rows])
    if width is not None and max(len(line) for line in out) > width:
        out = text_table(headers, [a for a, _ in rows]) + [""]
        out += text_table(["verdicts"] + vheaders, [[a[0]] + b for a, b in rows])
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


def render_comparison(pairings: Sequence, markdown: bool = False) -> list[str]:
    headers, rows, notes = comparison_rows(pairings)
    if not rows and not notes:
        return []
    out = (markdown_table if markdown else text_table)(headers, rows, COMPARISON_LEFT) if rows else []
    legend = ([""] if markdown else []) + COMPARISON_LEGEND if rows else []
    return out + (["", *notes] if markdown and notes else notes) + legend


def scope_line(results: Sequence[ModelResult], suite_name: str) -> str:
    parts = []
    for r in results:
        s = f"over {r.selected} of {r.suite_total} problems"
        if r.not_attempted:
            s += f" ({len(r.not_attempted)} not attempted: no samples, e.g. {r.not_attempted[0]})"
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


def markdown_document(
    title: str,
    results: Sequence[ModelResult],
    ks: Sequence[int],
    scope: str,
    pairings: Sequence = (),
    compared: Sequence = (),
    compared_title: str = "",
) -> str:
    """A markdown report: the pass@k table, paired differences within the run, and the
    comparison with another run (each section only when there is something in it)."""
    out = [f"## {title}", "", scope, ""] + render_markdown(results, ks) + ["", method_line()]
    for heading, pgs in (("Paired differences", pairings), (compared_title, compared)):
        lines = render_comparison(pgs, markdown=True)
        if lines:
            out += ["", f"### {heading}", ""] + lines
    return "\n".join(out) + "\n"
