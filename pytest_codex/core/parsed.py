"""A parsed copy of a problem file in EvalPlus's format, so a process starts without decoding
every problem's inputs.

HumanEval+'s file is 0.9 MB of gzip and 8 MB of JSON: decoding it costs each process about
a quarter of a second, and freeing its millions of objects at exit as much again.  The xdist
controller never needs the inputs, and a worker needs those of the problems it runs.  So the
first load validates the whole file as before (every defect an error before any work) and
writes a parsed copy beside the run's other caches: the problems' fields, and each problem's
inputs as a separate ``marshal`` blob.  Later loads of the same bytes read the problems and
unmarshal a problem's inputs only when they are used (``LazyInputs``).

The copy is named by the sha256 of the file's bytes, the schema and the Python version
(``marshal``'s format is Python's own), and carries the sha256 of its blobs: a damaged,
foreign or stale copy is ignored (the file is parsed again), never trusted.  Writing it is
best-effort: an unwritable cache directory only costs the parse next time.
"""

from __future__ import annotations

import hashlib
import marshal
import struct
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path

from pytest_codex.core import evalplus
from pytest_codex.core.files import atomic_write

SCHEMA = 1
_HEAD = struct.Struct("<Q")  # the length of the marshalled header
_KEEP = 4  # problems whose inputs stay decoded (a worker asks for one problem's several times)


class LazyInputs(Mapping[str, evalplus.Inputs]):
    """Each problem's ``evalplus.Inputs``, decoded from its blob when asked for."""

    def __init__(self, blobs: memoryview, index: dict[str, tuple[float, str, int, int]]) -> None:
        self._blobs, self._index = blobs, index  # task_id -> (atol, contract, offset, size)
        self._recent: OrderedDict[str, evalplus.Inputs] = OrderedDict()

    def __getitem__(self, task_id: str) -> evalplus.Inputs:
        found = self._recent.get(task_id)
        if found is None:
            atol, contract, at, size = self._index[task_id]
            base, plus = marshal.loads(self._blobs[at : at + size])
            found = self._recent[task_id] = evalplus.Inputs(task_id, base, plus, atol, contract)
            while len(self._recent) > _KEEP:
                self._recent.popitem(last=False)
        self._recent.move_to_end(task_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def copy_path(cache_dir: Path, file_sha256: str) -> Path:
    version = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return cache_dir / "suites" / f"{file_sha256[:32]}-s{SCHEMA}-{version}.marshal"


def write(path: Path, sha256: str, fields: list[dict[str, str]], inputs: Mapping[str, evalplus.Inputs]) -> None:
    """Write the parsed copy of a file whose content has ``sha256``; errors are ignored."""
    blobs, index, at = [], {}, 0
    for task_id, data in inputs.items():
        blob = marshal.dumps((data.base, data.plus))
        blobs.append(blob)
        index[task_id] = (data.atol, data.contract, at, len(blob))
        at += len(blob)
    body = b"".join(blobs)
    head = marshal.dumps(
        {
            "schema": SCHEMA,
            "sha256": sha256,
            "fields": fields,
            "index": index,
            "blobs_sha256": hashlib.sha256(body).hexdigest(),
        }
    )
    try:
        atomic_write(path, _HEAD.pack(len(head)) + head + body)
    except (OSError, ValueError):
        return


def read(path: Path) -> tuple[str, list[dict[str, str]], LazyInputs] | None:
    """(the content's sha256, the problems' fields, their inputs) from a parsed copy, or None
    when there is none or it is damaged."""
    try:
        data = path.read_bytes()
        (size,) = _HEAD.unpack_from(data)
        head = marshal.loads(data[_HEAD.size : _HEAD.size + size])
        body = memoryview(data)[_HEAD.size + size :]
        if head.get("schema") != SCHEMA or hashlib.sha256(body).hexdigest() != head.get("blobs_sha256"):
            return None
        return str(head["sha256"]), list(head["fields"]), LazyInputs(body, dict(head["index"]))
    except (OSError, ValueError, EOFError, TypeError, KeyError, AttributeError, struct.error):
        return None
