"""Helpers of the reports tests: a tiny problem suite, samples files, real inner pytest runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import SUITE_FILE

SUITE_TEST = SUITE_FILE


def _problem(i: int, name: str, body: str, args: str, cases: list[tuple[str, str]]) -> dict:
    asserts = "".join(f"    assert candidate({a}) == {r}\n" for a, r in cases)
    return {
        "task_id": f"toy/{i}",
        "prompt": f"def {name}({args}):\n",
        "canonical_solution": body,
        "test": "def check(candidate):\n" + asserts,
        "entry_point": name,
    }


TOY_PROBLEMS = [
    _problem(0, "add", "    return a + b\n", "a, b", [("1, 2", "3"), ("-1, 1", "0")]),
    _problem(1, "double", "    return 2 * x\n", "x", [("2", "4"), ("0", "0")]),
    _problem(2, "first", "    return xs[0]\n", "xs", [("[3, 4]", "3")]),
    _problem(3, "last", "    return xs[-1]\n", "xs", [("[3, 4]", "4")]),
    _problem(4, "neg", "    return -x\n", "x", [("3", "-3")]),
    _problem(5, "square", "    return x * x\n", "x", [("3", "9"), ("-2", "4")]),
]
WRONG = "    return None\n"


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_suite(directory: Path, problems=TOY_PROBLEMS, name: str = "toy.jsonl") -> Path:
    return write_jsonl(directory / name, problems)


def write_samples(path: Path, correct: dict[int, list[bool]], problems=TOY_PROBLEMS) -> Path:
    """A samples file: for problem i, one sample per flag (canonical solution if True)."""
    records = [
        {"task_id": problems[i]["task_id"], "completion": problems[i]["canonical_solution"] if ok else WRONG}
        for i, flags in correct.items()
        for ok in flags
    ]
    return write_jsonl(path, records)


def run_pytest(directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """A real inner pytest run of the problem suite in ``directory`` (created if needed)."""
    test_file = directory / "test_humaneval.py"
    if not test_file.exists():
        test_file.write_text(SUITE_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(test_file), *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest_codex", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# https://shields.io/badges/endpoint-badge: the properties an endpoint response may have.
SHIELDS_ENDPOINT = {
    "schemaVersion": int,
    "label": str,
    "message": str,
    "color": str,
    "labelColor": str,
    "isError": bool,
    "namedLogo": str,
    "logoSvg": str,
    "logoColor": str,
    "logoWidth": (int, float),
    "style": str,
    "cacheSeconds": int,
}
SHIELDS_COLORS = {
    "brightgreen",
    "green",
    "yellowgreen",
    "yellow",
    "orange",
    "red",
    "blue",
    "lightgrey",
    "success",
    "important",
    "critical",
    "informational",
    "inactive",
}


def assert_shields_endpoint(doc: dict) -> None:
    assert set(doc) <= set(SHIELDS_ENDPOINT), set(doc) - set(SHIELDS_ENDPOINT)
    for key in ("schemaVersion", "label", "message"):
        assert key in doc, f"{key} is required"
    for key, value in doc.items():
        assert isinstance(value, SHIELDS_ENDPOINT[key]) and not (
            SHIELDS_ENDPOINT[key] is int and isinstance(value, bool)
        )
    assert doc["schemaVersion"] == 1
    assert doc["message"] != ""
    assert doc.get("color") in SHIELDS_COLORS
