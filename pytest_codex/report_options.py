"""Options of the reports: stored runs, comparison, the regression gate, badges, markdown.

Parsed once in ``CodexOptions.from_config`` into ``CodexOptions.reports``; every bad value
is a ``pytest.UsageError`` naming the option, the value and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

DEFAULT_RUNS_DIR = os.path.join(".codex", "runs")


def addoption(group) -> None:
    group.addoption("--codex-save", action="store_true", default=False,
                    help="store this run as NNNN_<models>.json in the runs directory")
    group.addoption("--codex-runs-dir", default=None, metavar="DIR",
                    help=f"directory of stored runs (default {DEFAULT_RUNS_DIR} under the rootdir)")
    group.addoption("--codex-compare", default=None, metavar="RUN",
                    help="compare this run with a stored one: a run id (3, 0003), 'latest', or a results file")
    group.addoption("--codex-fail-regression", default=None, metavar="D",
                    help="exit status 1 when pass@1 dropped by more than D (0..1) against --codex-compare")
    group.addoption("--codex-badge", default=None, metavar="DIR",
                    help="write an SVG badge and a shields.io endpoint JSON per model into DIR")
    group.addoption("--codex-markdown", default=None, metavar="PATH",
                    help="write the pass@k table (with intervals and comparisons) as markdown to PATH")


@dataclass
class ReportOptions:
    save: bool = False
    runs_dir: str = DEFAULT_RUNS_DIR
    compare: str | None = None
    fail_regression: float | None = None
    badge_dir: str | None = None
    markdown: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> "ReportOptions":
        runs_dir = config.getoption("codex_runs_dir") or str(config.rootpath / DEFAULT_RUNS_DIR)
        compare = config.getoption("codex_compare")
        raw = config.getoption("codex_fail_regression")
        fail_regression = None
        if raw is not None:
            try:
                fail_regression = float(raw)
            except ValueError:
                fail_regression = float("nan")
            if not 0.0 <= fail_regression <= 1.0:
                raise pytest.UsageError(f"--codex-fail-regression={raw!r}: not a number between 0 and 1; "
                                        "give the largest tolerated drop of pass@1, e.g. 0.02")
            if compare is None:
                raise pytest.UsageError(f"--codex-fail-regression={raw!r} needs a run to compare with; "
                                        "add --codex-compare=latest (or a run id or results file)")
        for option, value in (("--codex-compare", compare), ("--codex-runs-dir", runs_dir)):
            if value is not None and not str(value).strip():
                raise pytest.UsageError(f"{option}='': empty value; give a run id, 'latest' or a path")
        return cls(save=bool(config.getoption("codex_save")), runs_dir=runs_dir, compare=compare,
                   fail_regression=fail_regression, badge_dir=config.getoption("codex_badge"),
                   markdown=config.getoption("codex_markdown"))
