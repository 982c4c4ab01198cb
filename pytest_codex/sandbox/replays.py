"""The calls each problem's tests make, recorded once and cached between sessions.

Before a problem's first sample, the executor records the calls its tests make when they
check the canonical solution (``judge.record_calls``, trusted code run in this process), so
that every sample answers them in full before the tests run (no oracle; see ``judge``).
Recording runs every canonical solution and its tests once per process: about 0.26 s for
HumanEval's 164 problems, a seventh of a plain ``pytest --model=reference`` run.  The
recordings are cached in ``<rootdir>/.codex/replays.json``, per Python version and per
problem: the sha256 of its prompt, canonical solution, tests and entry point, so an edited
problem is recorded again.

A recording is a hint, never a verdict: the trusted side uses a replayed answer only while
the calls its own tests make match the recording exactly, and runs the sample again live
when they do not (``executor``).  A damaged cache is ignored; an unwritable one only costs
the recording next time.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path

from pytest_codex.core.files import merge_entries
from pytest_codex.core.problems import Problem

CACHE_NAME = "replays.json"
KEEP = 20_000  # problems per Python version (the most recently recorded)


def problem_key(problem: Problem) -> str:
    fields = (problem.prompt, problem.canonical_solution, problem.test, problem.entry_point)
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


class ReplayStore:
    """One per process, shared by its executors (the lanes' threads too: it has a lock), so the
    cache file is read and written once and a recording made by one executor serves all."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / CACHE_NAME if cache_dir is not None else None
        self.version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        self._lock = threading.Lock()
        self._known: dict[str, list[str]] | None = None  # loaded on first use
        self._new: dict[str, list[str]] = {}

    def get(self, problem: Problem) -> list[str] | None:
        """The recorded calls of ``problem``'s tests, or None when none is cached."""
        with self._lock:
            return self._entries().get(problem_key(problem))

    def put(self, problem: Problem, calls: list[str]) -> None:
        key = problem_key(problem)
        with self._lock:
            known = self._entries()
            if known.get(key) != calls:
                known[key] = self._new[key] = list(calls)

    def _entries(self) -> dict[str, list[str]]:
        if self._known is None:
            self._known = self._load()
        return self._known

    def _load(self) -> dict[str, list[str]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            entries = json.loads(self.path.read_text()).get("entries", {}).get(self.version, {})
            return {str(k): v for k, v in entries.items() if isinstance(v, list) and all(isinstance(c, str) for c in v)}
        except (OSError, ValueError, AttributeError):
            return {}  # a damaged cache is recorded again, not trusted

    def save(self) -> None:
        """Merge what this process recorded into the cache file (under a lock)."""
        with self._lock:
            if self._new and self.path is not None and merge_entries(self.path, self.version, self._new, keep=KEEP):
                self._new.clear()
