"""Controller side: collect per-problem payloads and turn them into per-model results.

A payload (``pytest_codex.core.records.ProblemPayload``) travels as plain JSON in
``user_properties`` under the key ``codex``; it survives xdist's serialisation unchanged and
is rebuilt here.
"""

from __future__ import annotations

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

PAYLOAD_KEY = "codex"
PLUS_SOURCE = "evalplus"  # a payload's plus record from a suite in EvalPlus's format


def payload_from_report(report: Any) -> ProblemPayload | None:
    for key, value in getattr(report, "user_properties", ()) or ():
        if key == PAYLOAD_KEY and isinstance(value, dict):
            return ProblemPayload.from_json(value)
    return None


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
    # a suite in EvalPlus's format: pass@k on base and plus inputs (HumanEval+), beside pass@k on base
    pass_at_k_plus: dict[int, float | None] | None = None

    def plus_problems(self) -> list[ProblemPayload]:
        """The payloads with the plus count as their c (for intervals of plus pass@k)."""
        return [ProblemPayload(p.model, p.task_id, True, p.n, int((p.plus or {})["c"])) for p in self.problems]

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
    if attempted and all(isinstance(p.plus, dict) and p.plus.get("source") == PLUS_SOURCE for p in attempted):
        plus_counts = [(p.n, int(p.plus["c"])) for p in attempted if p.plus is not None]
        result.pass_at_k_plus = {
            k: mean_pass_at_k(plus_counts, k) if result.pass_at_k[k] is not None else None for k in ks
        }
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
        is_codex_item = "test_humaneval" in report.nodeid or any(
            k == PAYLOAD_KEY for k, _ in getattr(report, "user_properties", ()) or ()
        )
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
