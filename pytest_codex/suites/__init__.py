"""Generated problem suites, selected with ``--codex-suite=NAME`` like HumanEval.

A generated suite is a normal ``Suite`` of ``Problem``s built deterministically from the
session's options, so every process (controller and xdist workers) builds the same one.
Builders are imported lazily: name -> "module:function(ExperimentOptions) -> Suite".
"""

from __future__ import annotations

import importlib

GENERATED: dict[str, str] = {
    "chains": "pytest_codex.suites.chains:build_suite",
}


def build_generated(name: str, options):
    from ..drawing import MissingHypothesis
    from ..experiment_options import ExperimentOptions
    from ..problems import ProblemFileError

    module, _, attr = GENERATED[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)(options.experiments if options else ExperimentOptions())
    except MissingHypothesis as exc:
        raise ProblemFileError(f"--codex-suite={name}: {exc}") from None
