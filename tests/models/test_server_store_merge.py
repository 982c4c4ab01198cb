"""Merging completion stores made on several machines (``pytest-codex merge-stores``)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from pytest_codex.core.generation import Completion
from pytest_codex.models.store import CompletionStore, StoreError
from pytest_codex.models.store_merge import merge


def make(path, rows, resolution=None) -> str:
    """A real store with ``rows`` = [(model_key, prompt, index, text)]."""
    store = CompletionStore.in_dir(str(path))
    for model_key, prompt, index, text in rows:
        store.put(
            model_key,
            prompt,
            "params",
            [Completion(text=text, index=index, sum_logprob=-1.5, num_tokens=3)],
            task_id="T/0",
        )
    if resolution:
        store.put_resolution(*resolution)
    store.close()
    return str(path)


def test_merge_adds_missing_samples_keeps_existing_and_counts_conflicts(tmp_path):
    a = make(tmp_path / "a", [("m", "p1", 0, "x"), ("m", "p1", 1, "y")], ("req", {"model_key": "m"}))
    b = make(
        tmp_path / "b",
        [("m", "p1", 1, "y"), ("m", "p1", 2, "z"), ("m", "p2", 0, "w"), ("m", "p1", 0, "DIFF")],
        ("req", {"model_key": "m"}),
    )
    stats = merge(a, [b])
    assert (stats.added, stats.already, stats.conflicts, stats.resolution_conflicts) == (2, 1, 1, 0)
    merged = CompletionStore.in_dir(a)
    got = merged.get("m", "p1", "params")
    assert {i: c.text for i, c in got.items()} == {0: "x", 1: "y", 2: "z"}  # the destination's sample 0 kept
    assert got[2].sum_logprob == -1.5 and got[2].num_tokens == 3
    assert merged.get("m", "p2", "params")[0].text == "w"
    assert merged.get_resolution("req") == {"model_key": "m"}
    # merging again changes nothing
    assert merge(a, [b]).added == 0 and merged.count() == 4
    merged.close()


def test_merge_into_a_new_directory_from_several_sources(tmp_path):
    a = make(tmp_path / "a", [("m", "p1", 0, "x")])
    b = make(tmp_path / "b", [("m", "p2", 0, "y")])
    stats = merge(str(tmp_path / "new"), [a, b])
    assert stats.added == 2 and CompletionStore.in_dir(str(tmp_path / "new")).count() == 2


def test_a_tampered_source_adds_nothing(tmp_path):
    a = make(tmp_path / "a", [("m", "p1", 0, "x")])
    b = make(tmp_path / "b", [("m", "p2", 0, "y"), ("m", "p3", 0, "z")])
    db = sqlite3.connect(str(tmp_path / "b" / "completions.sqlite"))
    db.execute("UPDATE samples SET text = 'return True' WHERE sample_index = 0 AND task_id = 'T/0' AND text = 'z'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not match its checksum .*nothing was merged from it"):
        merge(a, [b])
    assert CompletionStore.in_dir(a).count() == 1


def test_a_foreign_sqlite_file_is_refused(tmp_path):
    a = make(tmp_path / "a", [("m", "p1", 0, "x")])
    (tmp_path / "other").mkdir()
    sqlite3.connect(str(tmp_path / "other" / "completions.sqlite")).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not a pytest-codex completion store"):
        merge(a, [str(tmp_path / "other")])


def test_command_line(tmp_path):
    a = make(tmp_path / "a", [("m", "p1", 0, "x")])
    b = make(tmp_path / "b", [("m", "p2", 0, "y")])
    cmd = [sys.executable, "-m", "pytest_codex", "merge-stores"]
    ok = subprocess.run([*cmd, a, b], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("merged 1 store(s) into ") and "1 samples added" in ok.stdout
    missing = subprocess.run([*cmd, a, str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist; give --codex-cache-dir folders" in missing.stderr
    usage = subprocess.run(cmd, capture_output=True, text=True)
    assert usage.returncode == 2 and "DEST_DIR SOURCE_DIR" in usage.stderr
