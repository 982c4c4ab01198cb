"""The executor seam: how one sample (a completion for a problem) gets its verdict.

The pytest process never executes a completion.  An ``Executor`` runs each sample in a
child process and returns a ``SampleResult``; ``pytest_codex.sandbox.executor`` implements it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from pytest_codex.core.problems import Problem


class Verdict(str, enum.Enum):
    """Every sample ends with exactly one verdict; only ``PASSED`` counts as correct."""

    PASSED = "passed"
    FAILED = "failed"  # an assertion in the tests failed
    ERROR = "error"  # an exception (its type is in ``error_type``)
    TIMEOUT = "timeout"
    SYNTAX_ERROR = "syntax_error"
    CRASHED = "crashed"  # a signal, or an exit before the tests finished

    def __str__(self) -> str:
        return self.value


VERDICTS = tuple(v.value for v in Verdict)  # in display order


@dataclass
class SampleResult:
    verdict: Verdict
    error_type: str | None = None
    detail: str | None = None  # failing assertion / exception message / signal
    duration: float = 0.0
    output: str = ""  # capped tail of the sample's stdout+stderr
    time_limit: float | None = None  # the CPU-time limit the sample ran under (seconds)
    cpu_time: float | None = None  # CPU seconds its processes used together (None: not measured)

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)  # a plain string is accepted; an unknown one is a ValueError

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "error_type": self.error_type,
            "detail": self.detail,
            "duration": self.duration,
            "output": self.output,
            "time_limit": self.time_limit,
            "cpu_time": self.cpu_time,
        }


class Executor(Protocol):
    """Runs ``problem``'s tests against ``completion`` outside the calling process."""

    name: str

    def run(
        self, problem: Problem, completion: str, time_limit: float, wall_limit: float | None = None
    ) -> SampleResult:
        """``time_limit``: CPU seconds; ``wall_limit``: the wall-clock guard (None: the
        executor's default multiple of ``time_limit``)."""
        ...

    def close(self) -> None: ...

    def describe(self) -> dict:
        """What isolation is in force (shown in the header and the manifest)."""
        ...
