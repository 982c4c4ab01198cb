"""Controller side: collect per-problem payloads and turn them into per-model results.

A payload (``pytest_codex.core.records.ProblemPayload``) travels as plain JSON in the call
report's ``codex_payload`` attribute (set by the plugin's ``pytest_runtest_makereport``); it
survives xdist's serialisation unchanged and is rebuilt here.  ``user_properties`` carry only
the few JSON scalars a JUnit consumer reads (``junit_properties``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
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


class Gap(str, enum.Enum):
    """Why a planned problem has no score, in the order they are shown."""

    DESELECTED = "deselected"  # -k, --lf, -m, --deselect: the run did not select it
    NOT_ATTEMPTED = "not_attempted"  # it ran, but the model has no samples for it
    STOPPED = "stopped"  # -x / --maxfail stopped the run before it
    INTERRUPTED = "interrupted"  # Ctrl-C (or another interrupt) before it finished
    WORKER_CRASH = "worker_crash"  # the xdist worker running it died
    HARNESS_ERROR = "harness_error"  # its item errored outside the benchmark (setup, a plugin)
    SKIPPED = "skipped"  # its item was skipped by a marker or a plugin
    NOT_RUN = "not_run"  # selected, but no report came back (and the run was not interrupted)
    UNKNOWN = "unknown"  # not recorded (results files written before coverage was)

    def __str__(self) -> str:
        return self.value

    @property
    def words(self) -> str:
        return _GAP_WORDS[self]


_GAP_WORDS = {
    Gap.DESELECTED: "deselected",
    Gap.NOT_ATTEMPTED: "not attempted: no samples",
    Gap.STOPPED: "not run: stopped early (-x/--maxfail)",
    Gap.INTERRUPTED: "not run: interrupted",
    Gap.WORKER_CRASH: "lost: the xdist worker crashed",
    Gap.HARNESS_ERROR: "harness error",
    Gap.SKIPPED: "skipped",
    Gap.NOT_RUN: "not run",
    Gap.UNKNOWN: "not scored (reason not recorded)",
}


class Ending(str, enum.Enum):
    """How the session ended, for the problems it never reached."""

    COMPLETE = "complete"
    STOPPED = "stopped"  # -x / --maxfail
    INTERRUPTED = "interrupted"  # Ctrl-C


@dataclass
class Coverage:
    """What a run planned for one model (every problem of the suite, the model's samples
    each) and what it scored; every unscored problem has a reason."""

    problems_planned: int
    problems_scored: int
    samples_planned: int
    samples_scored: int
    gaps: dict[str, int] = field(default_factory=dict)  # Gap value -> problems
    examples: dict[str, str] = field(default_factory=dict)  # Gap value -> one task id
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.problems_scored == self.problems_planned and not self.interrupted

    def short(self) -> str:
        """``partial: 60 of 164 problems``, or ``complete``."""
        if self.complete:
            return "complete"
        return f"partial: {self.problems_scored} of {self.problems_planned} problems"

    def reasons(self) -> str:
        """``104 interrupted, 2 worker crash (e.g. HumanEval/7)``: every gap, with an example."""
        parts = []
        for gap in Gap:
            count = self.gaps.get(gap.value, 0)
            if count:
                example = self.examples.get(gap.value)
                parts.append(f"{count} {gap.words}" + (f", e.g. {example}" if example else ""))
        return "; ".join(parts)

    def describe(self) -> str:
        """``partial: 60 of 164 problems (104 interrupted)``, or ``complete: 164 of 164 problems``."""
        if self.complete:
            return f"complete: {self.problems_scored} of {self.problems_planned} problems"
        why = self.reasons()
        return self.short() + (f" ({why})" if why else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "interrupted": self.interrupted,
            "problems": {"planned": self.problems_planned, "scored": self.problems_scored},
            "samples": {"planned": self.samples_planned, "scored": self.samples_scored},
            "gaps": {gap.value: self.gaps.get(gap.value, 0) for gap in Gap if self.gaps.get(gap.value)},
            "gap_examples": dict(self.examples),
        }

    @classmethod
    def from_json(cls, data: Any) -> Coverage | None:
        """A results file's coverage record; None when it is missing or malformed."""
        try:
            gaps = {str(k): int(v) for k, v in (data.get("gaps") or {}).items()}
            return cls(
                problems_planned=int(data["problems"]["planned"]),
                problems_scored=int(data["problems"]["scored"]),
                samples_planned=int(data["samples"]["planned"]),
                samples_scored=int(data["samples"]["scored"]),
                gaps=gaps,
                examples={str(k): str(v) for k, v in (data.get("gap_examples") or {}).items()},
                interrupted=bool(data.get("interrupted", False)),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


def derive_coverage(
    payloads: Sequence[ProblemPayload], suite_total: int, samples_per_problem: int, unrecorded: Gap = Gap.UNKNOWN
) -> Coverage:
    """Coverage from what the payloads alone say: scored problems, not attempted ones, and
    the rest of the suite as ``unrecorded`` (for results files without a coverage record)."""
    attempted = [p for p in payloads if p.attempted]
    not_attempted = [p.task_id for p in payloads if not p.attempted]
    rest = max(0, suite_total - len(payloads))
    gaps = {Gap.NOT_ATTEMPTED.value: len(not_attempted), unrecorded.value: rest}
    return Coverage(
        problems_planned=max(suite_total, len(payloads)),
        problems_scored=len(attempted),
        samples_planned=sum(p.n for p in attempted)
        + (max(suite_total, len(payloads)) - len(attempted)) * samples_per_problem,
        samples_scored=sum(p.n for p in attempted),
        gaps={k: v for k, v in gaps.items() if v},
        examples={Gap.NOT_ATTEMPTED.value: not_attempted[0]} if not_attempted else {},
    )


PLUS_SOURCE = "evalplus"  # a payload's plus record from a suite in EvalPlus's format


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
    coverage: Coverage = field(default_factory=lambda: Coverage(0, 0, 0, 0))
    # a suite in EvalPlus's format: pass@k on base and plus inputs (HumanEval+), beside pass@k on base
    pass_at_k_plus: dict[int, float | None] | None = None

    def plus_problems(self) -> list[ProblemPayload]:
        """The payloads with the plus count as their c (for intervals of plus pass@k)."""
        return [ProblemPayload(p.model, p.task_id, True, p.n, int((p.plus or {})["c"])) for p in self.problems]

    @property
    def sample_counts(self) -> list[int]:
        return [p.n for p in self.problems]

    @property
    def partial(self) -> bool:
        return not self.coverage.complete


def build_model_result(
    label: str,
    raw: str,
    payloads: Sequence[ProblemPayload],
    suite_total: int,
    ks: Sequence[int],
    coverage: Coverage | None = None,
) -> ModelResult:
    """pass@k over the attempted payloads; ``coverage`` (default: what the payloads say)."""
    attempted = [p for p in payloads if p.attempted]
    result = ModelResult(
        label=label,
        raw=raw,
        problems=attempted,
        not_attempted=[p.task_id for p in payloads if not p.attempted],
        selected=len(payloads),
        suite_total=suite_total,
        ks=tuple(ks),
        coverage=coverage or derive_coverage(payloads, suite_total, max((p.n for p in attempted), default=1)),
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


def _unscored_reason(report: Any) -> Gap | None:
    """Why a report without a payload leaves its problem unscored (None: it does not)."""
    if report.when == "???" or "crashed while running" in str(getattr(report, "longrepr", "") or ""):
        return Gap.WORKER_CRASH  # pytest-xdist's report for the item a dead worker was running
    if report.failed:
        return Gap.HARNESS_ERROR
    if report.skipped:
        return Gap.SKIPPED
    return None


class Collector:
    """Receives every test report on the controller (with or without xdist)."""

    def __init__(self) -> None:
        self.payloads: dict[tuple[str, str], ProblemPayload] = {}
        self.harness_errors: list[str] = []
        self.unscored: dict[str, Gap] = {}  # node id -> why it has no payload

    def add_report(self, report: pytest.TestReport) -> None:
        payload = payload_from_report(report)
        if payload is not None and report.when == "call":
            self.payloads[(payload.model, payload.task_id)] = payload
            self.unscored.pop(report.nodeid, None)
            return
        is_codex_item = MARKER in (getattr(report, "keywords", None) or {}) or "test_humaneval" in report.nodeid
        if report.failed and (report.when != "call" or (is_codex_item and payload is None)):
            self.harness_errors.append(f"{report.nodeid} ({report.when})")
        reason = _unscored_reason(report) if payload is None else None
        if reason is not None and self.unscored.get(report.nodeid) is not Gap.WORKER_CRASH:
            self.unscored[report.nodeid] = reason

    def results(
        self,
        models: Sequence[ModelSource],
        suite: Suite,
        ks: Sequence[int],
        selected: set[tuple[str, str]] | None = None,
        unscored: Mapping[tuple[str, str], Gap] | None = None,
        ending: Ending = Ending.COMPLETE,
    ) -> list[ModelResult]:
        """Per-model results.  ``selected``: the (label, task id) of the items the session
        selected (None: every problem); ``unscored``: why an item ran without a payload;
        ``ending``: how the session ended (for the selected problems it never reached)."""
        order = {p.task_id: i for i, p in enumerate(suite.problems)}
        unscored = unscored or {}
        out = []
        for model in models:
            label = model.spec.label
            payloads = sorted(
                (p for (m, _), p in self.payloads.items() if m == label), key=lambda p: order.get(p.task_id, len(order))
            )
            gaps: dict[str, int] = {}
            examples: dict[str, str] = {}
            for problem in suite.problems:
                key = (label, problem.task_id)
                payload = self.payloads.get(key)
                if payload is not None and payload.attempted:
                    continue
                if payload is not None:
                    gap = Gap.NOT_ATTEMPTED
                elif selected is not None and key not in selected:
                    gap = Gap.DESELECTED
                elif key in unscored:
                    gap = unscored[key]
                else:
                    gap = {Ending.STOPPED: Gap.STOPPED, Ending.INTERRUPTED: Gap.INTERRUPTED}.get(ending, Gap.NOT_RUN)
                gaps[gap.value] = gaps.get(gap.value, 0) + 1
                examples.setdefault(gap.value, problem.task_id)
            scored = [p for p in payloads if p.attempted]
            coverage = Coverage(
                problems_planned=len(suite.problems),
                problems_scored=len(scored),
                samples_planned=sum(p.n for p in scored) + (len(suite.problems) - len(scored)) * model.max_samples,
                samples_scored=sum(p.n for p in scored),
                gaps=gaps,
                examples={k: v for k, v in examples.items() if k != Gap.DESELECTED.value},
                interrupted=ending is Ending.INTERRUPTED,
            )
            out.append(build_model_result(label, model.spec.raw, payloads, len(suite.problems), ks, coverage))
        return out
