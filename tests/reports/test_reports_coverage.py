"""Coverage: a partial run (a samples file for some problems, -k, -x, Ctrl-C, a worker that
dies) says so in the table, the results file, the stored run, the markdown and the badge;
the gates refuse it unless --codex-allow-partial; ``latest`` is never a partial run.  Real
inner pytest runs, each with an ``-n 2`` twin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.generation import ModelSpec
from pytest_codex.core.problems import Problem, Suite
from pytest_codex.core.records import ProblemPayload
from pytest_codex.reports.results import Collector, Coverage, Ending, Gap
from pytest_codex.reports.runs import RunFileError, RunStore

from reports_support import TOY_PROBLEMS, write_jsonl, write_samples, write_suite
from support import descendants, survivors, terminal_signals, usage_error

ALL = {i: [True, True] for i in range(6)}
MIXED = {0: [True], 1: [False], 2: [True], 3: [False], 4: [True], 5: [True]}


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    write_suite(project.path)
    write_samples(project.path / "all.jsonl", ALL)
    write_samples(project.path / "some.jsonl", {i: [True] for i in range(4)})  # 4 of 6 problems
    write_samples(project.path / "mixed.jsonl", MIXED)
    return project


def run(project, *args, workers="0"):
    return project.runpytest_subprocess("--codex-suite=toy.jsonl", "-n", workers, *args, "test_humaneval.py")


def coverage(project, name="r.json") -> dict:
    doc = json.loads((project.path / name).read_text())
    (run_,) = doc["runs"]
    return {"doc": doc, **run_["coverage"], "scored_ids": [p["task_id"] for p in run_["problems"]]}


def stored(project) -> list[str]:
    return sorted(p.name for p in (project.path / ".codex" / "runs").glob("*.json"))


CASES = {
    # name: (args, scored problems, gaps)
    "samples-file": (["--model=samples:some.jsonl"], 4, {"not_attempted": 2}),
    "k": (["--model=samples:all.jsonl", "-k", "toy/0] or toy/1] or toy/2]"], 3, {"deselected": 3}),
}


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("case", CASES)
def test_a_partial_run_says_so_everywhere_and_fails_the_gates(project, workers, case):
    args, scored, gaps = CASES[case]
    assert run(project, "--model=samples:all.jsonl", "--codex-save").ret == 0  # run 0001: complete
    result = run(
        project,
        *args,
        "--codex-fail-under=0",
        "--codex-save",
        "--codex-report=r.json",
        "--codex-markdown=board.md",
        "--codex-badge=badges",
        workers=workers,
    )
    assert result.ret == 1  # pass@1 is 1.0, but over a part of the suite
    out = result.stdout.str()
    assert f"toy.jsonl: PARTIAL: over {scored} of 6 problems (" in out
    result.stdout.fnmatch_lines([f"samples:* {scored} *1.0*partial: {scored} of 6 problems"])
    result.stdout.fnmatch_lines(
        [f"gates: samples:*: partial: {scored} of 6 problems (*; failing: a partial run is not gated*"]
    )
    cov = coverage(project)
    assert cov["complete"] is False and cov["interrupted"] is False and cov["doc"]["complete"] is False
    assert cov["problems"] == {"planned": 6, "scored": scored} and len(cov["scored_ids"]) == scored
    assert cov["gaps"] == gaps
    assert "partial: " + f"{scored} of 6 problems" in (project.path / "board.md").read_text()
    badge = json.loads(next((project.path / "badges").glob("*.json")).read_text())
    assert badge["message"] == "100.0% (partial)" and badge["color"] == "lightgrey"
    assert stored(project)[1].startswith("0002_") and stored(project)[1].endswith(".partial.json")
    assert RunStore(project.path / ".codex" / "runs").resolve("latest")[0] == "run 0001"
    # the regression gate refuses it too; --codex-allow-partial lets both gates judge it
    regression = run(project, *args, "--codex-compare=latest", "--codex-fail-regression=0.5", workers=workers)
    assert regression.ret == 1 and "failing: a partial run is not gated" in regression.stdout.str()
    allowed = run(
        project, *args, "--codex-fail-under=0", "--codex-allow-partial", "--codex-report=r.json", workers=workers
    )
    assert allowed.ret == 0 and "gated anyway (--codex-allow-partial)" in allowed.stdout.str()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_exitfirst_gives_a_partial_run(project, workers):
    result = run(
        project,
        "--model=samples:mixed.jsonl",
        "-x",
        "--codex-fail-under=0.4",
        "--codex-save",
        "--codex-report=r.json",
        workers=workers,
    )
    assert result.ret == 1
    cov = coverage(project)
    scored = cov["problems"]["scored"]
    assert 2 <= scored < 6 and cov["complete"] is False and cov["interrupted"] is False
    assert cov["gaps"] == {"stopped": 6 - scored}
    assert f"PARTIAL: over {scored} of 6 problems ({6 - scored} not run: stopped early (-x/--maxfail)" in (
        result.stdout.str()
    )
    assert stored(project)[0].endswith(".partial.json")
    with pytest.raises(RunFileError, match="no complete run is stored"):
        RunStore(project.path / ".codex" / "runs").resolve("latest")
    allowed = run(project, "--model=samples:mixed.jsonl", "-x", "--codex-fail-under=0.4", "--codex-allow-partial")
    assert allowed.ret == 0  # pass@1 over the problems it reached: 1 of 2


KILLING_CONFTEST = """
import os, signal

