"""Worker side: run one problem item (a model's completions for one problem)."""

from __future__ import annotations

import time

import pytest

from .results import PAYLOAD_KEY
from .state import Case, CodexState

SHOW_LINES = 12


def failure_text(case: Case, samples: list[dict]) -> str:
    n = len(samples)
    first = next(s for s in samples if s["verdict"] != "passed")
    head = f"0/{n} samples passed for {case.problem.task_id} ({case.model.spec.label}); "
    head += f"first failing sample #{first['index']}: {first['verdict']}"
    if first.get("error_type") and first["verdict"] != "failed":
        head += f" ({first['error_type']})"
    lines = [head]
    if first.get("detail"):
        lines.append("  " + first["detail"].replace("\n", "\n  "))
    completion = first.get("completion", "").splitlines()
    if completion:
        lines.append("completion:")
        lines += ["  | " + l for l in completion[:SHOW_LINES]]
        if len(completion) > SHOW_LINES:
            lines.append(f"  | ... ({len(completion) - SHOW_LINES} more lines)")
    if first.get("output"):
        lines.append("output (tail):")
        lines += ["  > " + l for l in first["output"].splitlines()[-5:]]
    return "\n".join(lines)


def run_case(state: CodexState, case: Case, node: pytest.Item) -> None:
    if state.exec_started is None:
        state.exec_started = time.perf_counter()
    start = time.perf_counter()
    completions = case.model.completions(case.problem)
    payload = {"model": case.model.spec.label, "task_id": case.problem.task_id,
               "attempted": bool(completions), "n": 0, "c": 0, "samples": []}
    if not completions:
        node.user_properties.append((PAYLOAD_KEY, payload))
        pytest.skip(f"not attempted: {case.model.spec.label} has no samples for {case.problem.task_id}")
    samples = []
    limit = state.time_limits.limit(case.problem, state.executor) if state.time_limits else state.options.timeout
    for comp in completions:
        result = state.executor.run(case.problem, comp.text, limit)
        sample = {"index": comp.index, **result.to_json(), "completion": comp.text}
        for key in ("raw", "sum_logprob", "mean_logprob", "num_tokens"):
            if getattr(comp, key, None) is not None:
                sample[key] = getattr(comp, key)
        samples.append(sample)
    if state.options.experiments.plus:
        from .plus import run_plus

        payload["plus"] = run_plus(state, case.problem, completions, samples)
    payload.update(n=len(samples), c=sum(s["verdict"] == "passed" for s in samples),
                   samples=samples, exec_seconds=time.perf_counter() - start)
    node.user_properties.append((PAYLOAD_KEY, payload))
    if payload["c"] == 0:
        pytest.fail(failure_text(case, samples), pytrace=False)
