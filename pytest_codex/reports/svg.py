"""The package's one plotting stack: a dependency-free SVG line chart and heatmap.

``line_chart`` draws one polyline per series over shared axes, with a legend; points
given in ``marks`` get a ring (e.g. the best temperature per k); ``bars`` draws error bars
(e.g. 95% intervals).  The y axis starts at 0
and ends at a round bound above the largest value (1 for rates near 1).  ``heatmap`` shades
a grid of rates (e.g. pass@1 by variables and operations).  The output is well-formed XML,
the same bytes for the same input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pytest_codex.core.files import atomic_write
from pytest_codex.core.text import xml_text

W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 180, 40, 56
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")

Point = tuple[float, float | None]  # a missing value (None) is not drawn


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [
            10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) if lo <= 10.0**e <= hi
        ] or [lo, hi]
    if hi == lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / 4))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= 6:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _rate_ceiling(top: float) -> float:
    """A round upper bound for rates (0.05, 0.1, 0.2, 0.5, 1) so small rates stay readable."""
    for bound in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
        if top <= bound * 0.95 or bound == 1.0 and top <= 1.0:
            return bound
    return top * 1.1


def _fmt(x: float) -> str:
    return f"{x:g}"


def line_chart(
    path: str,
    title: str,
    x_label: str,
    y_label: str,
    series: Mapping[str, Sequence[Point]],
    *,
    log_x: bool = False,
    y_range: tuple[float, float] | None = None,
    marks: Sequence[tuple[str, Point]] = (),
    bars: Mapping[str, Mapping[float, tuple[float, float]]] | None = None,
) -> str:
    """Write the chart to ``path`` (directories created); return the path."""
    drawn = {name: [(x, y) for x, y in pts if y is not None] for name, pts in series.items()}
    points = [p for pts in drawn.values() for p in pts]
    xs = [p[0] for p in points] or [1.0]
    x_lo, x_hi = min(xs), max(xs)
    if x_lo == x_hi:
        x_lo, x_hi = (x_lo / 2, x_hi * 2) if log_x else (x_lo - 1, x_hi + 1)
    y_lo, y_hi = y_range or (0.0, _rate_ceiling(max((p[1] for p in points), default=1.0)))
    if y_lo == y_hi:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    fx = (lambda x: math.log10(x)) if log_x else (lambda x: x)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (fx(x) - fx(x_lo)) / (fx(x_hi) - fx(x_lo)) * pw

    def sy(y: float) -> float:
        return TOP + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT + pw / 2:.1f}" y="22" text-anchor="middle" font-size="14">{xml_text(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>',
    ]
    x_ticks = _ticks(x_lo, x_hi, log_x)
    if all(float(x).is_integer() for x in xs):  # counts and lengths: no ticks between them
        x_ticks = [t for t in x_ticks if float(t).is_integer()]
    for t in x_ticks:
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{TOP + ph}" x2="{sx(t):.1f}" y2="{TOP + ph + 5}" stroke="#333"/>'
            f'<text x="{sx(t):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in _ticks(y_lo, y_hi, False):
        out.append(
            f'<line x1="{LEFT}" y1="{sy(t):.1f}" x2="{LEFT + pw}" y2="{sy(t):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 14}" text-anchor="middle">{xml_text(x_label)}</text>')
    out.append(
        f'<text x="16" y="{TOP + ph / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + ph / 2:.1f})">{xml_text(y_label)}</text>'
    )
    colour = {}
    for i, (name, pts) in enumerate(drawn.items()):
        c = colour[name] = COLORS[i % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{c}"/>' for x, y in pts]
        for x, (lo, hi) in sorted((bars or {}).get(name, {}).items()):
            out.append(
                f'<path d="M{sx(x) - 4:.1f},{sy(lo):.1f}h8M{sx(x):.1f},{sy(lo):.1f}V{sy(hi):.1f}'
                f'M{sx(x) - 4:.1f},{sy(hi):.1f}h8" stroke="{c}" fill="none"/>'
            )
        ly = TOP + 10 + i * 18
        out.append(
            f'<line x1="{LEFT + pw + 12}" y1="{ly}" x2="{LEFT + pw + 32}" y2="{ly}" stroke="{c}" stroke-width="2"/>'
            f'<text x="{LEFT + pw + 38}" y="{ly + 4}">{xml_text(name)}</text>'
        )
    for name, (x, y) in marks:
        if y is None:
            continue
        out.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="none" '
            f'stroke="{colour.get(name, "#000")}" stroke-width="2"/>'
        )
    out.append("</svg>")
    atomic_write(path, "\n".join(out) + "\n")
    return path


LOW, HIGH = (247, 251, 255), (8, 48, 107)  # the colour of 0 and of 1 (white to dark blue)


def _shade(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(LOW, HIGH))


def heatmap(
    path: str,
    title: str,
    x_label: str,
    y_label: str,
    xs: Sequence[int],
    ys: Sequence[int],
    values: Mapping[tuple[int, int], float | None],
) -> str:
    """A grid of rates in [0, 1]: column ``x``, row ``y`` (the first ``y`` on top, as in a
    table), shaded from white (0) to dark blue (1) with the value written in the cell; a cell
    without a value (no problem ran there) is grey with a dash.  A colour bar on the right
    reads the shades.  Writes ``path`` (directories created); returns it."""
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    cw, ch = pw / max(len(xs), 1), ph / max(len(ys), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT + pw / 2:.1f}" y="22" text-anchor="middle" font-size="14">{xml_text(title)}</text>',
    ]
    size = min(12.0, cw / 3.2)
    for j, y in enumerate(ys):
        cy = TOP + j * ch
        out.append(f'<text x="{LEFT - 6}" y="{cy + ch / 2 + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')
        for i, x in enumerate(xs):
            cx = LEFT + i * cw
            v = values.get((x, y))
            fill = "#dddddd" if v is None else _shade(v)
            ink = "#ffffff" if v is not None and v > 0.55 else "#000000"
            text = "—" if v is None else f"{v:.2f}"
            out.append(
                f'<rect x="{cx:.1f}" y="{cy:.1f}" width="{cw:.1f}" height="{ch:.1f}" fill="{fill}" stroke="white"/>'
                f'<text x="{cx + cw / 2:.1f}" y="{cy + ch / 2 + 4:.1f}" text-anchor="middle" '
                f'font-size="{size:.1f}" fill="{ink}">{text}</text>'
            )
    for i, x in enumerate(xs):
        out.append(f'<text x="{LEFT + (i + 0.5) * cw:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{_fmt(x)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 14}" text-anchor="middle">{xml_text(x_label)}</text>')
    out.append(
        f'<text x="16" y="{TOP + ph / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + ph / 2:.1f})">{xml_text(y_label)}</text>'
    )
    bx, steps = LEFT + pw + 24, 20  # the colour bar: 1 on top, 0 at the bottom
    for k in range(steps):
        out.append(
            f'<rect x="{bx}" y="{TOP + k * ph / steps:.1f}" width="16" height="{ph / steps + 0.5:.1f}" '
            f'fill="{_shade(1 - (k + 0.5) / steps)}"/>'
        )
    out.append(f'<rect x="{bx}" y="{TOP}" width="16" height="{ph}" fill="none" stroke="#333"/>')
    for t in (0.0, 0.5, 1.0):
        out.append(f'<text x="{bx + 22}" y="{TOP + (1 - t) * ph + 4:.1f}">{_fmt(t)}</text>')
    out.append("</svg>")
    atomic_write(path, "\n".join(out) + "\n")
    return path