def pytest_runtest_call(item):
    marker = os.path.join(str(item.config.rootpath), "killed-once")
    if "toy/3" in item.nodeid and hasattr(item.config, "workerinput") and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_worker_killed_mid_run_gives_a_partial_run(project):
    project.makeconftest(KILLING_CONFTEST)
    result = run(
        project,
        "--model=samples:all.jsonl",
        "--codex-fail-under=0",
        "--codex-save",
        "--codex-report=r.json",
        workers="2",
    )
    assert result.ret == 1
    cov = coverage(project)
    assert cov["problems"] == {"planned": 6, "scored": 5} and "toy/3" not in cov["scored_ids"]
    assert cov["gaps"] == {"worker_crash": 1} and cov["gap_examples"] == {"worker_crash": "toy/3"}
    assert "(1 lost: the xdist worker crashed, e.g. toy/3)" in result.stdout.str()
    assert stored(project)[0].endswith(".partial.json")
    # a crash is a harness error as well: --codex-allow-partial does not excuse it
    (project.path / "killed-once").unlink()
    allowed = run(project, "--model=samples:all.jsonl", "--codex-fail-under=0", "--codex-allow-partial", workers="2")
    assert allowed.ret == 1 and "harness errors: 1 item(s) failed outside the benchmark" in allowed.stdout.str()


# Each sample spends 0.5 s of its own CPU time, so a run of 6 problems x 2 samples is long
# enough to be interrupted in the middle.
SLOW = "    import time as _t\n    while _t.process_time() < 0.5:\n        pass\n"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_mid_run_gives_a_flagged_partial_run_and_leaves_no_process(project, workers):
    write_jsonl(
        project.path / "slow.jsonl",
        [
            {"task_id": p["task_id"], "completion": SLOW + p["canonical_solution"]}
            for p in TOY_PROBLEMS
            for _ in range(2)
        ],
    )
    assert run(project, "--model=samples:all.jsonl", "--codex-save").ret == 0  # run 0001: complete
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "--codex-suite=toy.jsonl",
            "--model=samples:slow.jsonl",
            "-n",
            workers,
            *(["--codex-lanes=2"] if workers == "0" else []),  # one process: its lanes' fork servers too
            "--codex-report=r.json",
            "--codex-save",
            "--codex-fail-under=0",
        ],
        cwd=project.path,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=terminal_signals,  # SIGINT as a terminal delivers it
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, seen, tree = [], 0, set()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if " PASSED" in line or " FAILED" in line:
                seen += 1
                if seen == 2:
                    tree = descendants(proc.pid)
                    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the process group
                    break
        lines += proc.communicate(timeout=120)[0].splitlines(keepends=True)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = "".join(lines)
    assert seen == 2, out
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert tree, "the run had no child processes to check"
    assert survivors(tree) == []  # no process of the run is left
    cov = coverage(project)
    scored = cov["problems"]["scored"]
    assert 2 <= scored < 6, out
    assert cov["interrupted"] is True and cov["complete"] is False and cov["doc"]["interrupted"] is True
    assert cov["gaps"] == {"interrupted": 6 - scored} and len(cov["scored_ids"]) == scored
    assert cov["samples"] == {"planned": 12, "scored": 2 * scored}
    assert f"PARTIAL: over {scored} of 6 problems ({6 - scored} not run: interrupted" in out
    assert "failing: a partial run is not gated" in out
    names = stored(project)
    assert names[0] == "0001_samples-all.json" and names[1].endswith("_samples-slow.partial.json")
    assert RunStore(project.path / ".codex" / "runs").resolve("latest")[0] == "run 0001"
    rerun = run(project, "--model=samples:slow.jsonl", "--codex-report=r.json", workers=workers)
    assert rerun.ret == 0 and coverage(project)["complete"] is True


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_samples_file_with_no_sample_is_a_usage_error(project, workers):
    (project.path / "empty.jsonl").write_text("\n\n")
    result = run(project, "--model=samples:empty.jsonl", workers=workers)
    assert "samples file 'empty.jsonl' has no samples" in usage_error(result)


