"""The sandbox through the plugin: header, options, manifest, per-sample limits, xdist twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HOSTILE_SAMPLES = [
    ("HumanEval/0", "    import os\n    os._exit(0)\n"),
    ("HumanEval/0", "    class E:\n        def __eq__(self, o): return True\n    return E()\n"),
    ("HumanEval/0", "    import ctypes\n    ctypes.string_at(0)\n"),
    ("HumanEval/0", "    while True:\n        pass\n"),
    ("HumanEval/0", "    print('passed')\n    return True\n"),
    ("HumanEval/2", "    import os, signal\n    os.killpg(0, signal.SIGKILL)\n"),
    ("HumanEval/2", "    import socket\n    socket.socket().connect(('127.0.0.1', 1))\n"),
    ("HumanEval/2", "    return number % 1.0\n"),  # correct
]


def samples_file(path: Path) -> Path:
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in HOSTILE_SAMPLES))
    return path


def verdicts(report: Path) -> dict:
    run = json.loads(report.read_text())["runs"][0]
    return {p["task_id"]: [(s["verdict"], s.get("error_type")) for s in p["samples"]] for p in run["problems"]}


def test_header_names_the_isolation_layers(project):
    result = project.runpytest_subprocess("--model=reference", "-k", "HumanEval/0]")
    header = [ln for ln in result.outlines if ln.startswith("codex: executor")]
    assert header and header[0].startswith("codex: executor sandbox, isolation: session,")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_strict_mode_runs_where_every_layer_exists(project, workers):
    result = project.runpytest_subprocess(
        "--model=reference", "--codex-sandbox=strict", "-n", workers, "-k", "HumanEval/0] or HumanEval/1]"
    )
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--codex-sandbox=paranoid"], "--codex-sandbox='paranoid': unknown mode; give --codex-sandbox=auto or"),
        (["--codex-time-floor=0"], "--codex-time-floor='0': must be a positive, finite number"),
        (["--codex-time-factor=-1"], "--codex-time-factor='-1': must be a number >= 0"),
        (["--codex-time-factor=lots"], "--codex-time-factor='lots': not a number"),
    ],
)
def test_bad_sandbox_options_are_usage_errors(project, args, message):
    result = project.runpytest_subprocess("--model=reference", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_hostile_samples_fail_identically_with_and_without_xdist_and_lanes(project, tmp_path):
    samples = samples_file(tmp_path / "hostile.jsonl")
    got = {}
    for name, args in {
        "one": ["-n", "0", "--codex-lanes=1"],
        "lanes": ["--codex-lanes=3"],
        "xdist": ["-n", "2"],
    }.items():
        report = tmp_path / f"r-{name}.json"
        project.runpytest_subprocess(
            f"--model=samples:{samples}",
            *args,
            "--codex-timeout=1",
            "-k",
            "HumanEval/0] or HumanEval/2]",
            f"--codex-report={report}",
        )
        got[name] = verdicts(report)
    assert got["one"] == got["lanes"] == got["xdist"]
    assert got["one"] == {
        "HumanEval/0": [
            ("crashed", None),
            ("error", "UnsupportedResultType"),
            ("crashed", None),
            ("timeout", None),
            ("failed", "AssertionError"),
        ],
        "HumanEval/2": [("crashed", None), ("error", "PermissionError"), ("passed", None)],
    }


def test_time_limits_are_scaled_recorded_and_overridable(project, tmp_path):
    report = tmp_path / "r.json"
    project.runpytest_subprocess(
        "--model=reference",
        "-k",
        "HumanEval/0] or HumanEval/1]",
        "--codex-time-floor=1.5",
        "--codex-time-factor=4",
        "--codex-time-guard=6",
        f"--codex-report={report}",
    )
    run = json.loads(report.read_text())["runs"][0]
    assert run["manifest"]["execution"]["time_limits"] == {
        "policy": "floor + factor * canonical CPU time",
        "floor_s": 1.5,
        "factor": 4.0,
        "judged": "CPU time (user + system) of all of the sample's processes, from their rusage",
        "hard_stop": "RLIMIT_CPU per process at the limit rounded up (SIGXCPU, then SIGKILL)",
        "wall_guard_factor": 6.0,
        "calibration": "the canonical solution's CPU time through the sandbox, best of 2",
        "cache": str(project.path / ".codex" / "time-limits.json"),
    }
    assert run["manifest"]["execution"]["wall_guard_factor"] == 6.0  # the executor's own record
    assert all(s["cpu_time"] is not None for p in run["problems"] for s in p["samples"])
    cached = json.loads((project.path / ".codex" / "time-limits.json").read_text())["entries"]
    (measured,) = cached.values()
    for p in run["problems"]:
        assert p["samples"][0]["time_limit"] == pytest.approx(1.5 + 4 * measured[p["task_id"]], abs=1e-3)
    project.runpytest_subprocess(
        "--model=reference", "-k", "HumanEval/0]", "--codex-timeout=2", f"--codex-report={report}"
    )
    run = json.loads(report.read_text())["runs"][0]
    limits = run["manifest"]["execution"]["time_limits"]
    assert limits["policy"] == "fixed CPU time" and limits["seconds"] == 2.0 and limits["wall_guard_factor"] == 10.0
    assert run["problems"][0]["samples"][0]["time_limit"] == 2.0
