"""The reports' pytest options end to end (pytester): stored runs, comparison, the
regression gate, badges and markdown, each with and without xdist."""

from __future__ import annotations

import json

import pytest

from reports_support import TOY_PROBLEMS, run_cli, write_samples, write_suite
from support import usage_error

GOOD = {i: [True, True, False] for i in range(6)}
WORSE = {i: [True, False, False] if i < 3 else [False, False, False] for i in range(6)}


@pytest.fixture
def project(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("COLUMNS", "200")  # these tests read whole rows (at 80 columns the tables split)
    write_suite(project.path)
    (project.path / "worse").mkdir()
    write_samples(project.path / "good.jsonl", GOOD)
    write_samples(project.path / "worse" / "good.jsonl", WORSE)  # same label: samples:good
    return project


def run(project, *args, workers="0"):
    return project.runpytest_subprocess("--codex-suite=toy.jsonl", "-n", workers, *args)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_save_compare_and_fail_regression(project, workers):
    first = run(project, "--model=samples:good.jsonl", "--codex-save", workers=workers)
    assert first.ret == 0
    first.stdout.fnmatch_lines(["saved: run 0001: *0001_samples-good.json"])
    stored = json.loads((project.path / ".codex" / "runs" / "0001_samples-good.json").read_text())
    assert stored["run_id"] == "0001" and stored["schema"] == 2 and stored["runs"][0]["pass_at_k"]["1"] == 2 / 3

    same = run(
        project, "--model=samples:good.jsonl", "--codex-compare=latest", "--codex-fail-regression=0", workers=workers
    )
    assert same.ret == 0
    same.stdout.fnmatch_lines(
        [
            "compared with run 0001 (*0001_samples-good.json):",
            "samples:good*samples:good (run 0001)*6*pass@1*0.6667*0.6667*0.0*[0.0, 0.0]*1.0*identical",
            "--codex-fail-regression=0: samples:good pass@1 0.6667 vs 0.6667 in samples:good (run 0001) "
            "(0.0 over 6 problems): ok",
        ]
    )

    worse = run(
        project,
        "--model=samples:worse/good.jsonl",
        "--codex-compare=1",
        "--codex-fail-regression=0.05",
        workers=workers,
    )
    assert worse.ret == 1
    worse.stdout.fnmatch_lines(
        [
            "samples:good*samples:good (run 0001)*6*pass@1*0.1667*0.6667*-0.5*worse",
            "*samples:good pass@1 0.1667 vs 0.6667 in samples:good (run 0001) (-0.5 over 6 problems): "
            "REGRESSION (dropped by more than 0.05)",
        ]
    )
    # The gate alone decides the exit status: failing items do not fail a run within the tolerance.
    tolerated = run(
        project, "--model=samples:worse/good.jsonl", "--codex-compare=1", "--codex-fail-regression=0.6", workers=workers
    )
    assert tolerated.ret == 0
    assert "(-0.5 over 6 problems): ok" in tolerated.stdout.str()


def test_compare_over_fewer_problems_says_so(project):
    assert run(project, "--model=samples:good.jsonl", "--codex-save").ret == 0
    part = run(project, "--model=samples:good.jsonl", "--codex-compare=latest", "-k", "toy/0] or toy/1]")
    part.stdout.fnmatch_lines(
        [
            "samples:good*samples:good (run 0001)*2*pass@1*identical",
            "samples:good vs samples:good (run 0001): compared over the 2 problems both attempted (2 vs 6)",
        ]
    )


def test_badge_markdown_and_results_are_the_same_with_xdist(project):
    out = {}
    for workers in ("0", "2"):
        d = project.path / f"out{workers}"
        result = run(
            project,
            "--model=samples:good.jsonl",
            "--model=reference",
            f"--codex-badge={d}/badges",
            f"--codex-markdown={d}/board.md",
            f"--codex-report={d}/r.json",
            workers=workers,
        )
        assert result.ret == 0
        doc = json.loads((d / "r.json").read_text())
        out[workers] = (
            (d / "board.md").read_text(),
            (d / "badges" / "samples-good.json").read_text(),
            (d / "badges" / "reference.svg").read_text(),
            [(r["pass_at_k"], r["pass_at_k_ci"], r["manifest"]["execution"]) for r in doc["runs"]],
        )
    for _, _, execution in out["0"][3]:  # one process: its lanes (sandbox.lanes) are in the manifest
        assert execution.pop("lanes", None) in (None, 2, 3, 4)
    assert out["0"] == out["2"]
    board, badge, _, runs = out["0"]
    assert board.startswith("## pytest-codex: toy.jsonl\n")
    assert "| samples:good | 6 | 3 | 0.6667 | [0.6667, 0.6667] | 12 | 6 | 0 | 0 | 0 | 0 |" in board
    assert (
        "| reference | samples:good | 6 | pass@1 | 1.0 | 0.6667 | +0.3333 | [+0.3333, +0.3333] | 0.03125 | better |"
        in board
    )
    assert json.loads(badge) == {
        "schemaVersion": 1,
        "label": "toy.jsonl pass@1 samples:good",
        "message": "66.67%",  # the tables' 4 significant digits (0.6667)
        "color": "green",
    }
    assert runs[0][1] == {"1": [2 / 3, 2 / 3]} and runs[1][1] == {"1": [1.0, 1.0]}


def test_results_file_keeps_the_failure_detail(project):
    result = run(project, "--model=samples:worse/good.jsonl", "--codex-report=r.json", "-k", "toy/0]")
    assert result.ret == 0
    sample = json.loads((project.path / "r.json").read_text())["runs"][0]["problems"][0]["samples"][1]
    assert sample["verdict"] == "failed" and sample["error_type"] == "AssertionError"
    assert "assert candidate(1, 2) == 3" in sample["detail"]
    assert sample["completion"] == "    return None\n"
    manifest = json.loads((project.path / "r.json").read_text())["runs"][0]["manifest"]
    assert manifest["dataset"]["name"] == "toy.jsonl" and len(manifest["dataset"]["sha256"]) == 64
    assert manifest["model"]["fingerprint"].startswith("sha256:")
    assert set(manifest["generation"]) >= {
        "prompt_style",
        "stop",
        "temperature",
        "top_p",
        "seed",
        "batch_size",
        "device",
        "n",
        "max_new_tokens",
    }
    assert manifest["packages"]["pytest-humaneval"] and manifest["packages"]["numpy"]
    assert "--codex-report=r.json" in manifest["command"] and manifest["machine"]["cpus"] >= 1


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--codex-compare=7"],
            "--codex-compare='7': '7' is neither a stored run id nor a file; no runs are stored in",
        ),
        (["--codex-compare=latest"], "--codex-compare='latest': 'latest': no runs are stored in"),
        (
            ["--codex-fail-regression=0.1"],
            "--codex-fail-regression='0.1': needs a run to compare with; add --codex-compare",
        ),
        (["--codex-fail-regression=lots", "--codex-compare=latest"], "--codex-fail-regression='lots': not a number"),
        (["--codex-compare=trunc.json"], "--codex-compare='trunc.json': trunc.json: truncated JSON"),
        (["--codex-compare=other.json"], "this run is over dataset toy.jsonl (sha256"),
    ],
)
def test_bad_report_options_are_usage_errors(project, workers, args, message):
    (project.path / "trunc.json").write_text('{"schema": 2, "tool": "pytest-codex", "runs": [')
    other = json.loads(
        json.dumps(
            {
                "schema": 2,
                "tool": "pytest-codex",
                "runs": [
                    {
                        "model": "reference",
                        "problems": [],
                        "manifest": {"dataset": {"name": "humaneval", "sha256": "ab" * 32}},
                    }
                ],
            }
        )
    )
    (project.path / "other.json").write_text(json.dumps(other))
    result = run(project, "--model=samples:good.jsonl", "--codex-report=r.json", "--codex-save", *args, workers=workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert message in err and "Traceback" not in err + result.stdout.str()
    assert not (project.path / "r.json").exists() and not (project.path / ".codex").exists()  # nothing written
    assert len(TOY_PROBLEMS) == 6


def test_a_file_that_cannot_be_written_is_reported_after_the_table_and_fails_the_run(project):
    # The paths were fine when the run started (checked at configure time); something made
    # them unwritable during the run.
    project.makeconftest("""
        import pathlib

        def pytest_collection_finish(session):
            pathlib.Path("blocker").write_text("a file, not a directory")
            pathlib.Path("he").mkdir()
    """)
    result = run(
        project,
        "--model=samples:good.jsonl",
        "--codex-badge=blocker/badges",
        "--codex-markdown=board.md",
        "--codex-samples-out=he",
        "-k",
        "toy/0]",
    )
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["markdown: board.md", "badges: could not write (NotADirectoryError*blocker*"])
    out = result.stdout.str()
    assert out.index("pytest-codex: toy.jsonl") < out.index("badges: could not write (NotADirectoryError")
    assert "samples results: could not write (IsADirectoryError" in out and "Traceback" not in out
    assert (project.path / "board.md").exists()  # the other files are still written
    assert not list(project.path.rglob("*.tmp"))  # no temporary file is left behind


