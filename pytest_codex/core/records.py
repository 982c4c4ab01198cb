"""The records one problem item produces: ``SampleRecord`` per sample and a
``ProblemPayload`` per (model, problem).

A payload crosses the process boundary (xdist worker -> controller) as plain JSON in
``item.user_properties`` (``to_json``) and is rebuilt on the other side (``from_json``); the
results file keeps the same shape, so stored runs load through ``from_json`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_codex.core import text
from pytest_codex.core.generation import Completion
from pytest_codex.core.verdicts import SampleResult, Verdict

# fields of a Completion kept with its sample when the backend gave them
COMPLETION_EXTRAS = ("raw", "sum_logprob", "mean_logprob", "num_tokens")
RANKING_SCORES = ("backtranslation",)  # scores set on a sample after it was executed


def _utf8(value: Any) -> Any:
    return text.valid_utf8(value) if isinstance(value, str) else value


@dataclass
class SampleRecord:
    index: int
    verdict: Verdict
    error_type: str | None = None
    detail: str | None = None
    duration: float = 0.0
    output: str = ""
    time_limit: float | None = None
    cpu_time: float | None = None
    completion: str = ""
    raw: str | None = None
    sum_logprob: float | None = None
    mean_logprob: float | None = None
    num_tokens: int | None = None
    plus_verdict: str | None = None  # --codex-plus: the plus tests' verdict, or base_<verdict>
    plus_detail: str | None = None
    # a suite of inputs (EvalPlus's format): the first input that failed, and how
    # ({"tests": "base" | "plus", "index", "input", "got", "expected"})
    failing_input: dict[str, Any] | None = None
    # --codex-plus with a suite in EvalPlus's format: the verdict on the generated inputs
    # ({"verdict", "detail", "failing_input"}), for a sample that passed base
    generated: dict[str, Any] | None = None
    ranking: dict[str, float | None] = field(default_factory=dict)  # scores set after execution
    # (back-translation: log P(docstring | code); None = could not be scored, ranked last)

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    @classmethod
    def of(cls, completion: Completion, result: SampleResult) -> SampleRecord:
        return cls(
            index=completion.index,
            verdict=result.verdict,
            error_type=result.error_type,
            detail=result.detail,
            duration=result.duration,
            output=result.output,
            time_limit=result.time_limit,
            cpu_time=result.cpu_time,
            completion=text.valid_utf8(completion.text),  # JSON, xdist and XML need valid UTF-8
            **{k: _utf8(getattr(completion, k)) for k in COMPLETION_EXTRAS},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            **SampleResult(
                self.verdict, self.error_type, self.detail, self.duration, self.output, self.time_limit, self.cpu_time
            ).to_json(),
            "completion": self.completion,
        }
        for key in COMPLETION_EXTRAS + ("plus_verdict", "plus_detail", "failing_input", "generated"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(self.ranking)
        return out

    def scores(self) -> dict[str, float | None]:
        """The ranking scores this sample has: its log-probabilities (when the backend gave
        them) and the scores set after execution."""
        out: dict[str, float | None] = {
            k: getattr(self, k) for k in ("sum_logprob", "mean_logprob") if getattr(self, k) is not None
        }
        return {**out, **self.ranking}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleRecord:
        known = cls.__dataclass_fields__
        record = cls(**{k: v for k, v in data.items() if k in known and k != "ranking"})
        record.ranking = {k: data[k] for k in RANKING_SCORES if k in data}
        return record


@dataclass
class ProblemPayload:
    model: str  # the model's label
    task_id: str
    attempted: bool = True
    n: int = 0  # samples scored
    c: int = 0  # samples that passed
    samples: list[SampleRecord] = field(default_factory=list)
    plus: dict[str, Any] | None = None  # --codex-plus: {"tests": N, "c": passed}
    exec_seconds: float = 0.0

    @classmethod
    def scored(cls, model: str, task_id: str, samples: list[SampleRecord], **extra: Any) -> ProblemPayload:
        return cls(model, task_id, True, len(samples), sum(s.passed for s in samples), samples, **extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "task_id": self.task_id,
            "attempted": self.attempted,
            "n": self.n,
            "c": self.c,
            "samples": [s.to_json() for s in self.samples],
        }
        if self.plus is not None:
            out["plus"] = self.plus
        if self.attempted:
            out["exec_seconds"] = self.exec_seconds
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], model: str = "") -> ProblemPayload:
        """From a payload, or from a results file's problem record (which names no model)."""
        return cls(
            model=data.get("model", model),
            task_id=data["task_id"],
            attempted=data.get("attempted", True),
            n=int(data.get("n", 0)),
            c=int(data.get("c", 0)),
            samples=[SampleRecord.from_json(s) for s in data.get("samples") or []],
            plus=data.get("plus"),
            exec_seconds=data.get("exec_seconds", 0.0),
        )