@pytest.mark.parametrize(
    "arg", ["--codex-n=5", "--codex-temperature=0.8", "--codex-dtype=bfloat16", "--codex-regenerate"]
)
def test_generation_options_for_models_that_do_not_generate_are_refused(project, arg):
    line = usage_error(run(project, "--model=reference", "--model=samples:all.jsonl", arg))
    assert line.startswith(f"ERROR: {arg.split('=')[0]}")
    assert "--model=reference and --model=samples:all.jsonl generates nothing" in line
    # from the ini file (it serves every run of the project): one line, and the run goes on
    ini = arg.lstrip("-").replace("-", "_") if "=" in arg else "codex_regenerate=true"
    result = run(project, "--model=reference", "-o", ini, "-k", "toy/0]")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"codex: ini option {ini.split('=')[0]} does not apply: --model=reference*"])


def test_an_interrupt_before_any_item_writes_nothing_that_claims_completeness(project):
    project.makeconftest("""
        def pytest_collection_finish(session):
            raise KeyboardInterrupt
    """)
    result = run(project, "--model=samples:all.jsonl", "--codex-report=r.json", "--codex-save")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert not (project.path / "r.json").exists() and not (project.path / ".codex" / "runs").exists()


# -- the coverage arithmetic, as a property --------------------------------------------------


class _Model:
    def __init__(self, label: str, n: int) -> None:
        self.spec = ModelSpec(raw=label, kind="samples", target=label, label=label)
        self.max_samples = n


_STATES = st.sampled_from(["scored", "not_attempted", "deselected", "crash", "harness", "never"])


@given(
    states=st.lists(_STATES, min_size=1, max_size=12),
    n=st.integers(1, 5),
    ending=st.sampled_from(list(Ending)),
)
@settings(max_examples=200, deadline=None)
def test_every_planned_problem_is_scored_or_has_one_reason(states, n, ending):
    suite = Suite("toy", "", "", tuple(Problem(f"t/{i}", "", "", "", "f") for i in range(len(states))))
    model = _Model("m", n)
    collector = Collector()
    selected, unscored = set(), {}
    for i, state in enumerate(states):
        key = ("m", f"t/{i}")
        if state != "deselected":
            selected.add(key)
        if state == "scored":
            collector.payloads[key] = ProblemPayload("m", key[1], True, n, 1)
        elif state == "not_attempted":
            collector.payloads[key] = ProblemPayload("m", key[1], attempted=False)
        elif state in ("crash", "harness"):
            unscored[key] = Gap.WORKER_CRASH if state == "crash" else Gap.HARNESS_ERROR
    (result,) = collector.results([model], suite, (1,), selected=selected, unscored=unscored, ending=ending)
    cov = result.coverage
    assert cov.problems_planned == len(states) and cov.problems_scored == states.count("scored")
    assert cov.problems_scored + sum(cov.gaps.values()) == cov.problems_planned
    assert cov.samples_planned == len(states) * n and cov.samples_scored == states.count("scored") * n
    assert cov.gaps.get("deselected", 0) == states.count("deselected")
    assert cov.gaps.get("worker_crash", 0) == states.count("crash")
    never = {Ending.STOPPED: "stopped", Ending.INTERRUPTED: "interrupted", Ending.COMPLETE: "not_run"}[ending]
    assert cov.gaps.get(never, 0) == states.count("never")
    assert cov.complete == (set(states) == {"scored"} and ending is not Ending.INTERRUPTED)
    assert result.partial == (not cov.complete)
    assert Coverage.from_json(json.loads(json.dumps(cov.to_json()))) == cov  # the results file keeps it
