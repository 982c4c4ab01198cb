"""HumanEval+ in EvalPlus's own format: where the file is, how it is recognised, what it holds.

A line of EvalPlus's HumanEval+ file is a HumanEval problem (``task_id``, ``prompt``,
``canonical_solution``, ``test``, ``entry_point``) plus ``base_input`` (the argument lists of
HumanEval's own tests), ``plus_input`` (EvalPlus's extra argument lists), ``atol`` (the
absolute tolerance for float outputs; 0 means exact, or 1e-6 where the expected output is
a float) and ``contract`` (the assertions that say which inputs are valid).  A file whose
lines have ``base_input``, ``plus_input`` and ``atol`` is read as this format (the problems
are then judged on those inputs, as EvalPlus judges them: see
``pytest_codex.experiments.humanevalplus``).

Loading executes nothing.  The inputs stay the plain JSON values of the file.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import ProblemFileError

FORMAT = "evalplus"
FIELDS = ("base_input", "plus_input", "atol")  # a line with these is in EvalPlus's format
DEFAULT_RELEASE = "v0.1.10"  # the release EvalPlus reads by default (its HUMANEVAL_PLUS_VERSION)
OVERRIDE_ENV = "HUMANEVAL_OVERRIDE_PATH"  # EvalPlus's own variable for a local copy
RELEASE_URL = "https://github.com/evalplus/humanevalplus_release/releases/download/{release}/HumanEvalPlus.jsonl.gz"
# sha256 of the (decompressed) content of the releases this project has checked
KNOWN_RELEASES = {"42526ec0e7d5f3ee0b06d6ced98f8c8bae3d76519151bfb3d36f79010645bd7f": "v0.1.10"}
_RELEASE_IN_NAME = re.compile(r"HumanEvalPlus-(v\d+(?:\.\d+)*)\.jsonl(?:\.gz)?$")


@dataclass(frozen=True, eq=False)
class Inputs:
    """One problem's EvalPlus data: the argument lists of its base and plus inputs."""

    task_id: str
    base: tuple[list, ...]
    plus: tuple[list, ...]
    atol: float
    contract: str = ""


def is_evalplus(record: dict) -> bool:
    return all(name in record for name in FIELDS)


def parse_inputs(where: str, record: dict) -> Inputs:
    """The EvalPlus fields of one line; a defect is a ``ProblemFileError`` naming line and field."""
    sets = []
    for name in ("base_input", "plus_input"):
        value = record.get(name)
        if not isinstance(value, list):
            raise ProblemFileError(
                f"{where}: field {name!r} must be a list of argument lists (EvalPlus's format), "
                f"got {type(value).__name__}"
            )
        for i, args in enumerate(value):
            if not isinstance(args, list):
                raise ProblemFileError(f"{where}: {name}[{i}] must be a list of arguments, got {type(args).__name__}")
        sets.append(tuple(value))
    atol = record.get("atol")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not atol >= 0:
        raise ProblemFileError(f"{where}: field 'atol' must be a number >= 0, got {atol!r}")
    contract = record.get("contract", "")
    if not isinstance(contract, str):
        raise ProblemFileError(f"{where}: field 'contract' must be a string, got {type(contract).__name__}")
    return Inputs(record["task_id"], sets[0], sets[1], float(atol), contract)


def release_of(path: Path, sha256: str) -> str | None:
    """The HumanEval+ release of a file: known by its content, else named in EvalPlus's cache
    file name (``HumanEvalPlus-v0.1.10.jsonl``); None when neither says."""
    if sha256 in KNOWN_RELEASES:
        return KNOWN_RELEASES[sha256]
    match = _RELEASE_IN_NAME.search(path.name)
    return match.group(1) if match else None


def cache_dir() -> Path:
    """EvalPlus's cache directory (``appdirs.user_cache_dir("evalplus")``)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "evalplus"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evalplus"


def _version_key(path: Path) -> tuple[int, ...]:
    match = _RELEASE_IN_NAME.search(path.name)
    return tuple(int(x) for x in match.group(1)[1:].split(".")) if match else ()


def locate() -> Path:
    """Where EvalPlus itself reads HumanEval+ from: ``$HUMANEVAL_OVERRIDE_PATH``, else its
    cache directory (the default release, else the newest one there)."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        path = Path(os.path.expanduser(override))
        if not path.is_file():
            raise ProblemFileError(
                f"--codex-suite=humanevalplus: ${OVERRIDE_ENV}={override!r} is not a file; point it at "
                f"HumanEval+ in EvalPlus's format, or unset it to use EvalPlus's cache ({cache_dir()})"
            )
        return path
    directory = cache_dir()
    default = directory / f"HumanEvalPlus-{DEFAULT_RELEASE}.jsonl"
    if default.is_file():
        return default
    found = sorted(directory.glob("HumanEvalPlus-v*.jsonl"), key=_version_key) if directory.is_dir() else []
    if found:
        return found[-1]
    raise ProblemFileError(
        f"--codex-suite=humanevalplus: HumanEval+ is not on this machine (looked for ${OVERRIDE_ENV}, "
        f"unset, and {default}); get it with EvalPlus (`pip install evalplus`, then "
        f'`python -c "from evalplus.data import get_human_eval_plus; get_human_eval_plus()"` '
        f"downloads it there), or download {RELEASE_URL.format(release=DEFAULT_RELEASE)} and give "
        f"--codex-suite=PATH or set ${OVERRIDE_ENV}=PATH"
    )
