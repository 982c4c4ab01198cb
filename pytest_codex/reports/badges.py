"""Badges: a flat SVG badge and a shields.io endpoint JSON per model.

The endpoint JSON follows https://shields.io/badges/endpoint-badge (``schemaVersion`` 1,
``label``, ``message``, ``color``): publish it and point
``https://img.shields.io/endpoint?url=...`` at it, or use the SVG as it is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

from pytest_codex.core.files import atomic_write
from pytest_codex.core.text import xml_text
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.runs import slug
from pytest_codex.reports.tables import fmt_rate

# (lowest pass@k, shields colour name, hex): the first row the value reaches.
THRESHOLDS = (
    (0.8, "brightgreen", "#4c1"),
    (0.6, "green", "#97ca00"),
    (0.4, "yellowgreen", "#a4a61d"),
    (0.2, "yellow", "#dfb317"),
    (0.1, "orange", "#fe7d37"),
    (0.0, "red", "#e05d44"),
)
NO_VALUE = ("lightgrey", "#9f9f9f")
HEX = {name: hx for _, name, hx in THRESHOLDS} | {NO_VALUE[0]: NO_VALUE[1]}


def color_for(value: float | None) -> str:
    if value is None:
        return NO_VALUE[0]
    return next(name for lowest, name, _ in THRESHOLDS if value >= lowest)


def suite_title(name: str) -> str:
    return {"humaneval": "HumanEval"}.get(name, name)


def endpoint(label: str, value: float | None, partial: bool = False) -> dict:
    """A shields.io endpoint document for one pass@k value.  A partial run's badge says so
    and is grey: its figure is not the suite's."""
    message = "no estimate" if value is None else f"{fmt_rate(100 * value)}%"  # the tables' precision rule
    if partial:
        return {"schemaVersion": 1, "label": label, "message": f"{message} (partial)", "color": NO_VALUE[0]}
    return {"schemaVersion": 1, "label": label, "message": message, "color": color_for(value)}


# Character widths of Verdana 11px (the shields font), in pixels; others count as 7.
_WIDE = dict.fromkeys("mwMW@%", 11) | dict.fromkeys("ABCDEFGHKNOPQRSTUVXYZ#&", 8)
_NARROW = dict.fromkeys("ijlI.,:;|!'", 3.5) | dict.fromkeys("frt()[]/ -", 5)


def _text_width(text: str) -> float:
    return sum(_WIDE.get(ch) or _NARROW.get(ch) or 7 for ch in text)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """One line of text that XML 1.0 can hold (other characters become U+FFFD)."""
    return _NOT_XML.sub("\ufffd", " ".join(text.split()) if text.strip() else text)


def svg(doc: dict) -> str:
    """A flat badge for an endpoint document."""
    label, message = _xml_safe(doc["label"]), _xml_safe(doc["message"])
    lw, mw = round(_text_width(label) + 10), round(_text_width(message) + 10)
    w = lw + mw
    color = HEX.get(doc["color"], doc["color"])
    el, em = xml_text(label), xml_text(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f'aria-label="{xml_text(label + ": " + message, quote=True)}">'
        f"<title>{el}: {em}</title>"
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{color}"/>'
        f'<rect width="{w}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{lw / 2:g}" y="15" fill="#010101" fill-opacity=".3">{el}</text>'
        f'<text x="{lw / 2:g}" y="14">{el}</text>'
        f'<text x="{lw + mw / 2:g}" y="15" fill="#010101" fill-opacity=".3">{em}</text>'
        f'<text x="{lw + mw / 2:g}" y="14">{em}</text></g></svg>\n'
    )


def badge_documents(
    results: Sequence[ModelResult], suite_name: str, k: int = 1, with_model: bool = True
) -> list[tuple[str, dict]]:
    """(file stem, endpoint document) per model."""
    out = []
    for r in results:
        label = f"{suite_title(suite_name)} pass@{k}" + (f" {r.label}" if with_model else "")
        out.append((slug(r.label), endpoint(label, r.pass_at_k.get(k), partial=r.partial)))
    return out


def write_badges(directory: str, docs: Sequence[tuple[str, dict]]) -> list[str]:
    """Write ``<stem>.svg`` and ``<stem>.json`` for each document; returns the paths."""
    paths = []
    for stem, doc in docs:
        base = os.path.join(directory, stem)
        atomic_write(base + ".json", json.dumps(doc, indent=1) + "\n")
        atomic_write(base + ".svg", svg(doc))
        paths += [base + ".json", base + ".svg"]
    return paths
