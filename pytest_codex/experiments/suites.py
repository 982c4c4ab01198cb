"""Every suite by name: problem files (``pytest_codex.core.problems``) and the generated
suites, which ``--codex-suite=NAME`` selects like HumanEval.

A generated suite is a normal ``Suite`` of ``Problem``s built deterministically from the
session's options, so every process (controller and xdist workers) builds the same one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_codex.core.errors import ProblemFileError
from pytest_codex.core.problems import Suite
from pytest_codex.core.problems import load_suite as load_problem_file
from pytest_codex.experiments import binding, chains
from pytest_codex.experiments.drawing import MissingHypothesis
from pytest_codex.options.experiment import ExperimentOptions

GENERATED: dict[str, Callable[[ExperimentOptions], Suite]] = {
    "chains": chains.build_suite,
    "binding": binding.build_suite,
}


def load_suite(
    spec: str = "humaneval", options: ExperimentOptions | None = None, cache_dir: Path | None = None
) -> Suite:
    """``spec`` is a generated suite's name, ``humaneval``, or a JSONL(.gz) path (read from
    its parsed copy in ``cache_dir`` when it has one)."""
    if spec not in GENERATED:
        return load_problem_file(spec, cache_dir)
    try:
        return GENERATED[spec](options or ExperimentOptions())
    except MissingHypothesis as exc:
        raise ProblemFileError(f"--codex-suite={spec}: {exc}") from None
