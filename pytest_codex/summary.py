"""Terminal rendering of per-model results (plain text, fixed layout)."""

from __future__ import annotations

from typing import Sequence

from .execution import VERDICTS
from .results import ModelResult


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    s = f"{x:.4f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _samples_per_problem(r: ModelResult) -> str:
    counts = r.sample_counts
    if not counts:
        return "0"
    lo, hi = min(counts), max(counts)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def render_table(results: Sequence[ModelResult], ks: Sequence[int]) -> list[str]:
    headers = ["model", "problems", "n"] + [f"pass@{k}" for k in ks] + list(VERDICTS)
    rows = []
    notes: list[str] = []
    for r in results:
        cells = [r.label, str(len(r.problems)), _samples_per_problem(r)]
        for k in ks:
            cell = fmt_rate(r.pass_at_k.get(k))
            if r.pass_at_k.get(k) is None:
                notes.append(f"[{len(notes) + 1}] {r.label} pass@{k}: {r.k_reasons.get(k, 'not computed')}")
                cell += f" [{len(notes)}]"
            cells.append(cell)
        cells += [str(r.verdicts.get(v, 0)) for v in VERDICTS]
        rows.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    out += notes
    return out


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
