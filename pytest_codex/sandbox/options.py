"""Options of the sandbox and the time limits (``CodexOptions.sandbox``).

Every bad value is a ``pytest.UsageError`` naming the option, the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

DEFAULT_FLOOR = 3.0
DEFAULT_FACTOR = 10.0
MODES = ("auto", "strict")


def addoption(group) -> None:
    group.addoption("--codex-sandbox", default="auto", metavar="MODE",
                    help="'auto' (default): run samples with every isolation layer this machine offers and "
                         "name the missing ones; 'strict': refuse to run unless every layer is available")
    group.addoption("--codex-time-floor", default=None, metavar="SECONDS",
                    help=f"time limit per sample = floor + factor x the canonical solution's runtime "
                         f"(measured once, cached in .codex/); the floor (default {DEFAULT_FLOOR:g})")
    group.addoption("--codex-time-factor", default=None, metavar="X",
                    help=f"the factor of that time limit (default {DEFAULT_FACTOR:g})")


@dataclass(frozen=True)
class SandboxOptions:
    mode: str = "auto"
    time_floor: float = DEFAULT_FLOOR
    time_factor: float = DEFAULT_FACTOR
    timeout: float | None = None  # --codex-timeout: one fixed limit for every sample

    @classmethod
    def from_config(cls, config: pytest.Config) -> "SandboxOptions":
        from ..options import parse_positive_float

        mode = str(config.getoption("codex_sandbox")).strip().lower()
        if mode not in MODES:
            raise pytest.UsageError(f"--codex-sandbox={config.getoption('codex_sandbox')!r}: unknown mode; "
                                    "give --codex-sandbox=auto or --codex-sandbox=strict")
        floor = parse_positive_float("--codex-time-floor", config.getoption("codex_time_floor"))
        factor = config.getoption("codex_time_factor")
        if factor is not None:
            try:
                factor = float(factor)
            except ValueError:
                factor = None
            if factor is None or not 0 <= factor < float("inf"):
                raise pytest.UsageError(f"--codex-time-factor={config.getoption('codex_time_factor')!r}: "
                                        "must be a number >= 0; give e.g. --codex-time-factor=10")
        return cls(mode=mode,
                   time_floor=DEFAULT_FLOOR if floor is None else floor,
                   time_factor=DEFAULT_FACTOR if factor is None else factor,
                   timeout=parse_positive_float("--codex-timeout", config.getoption("codex_timeout")))
