"""Helpers shared by the tests of every layer (importable as ``support``: tests/ is on sys.path
through tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the suite module the plugin's items come from, as a user's project would have it
SUITE_FILE = (ROOT / "pytest_codex" / "suite" / "test_humaneval.py").read_text()


def write_jsonl(path: Path, records: Iterable[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def usage_error(result: pytest.RunResult) -> str:
    """The one line of a usage error (exit 4): pytest's ``ERROR:`` line, or the
    ``pytest: error:`` line a bad option value gets from pytest's argument parser."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    parser = [line for line in result.stderr.lines if ": error: argument " in line]
    if parser:
        assert len(parser) == 1, result.stderr.str()
        return parser[0]
    lines = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(lines) == 1, result.stderr.str()
    return lines[0]
