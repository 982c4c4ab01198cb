"""The plugin end to end, through real inner pytest runs (pytester)."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import pytest

from pytest_codex.core.problems import load_suite

from support import HE_EXAMPLE_PROBLEM, HE_EXAMPLE_SAMPLES, strip_keys, write_jsonl


def summary_table(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, ln in enumerate(lines) if "pytest-codex:" in ln)
    out = []
    for line in lines[start + 1 :]:
        if line.startswith("time ") or line.startswith("=") or line.startswith("harness"):
            break
        out.append(line)
    return out


def normalise(doc: dict) -> object:
    """Drop what legitimately differs between two runs: timings, the command line, and the
    lanes of a single process (none under -n)."""
    return strip_keys(doc, ("duration", "cpu_time", "exec_seconds", "command", "seconds", "created", "lanes"))


@pytest.mark.parametrize("workers", ["0", "2"])
def test_reference_passes_every_problem(project, workers, tmp_path):
    report = tmp_path / f"r{workers}.json"
    result = project.runpytest_subprocess("--model=reference", "-n", workers, f"--codex-report={report}")
    result.assert_outcomes(passed=164)
    table = summary_table(result)
    assert table[0] == "humaneval: over 164 of 164 problems"
    assert re.match(r"reference\s+164\s+1\s+1\.0\s+\[1\.0, 1\.0\]$", table[3]), table  # pass@1, 95% CI
    assert any(re.match(r"reference\s+164\s+0\s+0\s+0\s+0\s+0$", line) for line in table), table  # verdicts
    doc = json.loads(report.read_text())
    run = doc["runs"][0]
    assert doc["schema"] == 2 and run["model"] == "reference" and run["pass_at_k"] == {"1": 1.0}
    assert [p["task_id"] for p in run["problems"]] == [f"HumanEval/{i}" for i in range(164)]
    assert run["manifest"]["dataset"]["name"] == "humaneval"
    assert len(run["manifest"]["dataset"]["sha256"]) == 64


def test_xdist_gives_the_same_table_and_results_file(project, tmp_path):
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [{"task_id": f"HumanEval/{i}", "completion": c} for i in range(12) for c in ("    return None\n", "    pass\n")]
        + [{"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"}],
    )
    runs = {}
    for workers in ("0", "2"):
        report = tmp_path / f"r{workers}.json"
        result = project.runpytest_subprocess(
            "--model=reference",
            f"--model=samples:{samples}",
            "-n",
            workers,
            "-k",
            "HumanEval/1] or HumanEval/2]",
            f"--codex-report={report}",
            "--codex-k=1,2,3",
        )
        runs[workers] = (summary_table(result), normalise(json.loads(report.read_text())))
    assert runs["0"] == runs["2"]
    table = runs["0"][0]
    assert table[0].endswith("PARTIAL: over 2 of 164 problems (162 deselected)")  # HumanEval/1 and /2, not /10, /11


def test_human_eval_example_verdicts_and_results_files(project, tmp_path):
    suite = write_jsonl(tmp_path / "problem.jsonl", [HE_EXAMPLE_PROBLEM])
    samples = write_jsonl(
        tmp_path / "samples.jsonl", [{"task_id": "test/0", "completion": c, "extra": 1} for c in HE_EXAMPLE_SAMPLES]
    )
    report, he_out = tmp_path / "report.json", tmp_path / "he_results.jsonl"
    result = project.runpytest_subprocess(
        f"--codex-suite={suite}",
        f"--model=samples:{samples}",
        "--codex-timeout=0.5",  # CPU seconds; the sample that sleeps 10 s meets the 5 s wall-clock guard
        f"--codex-report={report}",
        f"--codex-samples-out={he_out}",
    )
    result.assert_outcomes(passed=1)
    run = json.loads(report.read_text())["runs"][0]
    assert run["pass_at_k"]["1"] == 0.5
    verdicts = [s["verdict"] for s in run["problems"][0]["samples"]]
    assert verdicts[1] == "timeout"
    assert verdicts[3:] == ["passed"] * 3
    assert verdicts[0] not in ("passed", "timeout") and verdicts[2] not in ("passed", "timeout")
    assert [s["index"] for s in run["problems"][0]["samples"]] == list(range(6))
    rows = [json.loads(ln) for ln in he_out.read_text().splitlines()]
    assert [r["completion"] for r in rows] == HE_EXAMPLE_SAMPLES
    assert [r["passed"] for r in rows] == [False, False, False, True, True, True]
    assert rows[1]["result"] == "timed out"
    assert rows[0]["result"].startswith("failed: ") and rows[2]["result"].startswith("failed: ")
    assert set(rows[0]) == {"task_id", "completion", "passed", "result"}


def test_failure_text_shows_the_verdict_and_the_completion(project, tmp_path):
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": "    return 1 / 0\n"},
            {"task_id": "HumanEval/0", "completion": "    return False\n"},
        ],
    )
    result = project.runpytest_subprocess(f"--model=samples:{samples}", "-k", "HumanEval/0]")
    result.assert_outcomes(failed=1, deselected=163)
    result.stdout.fnmatch_lines(
        [
            "*0/2 samples passed for HumanEval/0 (samples:s); first failing sample #0: error (ZeroDivisionError)*",
            "*division by zero*",
            "*| *return 1 / 0*",
        ]
    )


def test_k_larger_than_n_is_shown_with_the_reason(project):
    result = project.runpytest_subprocess("--model=reference", "--codex-k=1,10", "-k", "HumanEval/0]")
    table = summary_table(result)
    assert "pass@10" in table[1]
    assert re.search(r"reference\s+1\s+1\s+1\.0\s+\[1\.0, 1\.0\]\s+— \[1\]", table[3]), table
    assert any(
        "[1] reference pass@10: needs at least 10 samples per problem" in ln and "HumanEval/0 has 1" in ln
        for ln in table
    ), table


def test_not_attempted_problems_are_skipped_and_reported(project, tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": "    return True\n"}])
    result = project.runpytest_subprocess(f"--model=samples:{samples}", "-rs", "-k", "HumanEval/0] or HumanEval/1]")
    result.assert_outcomes(skipped=1, failed=1, deselected=162)
    result.stdout.fnmatch_lines(["*not attempted: samples:s has no samples for HumanEval/1*"])
    assert summary_table(result)[0] == (
        "humaneval: PARTIAL: over 1 of 164 problems (162 deselected; 1 not attempted: no samples, e.g. HumanEval/1)"
    )


def test_several_models_give_one_table(project, tmp_path):
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": "    return True\n"}])
    result = project.runpytest_subprocess("--model=reference", f"--model=samples:{samples}", "-k", "HumanEval/0]")
    result.assert_outcomes(passed=1, failed=1, deselected=326)
    table = summary_table(result)
    assert re.match(r"reference\s+1\s+1\s+1\.0", table[3]) and re.match(r"samples:s\s+1\s+1\s+0\.0", table[4])


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model=samples:/nonexistent/s.jsonl"], "samples file '/nonexistent/s.jsonl' does not exist"),
        (["--model=nosuchmodel"], "--model='nosuchmodel' is not a known model"),
        (["--model=reference", "--codex-k=0"], "--codex-k='0': k must be at least 1"),
        (["--model=reference", "--codex-k=1,x"], "--codex-k='1,x': 'x' is not an integer"),
        (["--model=reference", "--codex-timeout=-1"], "--codex-timeout='-1': must be a positive"),
        (["--model=reference", "--codex-fail-under=2"], "--codex-fail-under='2': must be between 0 and 1"),
        (
            ["--model=reference", "--codex-suite=/nonexistent/p.jsonl"],
            "problem file '/nonexistent/p.jsonl' does not exist",
        ),
        ([], "no --model given"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(project, args, message):
    result = project.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"task_id": "HumanEval/0", "completion": "    pass"}\n{broken', "line 2: not valid JSON"),
        ('{"task_id": "Nope/1", "completion": "    pass"}', "line 1: unknown task_id 'Nope/1'"),
        ('{"task_id": "HumanEval/0"}', "line 1: missing field 'completion'"),
    ],
)
def test_bad_samples_file_names_the_line(project, tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(line + "\n")
    result = project.runpytest_subprocess(f"--model=samples:{path}", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("threshold,expected", [("0.5", 0), ("0.51", 1)])
def test_fail_under_decides_the_exit_status(project, tmp_path, workers, threshold, expected):
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": "    return True\n"},
            {"task_id": "HumanEval/1", "completion": load_suite().by_id()["HumanEval/1"].canonical_solution},
            {"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"},
            {"task_id": "HumanEval/3", "completion": "    return False\n"},
        ],
    )
    result = project.runpytest_subprocess(
        f"--model=samples:{samples}",
        f"--codex-fail-under={threshold}",
        "--codex-allow-partial",  # 4 of 164 problems: partial
        "-n",
        workers,
        "-k",
        "HumanEval/0] or HumanEval/1] or HumanEval/2] or HumanEval/3]",
    )
    result.assert_outcomes(passed=2, failed=2)  # xdist does not report deselected items
    assert result.ret == expected


def test_last_failed_and_exitfirst(project, tmp_path):
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"},
            {"task_id": "HumanEval/3", "completion": "    return False\n"},
            {"task_id": "HumanEval/4", "completion": "    return 0.0\n"},
        ],
    )
    sel = ["-k", "HumanEval/2] or HumanEval/3] or HumanEval/4]", "-p", "cacheprovider"]
    first = project.runpytest_subprocess(f"--model=samples:{samples}", *sel)
    first.assert_outcomes(passed=1, failed=2, deselected=161)
    again = project.runpytest_subprocess(f"--model=samples:{samples}", "--lf", *sel)
    again.assert_outcomes(passed=0, failed=2)
    assert summary_table(again)[0] == "humaneval: PARTIAL: over 2 of 164 problems (162 deselected)"
    stop = project.runpytest_subprocess(f"--model=samples:{samples}", "-x", *sel)
    stop.assert_outcomes(passed=1, failed=1, deselected=161)


def test_junitxml_has_one_testcase_per_problem(project, tmp_path):
    xml = tmp_path / "junit.xml"
    result = project.runpytest_subprocess("--model=reference", "-k", "HumanEval/1]", f"--junitxml={xml}")
    result.assert_outcomes(passed=1, deselected=163)
    cases = ElementTree.parse(xml).getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["test_humaneval[reference-HumanEval/1]"]


def test_pytest_timeout_guards_every_item(project):
    project.makeconftest("""
        def pytest_collection_finish(session):
            for item in session.items:
                print("TIMEOUT", item.name, item.get_closest_marker("timeout").args)
    """)
    result = project.runpytest_subprocess("--model=reference", "--collect-only", "-q", "-s", "-k", "HumanEval/7]")
    result.stdout.fnmatch_lines(["TIMEOUT test_humaneval?reference-HumanEval/7? (*,)"])
    seconds = float(re.search(r"TIMEOUT \S+ \(([\d.]+),\)", result.stdout.str()).group(1))
    assert 0 < seconds < 600  # one sample: a bound near the sample's own time limit
