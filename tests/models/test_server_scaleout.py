"""Execution spread over xdist nodes given with ``--tx`` (the path used across machines)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support import strip_keys

SELECT = "HumanEval/0] or HumanEval/1] or HumanEval/2] or HumanEval/3]"


def _samples(path: Path) -> Path:
    rows = [
        ("HumanEval/0", "    return False\n"),
        ("HumanEval/1", "    return []\n"),
        ("HumanEval/2", "    return number % 1.0\n"),
        ("HumanEval/2", "    return 0.5\n"),
    ]
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in rows))
    return path


def _runs(report: Path) -> object:
    volatile = ("duration", "exec_seconds", "command", "seconds", "execution", "cpu_time")
    return strip_keys(json.loads(report.read_text())["runs"], volatile)


def test_tx_popen_nodes_execute_and_the_controller_reports(project, tmp_path):
    samples = _samples(tmp_path / "s.jsonl")
    common = ["--model=reference", f"--model=samples:{samples}", "-k", SELECT, "-v"]
    single = project.runpytest_subprocess(*common, f"--codex-report={tmp_path / 'single.json'}")
    spread = project.runpytest_subprocess(
        *common, "--tx", "2*popen", "--dist=load", f"--codex-report={tmp_path / 'tx.json'}"
    )
    # reference passes 4; samples: 0 and 1 fail, 2 passes (1 of 2 samples), 3 not attempted
    for result, report in ((single, "single.json"), (spread, "tx.json")):
        result.assert_outcomes(passed=5, failed=2, skipped=1)
        result.stdout.re_match_lines([r".*pytest-codex: humaneval", r"reference\s+4\s+1\s+1\.0\b"])
        runs = json.loads((tmp_path / report).read_text())["runs"]
        assert [r["pass_at_k"]["1"] for r in runs] == [1.0, pytest.approx(1 / 6)]
    # both nodes ran items; the controller alone printed the table and wrote the file
    workers = set(re.findall(r"\[(gw\d+)\]", spread.stdout.str()))
    assert workers == {"gw0", "gw1"}, spread.stdout.str()
    assert not re.search(r"\[gw\d+\]", single.stdout.str())
    assert _runs(tmp_path / "tx.json") == _runs(tmp_path / "single.json")


@pytest.mark.parametrize("args", [["--dist=load"], ["--tx", "2*popen"]])
def test_dist_or_tx_alone_runs_in_one_process(project, args):
    result = project.runpytest_subprocess("--model=reference", "-k", SELECT, "-v", *args)
    result.assert_outcomes(passed=4)
    result.stdout.re_match_lines([r".*pytest-codex: humaneval", r"reference\s+4\s+1\s+1\.0\b"])
    assert not re.search(r"\[gw\d+\]", result.stdout.str())
