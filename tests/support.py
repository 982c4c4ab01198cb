"""Helpers shared by the tests of every layer (importable as ``support``: tests/ is on sys.path
through tests/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the suite module the plugin's items come from, as a user's project would have it
SUITE_FILE = (ROOT / "pytest_codex" / "suite" / "test_humaneval.py").read_text()


# openai/human-eval's own example (data/example_problem.jsonl, example_samples.jsonl); its harness
# says: failed, timed out, failed, passed, passed (2-space indent), passed (tab indent); pass@1 = 0.5.
HE_EXAMPLE_PROBLEM = {
    "task_id": "test/0",
    "prompt": "def return1():\n",
    "canonical_solution": "    return 1",
    "test": "def check(candidate):\n    assert candidate() == 1",
    "entry_point": "return1",
}
HE_EXAMPLE_SAMPLES = [
    "    import subprocess\n    subprocess.check_output('rm -rf tmp')",
    "    import time\n    time.sleep(10)\n    return 1",
    "    return input('enter a number')",
    "    return 1",
    "  return 1",
    "\treturn 1",
]


def strip_keys(x: object, keys: tuple[str, ...]) -> object:
    """``x`` (parsed JSON) without the dict keys in ``keys`` at any depth (times, paths)."""
    if isinstance(x, dict):
        return {k: strip_keys(v, keys) for k, v in x.items() if k not in keys}
    if isinstance(x, list):
        return [strip_keys(v, keys) for v in x]
    return x


def write_jsonl(path: Path, records: Iterable[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_report(pytester: pytest.Pytester, args: Iterable[str], name: str) -> dict:
    """Run pytest in a subprocess writing the results file ``name``; its first run (model)."""
    result = pytester.runpytest_subprocess(*args, f"--codex-report={pytester.path / name}")
    assert result.ret in (0, 1), result.stdout.str()[-3000:] + result.stderr.str()[-3000:]
    return json.loads((pytester.path / name).read_text())["runs"][0]


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


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live process below ``root`` (by parent links in /proc)."""
    parents: dict[int, int] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)], starts[int(entry)] = int(fields[1]), fields[19]
    found, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in {p for p, _ in found}:
                found.add((child, starts[child]))
                frontier.append(child)
    return found


def alive(proc: tuple[int, str]) -> bool:
    """Whether the process ``(pid, start time)`` still exists (a zombie does not count)."""
    try:
        stat = Path(f"/proc/{proc[0]}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] == proc[1] and fields[0] != "Z"


def survivors(tree: set[tuple[int, str]], within: float = 15.0) -> list[tuple[int, str]]:
    """The processes of ``tree`` still alive after waiting up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    return sorted(p for p in tree if alive(p))


def terminal_signals() -> None:
    """``preexec_fn`` for a command the tests interrupt with SIGINT: the signal state a
    terminal gives a command (SIGINT neither ignored nor blocked), whatever the test
    process inherited (a suite started in the background, ``cmd &`` from a script, runs
    with SIGINT ignored, and every process below it inherits that)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def printed_elsewhere(code: str) -> str:
    """What ``code`` prints in a fresh interpreter with another hash seed (a generated suite
    must be the same in every process: xdist workers and the controller each build it)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
