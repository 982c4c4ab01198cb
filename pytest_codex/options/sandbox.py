"""Options of the sandbox and the time limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_codex.options.declare import Option, Source, Values
from pytest_codex.options.parse import Choice, Integer, Number, OrAuto

DEFAULT_FLOOR = 3.0
DEFAULT_FACTOR = 10.0
DEFAULT_GUARD = 10.0
MODES = ("auto", "strict")
MAX_AUTO_LANES = 4

SANDBOX = Option(
    "--codex-sandbox",
    "'auto': run samples with every isolation layer this machine offers and "
    "name the missing ones; 'strict': refuse to run unless every layer is available",
    Choice(MODES, what="mode"),
    "auto",
    "MODE",
)
TIME_FLOOR = Option(
    "--codex-time-floor",
    "CPU-time limit per sample = floor + factor x the canonical solution's "
    "CPU time (measured once, cached in .codex/); the floor in CPU seconds",
    Number(0.0, math.inf, "3", lo_open=True),
    DEFAULT_FLOOR,
    "SECONDS",
)
TIME_FACTOR = Option(
    "--codex-time-factor", "the factor of that time limit", Number(0.0, math.inf, "10"), DEFAULT_FACTOR, "X"
)
TIMEOUT = Option(
    "--codex-timeout",
    "one fixed CPU-time limit per sample in seconds, instead of the per-problem "
    "limit of --codex-time-floor/--codex-time-factor",
    Number(0.0, math.inf, "3", lo_open=True),
    None,
    "SECONDS",
    shown_default="scaled per problem",
)
TIME_GUARD = Option(
    "--codex-time-guard",
    "the wall-clock guard of a sample, as a multiple of its CPU-time limit: it ends samples "
    "that sleep or block; a sample keeps its verdict under load while it gets 1/X of a core",
    Number(1.0, math.inf, "10"),
    DEFAULT_GUARD,
    "X",
)

LANES = Option(
    "--codex-lanes",
    "samples a single pytest process (no -n) runs at once, each lane a sandbox executor of its own "
    "running the samples ahead of their items; auto = the CPUs this process may use, at most "
    f"{MAX_AUTO_LANES}; 1 = one sample at a time, in the main thread. Under -n each worker is one lane",
    OrAuto(Integer(1, "2")),
    "auto",
    "N",
)

OPTIONS = (SANDBOX, TIMEOUT, TIME_FLOOR, TIME_FACTOR, TIME_GUARD, LANES)


@dataclass(frozen=True)
class SandboxOptions:
    mode: str = "auto"
    time_floor: float = DEFAULT_FLOOR
    time_factor: float = DEFAULT_FACTOR
    timeout: float | None = None  # --codex-timeout: one fixed limit for every sample
    time_guard: float = DEFAULT_GUARD  # the wall-clock guard, a multiple of the CPU-time limit
    lanes: int | None = None  # --codex-lanes (None: auto)
    lanes_source: Source = "default"  # where --codex-lanes came from

    @classmethod
    def from_values(cls, values: Values) -> SandboxOptions:
        return cls(
            mode=values.get(SANDBOX),
            time_floor=values.get(TIME_FLOOR),
            time_factor=values.get(TIME_FACTOR),
            timeout=values.get(TIMEOUT),
            time_guard=values.get(TIME_GUARD),
            lanes=None if (lanes := values.get(LANES)) == "auto" else int(lanes),
            lanes_source=values.sources[LANES.flag],
        )

    def lane_count(self, cpus: int) -> int:
        """How many lanes a single process runs (``--codex-lanes``, or auto for ``cpus`` CPUs)."""
        return self.lanes if self.lanes is not None else max(1, min(cpus, MAX_AUTO_LANES))
