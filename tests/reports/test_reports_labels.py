"""Labelled models (``--model=LABEL=MODEL``): item ids, tables, results files, and the
command line picking models by label from any results files (``--model LABEL``)."""

from __future__ import annotations

import json

import pytest

from pytest_codex.core.errors import UnknownModelError
from pytest_codex.models import parse_model_spec

from reports_support import TOY_PROBLEMS, run_cli, run_pytest, write_samples, write_suite
from support import usage_error

GOOD = {i: [True, False] for i in range(len(TOY_PROBLEMS))}
BAD = {i: [False, False] for i in range(len(TOY_PROBLEMS))}


@pytest.mark.parametrize(
    "value, label, raw, labelled",
    [
        ("reference", "reference", "reference", False),
        ("ref=reference", "ref", "reference", True),
        ("qwen-1.5b=samples:x/out.jsonl", "qwen-1.5b", "samples:x/out.jsonl", True),
        ("samples:a=b.jsonl", "samples:a=b", "samples:a=b.jsonl", False),  # '=' after the prefix: a path
        ("m=openai:m@http://h/v1?x=y", "m", "openai:m@http://h/v1?x=y", True),
    ],
)
def test_a_label_is_what_stands_before_the_first_equals_sign(value, label, raw, labelled):
    spec = parse_model_spec(value)
    assert (spec.label, spec.raw, spec.labelled) == (label, raw, labelled)


@pytest.mark.parametrize("value", ["=reference", "a b=reference", "-x=reference", "x="])
def test_a_bad_label_is_refused(value):
    with pytest.raises(UnknownModelError, match="--model="):
        parse_model_spec(value)


@pytest.fixture
def two_outs(project: pytest.Pytester) -> pytest.Pytester:
    write_suite(project.path)
    for d, flags in (("one", GOOD), ("two", BAD)):
        (project.path / d).mkdir()
        write_samples(project.path / d / "out.jsonl", flags)
    return project


@pytest.mark.parametrize("workers", ["0", "2"])
def test_two_samples_files_with_one_basename_run_together_when_labelled(two_outs, workers):
    report = two_outs.path / "r.json"
    result = two_outs.runpytest_subprocess(
        "--codex-suite=toy.jsonl",
        "-n",
        workers,
        "--model=good=samples:one/out.jsonl",
        "--model=bad=samples:two/out.jsonl",
        f"--codex-report={report}",
        "-v",
    )
    result.assert_outcomes(passed=6, failed=6)
    assert "test_humaneval[good-toy/0]" in result.stdout.str()  # the label in the item ids
    result.stdout.fnmatch_lines(["*models: good=samples:one/out.jsonl, bad=samples:two/out.jsonl*"])
    result.stdout.re_match_lines([r"good\s+6\s+2\s+0\.5\b", r"bad\s+6\s+2\s+0\.0\b"])
    runs = json.loads(report.read_text())["runs"]
    assert [(r["label"], r["model"]) for r in runs] == [
        ("good", "samples:one/out.jsonl"),
        ("bad", "samples:two/out.jsonl"),
    ]


def test_the_same_basename_without_labels_is_a_usage_error_that_says_how(two_outs):
    result = two_outs.runpytest_subprocess(
        "--codex-suite=toy.jsonl", "--model=samples:one/out.jsonl", "--model=samples:two/out.jsonl"
    )
    line = usage_error(result)
    assert "2 models share the label 'samples:out'" in line and "LABEL=MODEL" in line


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    suite = write_suite(d)
    for sub, flags in (("one", GOOD), ("two", BAD), ("three", GOOD)):
        (d / sub).mkdir()
        write_samples(d / sub / "out.jsonl", flags)
    both = run_pytest(
        d,
        f"--codex-suite={suite}",
        "--model=good=samples:one/out.jsonl",
        "--model=bad=samples:two/out.jsonl",
        f"--codex-report={d / 'both.json'}",
    )
    assert both.returncode == 1, both.stdout + both.stderr
    alone = run_pytest(
        d, f"--codex-suite={suite}", "--model=again=samples:three/out.jsonl", f"--codex-report={d / 'alone.json'}"
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr
    return d


def ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_compare_picks_models_by_label_from_any_files(results):
    out = ok(run_cli("compare", results / "both.json", results / "alone.json", "--model", "good", "--model", "bad"))
    rows = [line.split() for line in out.splitlines() if line.startswith("bad ")]
    assert [r[:4] for r in rows] == [["bad", "good", "6", "pass@1"]]
    across = ok(
        run_cli("compare", results / "both.json", results / "alone.json", "--model", "again", "--model", "good")
    )
    assert any(line.split()[:2] == ["good", "again"] and "identical" in line for line in across.splitlines()), across


def test_badge_and_show_pick_models_by_label(results, tmp_path):
    ok(run_cli("badge", results / "both.json", results / "alone.json", "--model", "bad", "--out", tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "bad.svg"]
    out = ok(run_cli("show", "toy/0", results / "both.json", results / "alone.json", "--model", "again"))
    assert out.startswith("toy/0 — again (") and "1/2 samples passed" in out and "— good" not in out


def test_an_unknown_label_is_one_line_naming_the_labels(results):
    proc = run_cli("compare", results / "both.json", "--model", "good", "--model", "nope")
    assert proc.returncode == 2 and "\n" not in proc.stderr.strip(), proc.stderr
    assert "--model 'nope': no model of the given runs has this label; give one of 'good', 'bad'" in proc.stderr
