"""How long each problem item took when it last ran, so that xdist starts the longest first.

Under ``-n``, a long item that starts late leaves the other workers idle at the end: a sample
that times out on HumanEval+ (about 1 s per input set) or a slow problem (HumanEval/147's
plus inputs) decides the wall time.  The controller (or the single process) records each
problem item's duration (setup, call and teardown) by node id in ``.codex/durations.json``;
the next ``-n`` run hands the items out longest first (``longest_first``), the rest in their
collection order.  Only the order changes: every item still runs, with the same verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_codex.core.files import atomic_write

FILE = Path(".codex") / "durations.json"
SCHEMA = 1
KEEP = 50_000  # node ids kept (the most recently run); the file stays a few MB at most


def load(path: Path) -> dict[str, float]:
    """The recorded durations; empty when there are none or the file is damaged."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != SCHEMA:
            return {}
        return {
            str(k): float(v)
            for k, v in doc["items"].items()
            if isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save(path: Path, ran: Mapping[str, float]) -> None:
    """Merge this run's durations into the file (this run's win); errors are ignored: the
    order is only a hint."""
    if not ran:
        return
    items = {k: v for k, v in load(path).items() if k not in ran}
    items.update({k: round(v, 4) for k, v in ran.items()})
    if len(items) > KEEP:
        items = dict(list(items.items())[-KEEP:])
    try:
        atomic_write(path, json.dumps({"schema": SCHEMA, "items": items}, separators=(",", ":")))
    except (OSError, ValueError):
        return


def longest_first(nodeids: Sequence[str], known: Mapping[str, float]) -> list[int]:
    """Indices of ``nodeids``: those with a recorded duration, longest first; then the others
    in their order (an item never run could be long as well, but nothing says so)."""
    timed = sorted((i for i, n in enumerate(nodeids) if n in known), key=lambda i: (-known[nodeids[i]], i))
    return timed + [i for i, n in enumerate(nodeids) if n not in known]