def test_models_missing_from_the_compared_run_are_named(project):
    assert run(project, "--model=samples:good.jsonl", "--codex-save").ret == 0
    both = run(
        project,
        "--model=samples:good.jsonl",
        "--model=reference",
        "--codex-compare=latest",
        "--codex-fail-regression=0",
    )
    assert both.ret == 0
    both.stdout.fnmatch_lines(
        [
            "reference: no model of run 0001 has this label (it has samples:good); not compared",
            "--codex-fail-regression=0: reference: not in run 0001; not gated",
            "--codex-fail-regression=0: samples:good pass@1 0.6667 vs 0.6667 in samples:good (run 0001) *: ok",
        ]
    )


def test_a_humaneval_markdown_has_the_codex_papers_figures_and_another_suites_has_not(project):
    he = project.runpytest_subprocess(
        "--model=reference", "-k", "HumanEval/0]", "--codex-markdown=he.md", "--codex-report=he.json"
    )
    assert he.ret == 0
    cli = run_cli("report", project.path / "he.json", "--markdown")
    assert cli.returncode == 0, cli.stderr
    for board in ((project.path / "he.md").read_text(), cli.stdout):
        section = board.split("### Beside the Codex paper's figures\n\n")[1].splitlines()
        assert section[2:6] == [
            "| reference | 1.0 | — | this run (n = 1, over 1 of 164 problems) |",
            "| Codex-12B | 0.288 | 0.702 | the Codex paper |",
            "| GPT-J | 0.114 | — | the Codex paper |",
            "| GPT-3 | 0.0 | — | the Codex paper |",
        ]
    assert run(project, "--model=samples:good.jsonl", "--codex-markdown=toy.md").ret == 0
    assert "Codex paper's figures" not in (project.path / "toy.md").read_text()


