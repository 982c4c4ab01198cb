"""The executor seam: how one sample (a completion for a problem) gets its verdict.

The pytest process never executes a completion.  An ``Executor`` runs each sample in a
child process and returns a ``SampleResult``.  ``make_executor`` picks the implementation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from .problems import Problem

PASSED = "passed"
FAILED = "failed"  # an assertion in the tests failed
ERROR = "error"  # an exception (its type is in ``error_type``)
TIMEOUT = "timeout"
SYNTAX_ERROR = "syntax_error"
CRASHED = "crashed"  # a signal, or an exit before the tests finished
VERDICTS = (PASSED, FAILED, ERROR, TIMEOUT, SYNTAX_ERROR, CRASHED)


@dataclass
class SampleResult:
    verdict: str
    error_type: str | None = None
    detail: str | None = None  # failing assertion / exception message / signal
    duration: float = 0.0
    output: str = ""  # capped tail of the sample's stdout+stderr
    time_limit: float | None = None  # the limit the sample ran under (seconds)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def to_json(self) -> dict:
        return asdict(self)


class Executor(Protocol):
    """Runs ``problem``'s tests against ``completion`` outside the calling process."""

    name: str

    def run(self, problem: Problem, completion: str, time_limit: float) -> SampleResult: ...

    def close(self) -> None: ...

    def describe(self) -> dict:
        """What isolation is in force (shown in the header and the manifest)."""
        ...


def make_executor(kind: str = "auto", cpu: int | None = None) -> Executor:
    """The sandbox (``pytest_codex.sandbox``): ``kind`` is 'auto' (every isolation layer the
    machine offers) or 'strict' (all layers, else ``SandboxUnavailable``); ``cpu`` pins the
    calling thread and the samples to one CPU (xdist workers, one CPU each)."""
    from .sandbox.executor import SandboxExecutor

    return SandboxExecutor(kind, cpu=cpu)
