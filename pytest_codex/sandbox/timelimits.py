"""Per-problem time limits: a floor plus a multiple of the canonical solution's runtime.

The canonical solution of each problem is run once through the same sandbox (the best of
two runs) the first time the problem is executed, and the figure is cached in
``<rootdir>/.codex/time-limits.json`` under the suite's sha256 and the Python version, so
later sessions (and the other xdist workers) reuse it.  ``--codex-timeout`` overrides it all.
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path

from pytest_codex.core.files import atomic_write
from pytest_codex.core.problems import Problem

CACHE_NAME = "time-limits.json"
CALIBRATION_LIMIT = 60.0
CALIBRATION_RUNS = 2


class TimeLimits:
    def __init__(
        self, *, floor: float, factor: float, override: float | None, cache_dir: Path | None, suite_sha256: str
    ) -> None:
        self.floor, self.factor, self.override = floor, factor, override
        self.cache_path = cache_dir / CACHE_NAME if cache_dir is not None else None
        self.key = f"{suite_sha256}|python{sys.version_info[0]}.{sys.version_info[1]}"
        self.measured: dict[str, float] = self._load() if override is None else {}
        self._new: dict[str, float] = {}

    def describe(self) -> dict:
        if self.override is not None:
            return {"policy": "fixed", "seconds": self.override}
        return {
            "policy": "floor + factor * canonical runtime",
            "floor_s": self.floor,
            "factor": self.factor,
            "cache": str(self.cache_path) if self.cache_path else None,
        }

    def limit(self, problem: Problem, executor) -> float:
        """The time limit for one sample of ``problem`` (measuring the canonical solution once)."""
        if self.override is not None:
            return self.override
        seconds = self.measured.get(problem.task_id)
        if seconds is None:
            seconds = self._measure(problem, executor)
            self.measured[problem.task_id] = self._new[problem.task_id] = seconds
        return round(self.floor + self.factor * seconds, 3)

    def upper_bound(self) -> float:
        """A limit no sample exceeds by much (for whole-item safety nets)."""
        if self.override is not None:
            return self.override
        return self.floor + self.factor * max(self.measured.values(), default=self.floor)

    @staticmethod
    def _measure(problem: Problem, executor) -> float:
        """The best of two canonical runs; 0 when the canonical solution does not pass (a
        broken problem gets the floor, not a limit scaled by its failure)."""
        best = CALIBRATION_LIMIT
        for _ in range(CALIBRATION_RUNS):
            result = executor.run(problem, problem.canonical_solution, CALIBRATION_LIMIT)
            if not result.passed:
                return 0.0
            best = min(best, result.duration)
        return round(best, 4)

    # -- cache -------------------------------------------------------------------------
    def _load(self) -> dict[str, float]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            entry = json.loads(self.cache_path.read_text()).get("entries", {}).get(self.key, {})
        except (OSError, ValueError, AttributeError):
            return {}  # a damaged cache is re-measured, not trusted
        return {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and v >= 0}

    def save(self) -> None:
        """Merge what this process measured into the cache file (under a lock)."""
        if not self._new or self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    doc = json.loads(self.cache_path.read_text())
                    if not isinstance(doc.get("entries"), dict):
                        raise ValueError
                except (OSError, ValueError, AttributeError):
                    doc = {"schema": 1, "entries": {}}
                doc["entries"].setdefault(self.key, {}).update(self._new)
                atomic_write(self.cache_path, json.dumps(doc, indent=0, sort_keys=True))
        except OSError:
            return  # an unwritable cache only costs a re-measurement next time
        self._new.clear()