BAD_OUTPUTS = [
    ("--codex-report=adir", "--codex-report='adir': is a directory; give the path of a file"),
    ("--codex-report=blocker/r.json", "--codex-report='blocker/r.json': "),
    ("--codex-report=/sys/r.json", "--codex-report='/sys/r.json': cannot create files in /sys"),
    ("--codex-samples-out=adir", "--codex-samples-out='adir': is a directory"),
    ("--codex-markdown=blocker/x/board.md", "is not a directory"),
    ("--codex-badge=blocker", "--codex-badge='blocker': exists and is not a directory"),
    ("--codex-badge=/sys/badges", "cannot create files in /sys"),
    ("--codex-runs-dir=blocker", "--codex-runs-dir='blocker': exists and is not a directory"),
    ("--codex-plots=blocker", "--codex-plots='blocker': exists and is not a directory"),
    ("--codex-cache-dir=blocker", "exists and is not a directory"),
]


@pytest.mark.parametrize("workers", ["0", "2"])
@pytest.mark.parametrize("arg,message", BAD_OUTPUTS, ids=[a for a, _ in BAD_OUTPUTS])
def test_a_bad_output_path_is_a_usage_error_before_any_item_runs(project, workers, arg, message):
    (project.path / "blocker").write_text("a file, not a directory")
    (project.path / "adir").mkdir()

    def files():  # what the run could have written (not pytester's own stdout, stderr, basetemp)
        return sorted(
            str(p.relative_to(project.path))
            for p in project.path.rglob("*")
            if p.relative_to(project.path).parts[0] not in ("stdout", "stderr")
            and not p.relative_to(project.path).parts[0].startswith("runpytest")
        )

    before = files()
    result = run(project, "--model=samples:good.jsonl", "--codex-save", arg, workers=workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = usage_error(result)
    assert message in line and "; give" in line, line
    assert "PASSED" not in result.stdout.str() and "passed" not in result.stdout.str()
    assert files() == before  # nothing created, no temporary file left
