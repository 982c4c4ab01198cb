"""tox.ini and the CI workflow: they parse, and the workflow names environments tox has."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "benchmark.yml"


def tox_ini() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ROOT / "tox.ini")
    return cp


def tox_envs() -> set[str]:
    cp = tox_ini()
    return {s.split(":", 1)[1] for s in cp.sections() if s.startswith("testenv:")}


def workflow_tox_envs(doc: dict) -> list[str]:
    """Every env a `tox -e ...` step of the workflow runs, with matrix values filled in."""
    envs = []
    for job in doc["jobs"].values():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        for step in job["steps"]:
            for m in re.finditer(r"tox -e (?:\$\{\{\s*matrix\.(\w+)\s*\}\}|([\w,.-]+))", step.get("run", "")):
                envs += matrix[m.group(1)] if m.group(1) else m.group(2).split(",")
    return envs


def test_workflow_parses_and_runs_existing_tox_envs():
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers and "workflow_dispatch" in triggers
    envs = workflow_tox_envs(doc)
    assert set(envs) == {"reference", "smollm2", "hf", "report"}
    assert set(envs) <= tox_envs()
    assert doc["jobs"]["report"]["needs"] == ["model", "hf"]


def test_workflow_moves_results_where_tox_writes_and_reads_them():
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    uploads = {s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload-artifact")}
    assert uploads == {".codex/results/", ".codex/leaderboard/"}
    (download,) = [s for s in steps if s.get("uses", "").startswith("actions/download-artifact")]
    assert download["with"]["path"] == ".codex/results"
    report = tox_ini()["testenv:report"]["commands"]
    assert "{toxinidir}/.codex/results" in report and "{toxinidir}/.codex/leaderboard" in report


def test_model_envs_write_results_and_pin_torch():
    cp = tox_ini()
    base = cp["testenv"]["commands"]
    for env in ("reference", "smollm2", "hf"):
        section = cp[f"testenv:{env}"]
        commands = section.get("commands", base)
        assert "--codex-report={toxinidir}/.codex/results/{envname}.json" in commands, env
        if "models" in section.get("extras", ""):
            assert "torch==2.13.0" in section.get("deps", "").split(), f"{env}: torch must be pinned"
    assert "--model=reference" in base and "--codex-fail-under=1" in base
    assert "--model=smollm2" in cp["testenv:smollm2"]["commands"]
    assert "--model=hf:{posargs:{env:CODEX_HF_MODEL:}}" in cp["testenv:hf"]["commands"]


def test_tox_reads_the_file():
    """tox itself parses tox.ini (no environment is created)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tox", "config", "-e", "reference,hf,report", "-k", "commands"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--model=reference" in proc.stdout and "pytest-codex report" in proc.stdout
