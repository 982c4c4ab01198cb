"""pass@k against k, one curve per model (and temperature), as PNG or SVG (matplotlib).

matplotlib is optional: ``pip install 'pytest-codex[plot]'``.  It is imported only here,
only when a plot is drawn, with the non-interactive Agg backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from .passk import mean_pass_at_k
from .results import ModelResult
from .stats import pass_at_k_intervals

FORMATS = ("png", "svg")


class PlotError(ValueError):
    pass


@dataclass
class Curve:
    label: str
    ks: list[int]
    values: list[float]
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
        top = min(p["n"] for p in r.problems)
        ks = list(range(1, top + 1))
        counts = [(p["n"], p["c"]) for p in r.problems]
        label = r.label + (f" (T={t:g})" if len(temps) > 1 and t is not None else "")
        intervals = pass_at_k_intervals(r.problems, [k for k in bar_ks if k <= top])
        out.append(Curve(label, ks, [mean_pass_at_k(counts, k) for k in ks],
                         {k: ci for k, ci in intervals.items() if ci is not None}))
    if not out:
        raise PlotError("no model attempted any problem; nothing to plot")
    return out


def output_paths(out: str) -> list[str]:
    """``out`` with a .png/.svg ending, or a directory that gets pass_at_k.png and .svg."""
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext in FORMATS:
        return [out]
    if ext:
        raise PlotError(f"--out={out!r}: unknown image type {ext!r}; give a .png or .svg path, or a directory")
    return [os.path.join(out, f"pass_at_k.{f}") for f in FORMATS]


def draw(cs: Sequence[Curve], paths: Sequence[str], title: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("plotting needs matplotlib; install it with `pip install 'pytest-codex[plot]'`") from None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    try:
        for c in cs:
            line, = ax.plot(c.ks, c.values, marker="o" if len(c.ks) < 12 else None, label=c.label)
            if c.bars:
                bk = sorted(c.bars)
                mid = [c.values[k - 1] for k in bk]
                ax.errorbar(bk, mid, yerr=[[m - c.bars[k][0] for m, k in zip(mid, bk)],
                                           [c.bars[k][1] - m for m, k in zip(mid, bk)]],
                            fmt="none", ecolor=line.get_color(), capsize=3)
        if max(len(c.ks) for c in cs) > 10:
            ax.set_xscale("log")
        ax.set_xlabel("k (samples)")
        ax.set_ylabel("pass@k")
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        written = []
        for path in paths:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            tmp = f"{path}.tmp{os.getpid()}"
            fig.savefig(tmp, format=os.path.splitext(path)[1].lstrip(".").lower(),
                        metadata={"Date": None} if path.endswith(".svg") else None)
            os.replace(tmp, path)
            written.append(path)
        return written
    finally:
        plt.close(fig)
