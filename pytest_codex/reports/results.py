"""Controller side: collect per-problem payloads and turn them into per-model results.

A payload (``pytest_codex.core.records.ProblemPayload``) travels as plain JSON in the call
report's ``codex_payload`` attribute (set by the plugin's ``pytest_runtest_makereport``); it
survives xdist's serialisation unchanged and is rebuilt here.  ``user_properties`` carry only
the few JSON scalars a JUnit consumer reads (``junit_properties``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_codex.core.generation import ModelSource
from pytest_codex.core.passk import mean_pass_at_k
from pytest_codex.core.problems import Suite
from pytest_codex.core.records import ProblemPayload
from pytest_codex.core.verdicts import VERDICTS

if TYPE_CHECKING:
    import pytest

PAYLOAD_ATTR = "codex_payload"  # the report attribute that carries the payload
MARKER = "codex"  # every problem item carries this marker (in its report's keywords)


def payload_from_report(report: Any) -> ProblemPayload | None:
    value = getattr(report, PAYLOAD_ATTR, None)
    return ProblemPayload.from_json(value) if isinstance(value, dict) else None


def junit_properties(payload: ProblemPayload, samples: bool = False) -> list[tuple[str, str | int | float]]:
    """The item's properties for ``--junitxml``: JSON scalars (a string as it is, numbers as
    JSON numbers, ``true``/``false``), never a Python repr.  ``samples``: one more property, a
    JSON array of every sample's index, verdict and completion."""
    props: list[tuple[str, str | int | float]] = [
        ("model", payload.model),
        ("task_id", payload.task_id),
        ("attempted", "true" if payload.attempted else "false"),
        ("n", payload.n),
        ("c", payload.c),
    ]
    if payload.n:
        props.append(("pass@1", payload.c / payload.n))
    failing = next((s for s in payload.samples if not s.passed), None)
    if failing is not None:
        props.append(("first_failing_verdict", failing.verdict.value))
    if samples:
        shown = [{"index": s.index, "verdict": s.verdict.value, "completion": s.completion} for s in payload.samples]
        props.append(("samples", json.dumps(shown)))
    return props


@dataclass
class ModelResult:
    label: str
    raw: str
    problems: list[ProblemPayload]  # attempted payloads, in suite order
    not_attempted: list[str]
    selected: int  # problems that ran for this model (attempted or not)
    suite_total: int
    ks: tuple[int, ...]
    pass_at_k: dict[int, float | None] = field(default_factory=dict)
    k_reasons: dict[int, str] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def sample_counts(self) -> list[int]:
        return [p.n for p in self.problems]


def build_model_result(
    label: str, raw: str, payloads: Sequence[ProblemPayload], suite_total: int, ks: Sequence[int]
) -> ModelResult:
    attempted = [p for p in payloads if p.attempted]
    result = ModelResult(
        label=label,
        raw=raw,
        problems=attempted,
        not_attempted=[p.task_id for p in payloads if not p.attempted],
        selected=len(payloads),
        suite_total=suite_total,
        ks=tuple(ks),
    )
    counts = [(p.n, p.c) for p in attempted]
    for k in ks:
        short = [p for p in attempted if p.n < k]
        if not attempted:
            result.pass_at_k[k] = None
            result.k_reasons[k] = "no problem was attempted"
        elif short:
            result.pass_at_k[k] = None
            ex = short[0]
            result.k_reasons[k] = (
                f"needs at least {k} samples per problem; {len(short)} problem(s) have fewer "
                f"(e.g. {ex.task_id} has {ex.n})"
            )
        else:
            result.pass_at_k[k] = mean_pass_at_k(counts, k)
    result.verdicts = {v: 0 for v in VERDICTS}
    for p in attempted:
        for s in p.samples:
            result.verdicts[s.verdict.value] = result.verdicts.get(s.verdict.value, 0) + 1
    return result


class Collector:
    """Receives every test report on the controller (with or without xdist)."""

    def __init__(self) -> None:
        self.payloads: dict[tuple[str, str], ProblemPayload] = {}
        self.harness_errors: list[str] = []

    def add_report(self, report: pytest.TestReport) -> None:
        payload = payload_from_report(report)
        if payload is not None and report.when == "call":
            self.payloads[(payload.model, payload.task_id)] = payload
            return
        is_codex_item = MARKER in (getattr(report, "keywords", None) or {}) or "test_humaneval" in report.nodeid
        if report.failed and (report.when != "call" or (is_codex_item and payload is None)):
            self.harness_errors.append(f"{report.nodeid} ({report.when})")

    def results(self, models: Sequence[ModelSource], suite: Suite, ks: Sequence[int]) -> list[ModelResult]:
        order = {p.task_id: i for i, p in enumerate(suite.problems)}
        out = []
        for model in models:
            label = model.spec.label
            payloads = sorted(
                (p for (m, _), p in self.payloads.items() if m == label), key=lambda p: order.get(p.task_id, len(order))
            )
            out.append(build_model_result(label, model.spec.raw, payloads, len(suite.problems), ks))
        return out
