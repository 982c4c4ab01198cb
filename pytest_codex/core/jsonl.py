"""The JSONL reader shared by problem files and samples files (plain or gzipped)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import CodexUsageError


@dataclass(frozen=True)
class JsonlFile:
    source: str  # how messages name the file
    sha256: str  # of the content (decompressed): a problem set's identity
    file_sha256: str  # of the bytes on disk: a samples file's fingerprint
    text: str  # decompressed, decoded

    def records(self, required: tuple[str, ...], error: type[CodexUsageError], what: str) -> Iterator[tuple[str, dict]]:
        """Yield (where, record) per non-blank line; ``required`` fields must be strings.
        Every defect is ``error`` naming the file, the line and the fix."""
        for lineno, raw in enumerate(self.text.splitlines(), start=1):
            if not raw.strip():
                continue
            where = f"{self.source}, line {lineno}"
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise error(f"{where}: not valid JSON ({exc.msg}); each line must be one JSON object") from None
            if not isinstance(record, dict):
                raise error(f"{where}: expected a JSON object, got {type(record).__name__}")
            for name in required:
                if name not in record:
                    raise error(f"{where}: missing field {name!r}; {what} needs {', '.join(required)}")
                if not isinstance(record[name], str):
                    raise error(f"{where}: field {name!r} must be a string, got {type(record[name]).__name__}")
            yield where, record


def read_jsonl(path: Path, source: str) -> JsonlFile:
    return parse_jsonl(path.read_bytes(), source)


def parse_jsonl(raw: bytes, source: str) -> JsonlFile:
    """A file's bytes (plain or gzipped) as a ``JsonlFile``."""
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return JsonlFile(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        file_sha256=hashlib.sha256(raw).hexdigest(),
        text=data.decode("utf-8"),
    )
