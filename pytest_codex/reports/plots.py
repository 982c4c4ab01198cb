"""pass@k against k, one curve per model (and temperature), as SVG (``reports.svg``: the
one plotting stack, no dependency)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.core.passk import mean_pass_at_k
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.stats import pass_at_k_intervals
from pytest_codex.reports.svg import line_chart

FORMATS = ("svg",)


class PlotError(CodexUsageError):
    pass


@dataclass
class Curve:
    label: str
    ks: list[int]
    values: list[float | None]
    bars: dict[int, tuple[float, float]]  # 95% intervals at a few ks


def temperature(run: dict) -> float | None:
    for src in (run.get("params") or {}, (run.get("manifest") or {}).get("generation") or {}):
        if src.get("temperature") is not None:
            return src["temperature"]
    return None


def curves(entries: Sequence[tuple[ModelResult, float | None]], bar_ks: Sequence[int] = (1, 10, 100)) -> list[Curve]:
    """One curve per (result, temperature); the temperature is named when curves differ in it."""
    temps = {t for _, t in entries}
    out = []
    for r, t in entries:
        if not r.problems:
            continue
        top = min(p.n for p in r.problems)
        ks = list(range(1, top + 1))
        counts = [(p.n, p.c) for p in r.problems]
        label = r.label + (f" (T={t:g})" if len(temps) > 1 and t is not None else "")
        intervals = pass_at_k_intervals(r.problems, [k for k in bar_ks if k <= top])
        out.append(
            Curve(
                label,
                ks,
                [mean_pass_at_k(counts, k) for k in ks],
                {k: ci for k, ci in intervals.items() if ci is not None},
            )
        )
    if not out:
        raise PlotError("no model attempted any problem; nothing to plot")
    return out


def output_paths(out: str) -> list[str]:
    """``out`` with a .svg ending, or a directory that gets pass_at_k.svg."""
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext in FORMATS:
        return [out]
    if ext:
        raise PlotError(f"--out={out!r}: unknown image type {ext!r}; give a .svg path, or a directory")
    return [os.path.join(out, f"pass_at_k.{f}") for f in FORMATS]


def draw(cs: Sequence[Curve], paths: Sequence[str], title: str) -> list[str]:
    """pass@k against k (log scale past k = 10), with the 95% intervals as error bars."""
    series = {c.label: list(zip(map(float, c.ks), c.values)) for c in cs}
    bars = {c.label: {float(k): ci for k, ci in c.bars.items()} for c in cs}
    log_x = max(len(c.ks) for c in cs) > 10
    return [
        line_chart(path, title, "k (samples)", "pass@k", series, log_x=log_x, y_range=(0.0, 1.0), bars=bars)
        for path in paths
    ]
