"""The completion store: round trips, and refusal of damaged, foreign or tampered files."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion, GenParams
from pytest_codex.models.generated import index_runs, params_key
from pytest_codex.models.store import FILENAME, CompletionStore, StoreError


def test_samples_round_trip_and_key_parts(tmp_path):
    store = CompletionStore.in_dir(str(tmp_path), check=True)
    a = Completion("    return 1\n", 0, raw="    return 1\n\ndef", sum_logprob=-1.25, mean_logprob=-0.625, num_tokens=2)
    b = Completion("", 1, sum_logprob=0.0, num_tokens=0)
    store.put("m", "def f():\n", "p", [a, b], task_id="T/0")
    assert store.get("m", "def f():\n", "p") == {0: a, 1: b}
    # every part of the key matters
    assert store.get("m2", "def f():\n", "p") == {}
    assert store.get("m", "def f():", "p") == {}
    assert store.get("m", "def f():\n", "p2") == {}
    # a sample put again replaces the old one
    store.put("m", "def f():\n", "p", [Completion("x", 1)])
    assert store.get("m", "def f():\n", "p")[1].text == "x"
    assert store.count() == 2 and store.count("m") == 2 and store.count("nope") == 0
    store.close()
    # a second process (a new connection) reads the same
    assert CompletionStore.in_dir(str(tmp_path)).get("m", "def f():\n", "p")[0] == a


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(),
    raw=st.none() | st.text(),
    lp=st.floats(allow_nan=False, allow_infinity=False, width=64),
    ntok=st.integers(0, 10_000),
    index=st.integers(0, 10_000),
    prompt=st.text(),
)
def test_any_sample_survives_the_store_unchanged(tmp_path_factory, text, raw, lp, ntok, index, prompt):
    store = CompletionStore.in_dir(str(tmp_path_factory.mktemp("s")))
    c = Completion(text, index, raw=raw, sum_logprob=lp, mean_logprob=lp / max(ntok, 1), num_tokens=ntok)
    store.put("model", prompt, "params", [c])
    got = store.get("model", prompt, "params")[index]
    assert got == c  # the value; not the sign of a zero log-probability (SQLite's REAL gives -0.0 back as 0.0)


def test_resolutions_and_file_hashes(tmp_path):
    store = CompletionStore.in_dir(str(tmp_path))
    assert store.get_resolution("r") is None
    store.put_resolution("r", {"model_key": "k", "resolved": {"dtype": "float32"}})
    assert store.get_resolution("r") == {"model_key": "k", "resolved": {"dtype": "float32"}}
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"a" * 1000)
    first = store.file_sha256(str(weights))
    assert first == store.file_sha256(str(weights))
    weights.write_bytes(b"b" * 1001)  # a changed file is hashed again
    assert store.file_sha256(str(weights)) != first


def test_not_a_database_is_refused_with_the_fix(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match=r"damaged or not an SQLite database.*delete it.*--codex-cache-dir"):
        CompletionStore.in_dir(str(tmp_path), check=True)


def test_foreign_sqlite_file_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"not a pytest-codex completion store.*users"):
        CompletionStore.in_dir(str(tmp_path))
    assert issubclass(StoreError, ModelError)  # the plugin turns it into a usage error


def test_other_schema_is_refused(tmp_path):
    CompletionStore.in_dir(str(tmp_path)).close()
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema '99'.*reads schema 1"):
        CompletionStore.in_dir(str(tmp_path))


def test_tampered_sample_is_refused_not_returned(tmp_path):
    store = CompletionStore.in_dir(str(tmp_path))
    store.put("m", "prompt", "p", [Completion("    return 1\n", 0)])
    store.close()
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute("UPDATE samples SET text='    return 2\n'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not match its checksum"):
        CompletionStore.in_dir(str(tmp_path)).get("m", "prompt", "p")


def test_damaged_pages_are_found_by_the_check(tmp_path):
    store = CompletionStore.in_dir(str(tmp_path))
    store.put("m", "prompt", "p", [Completion("x" * 3000, i) for i in range(50)])
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = tmp_path / FILENAME
    data = bytearray(path.read_bytes())
    for i in range(4096 + 100, len(data), 4096):  # scribble over every page after the header's
        data[i : i + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"):
        s = CompletionStore.in_dir(str(tmp_path), check=True)
        s.get("m", "prompt", "p")


def test_params_key_ignores_n_and_greedy_irrelevant_settings():
    base = GenParams()
    assert params_key(base) == params_key(GenParams(n=7))
    assert params_key(base) == params_key(GenParams(seed=3, top_p=0.5))  # greedy: no randomness
    assert params_key(GenParams(temperature=0.8)) != params_key(GenParams(temperature=0.8, seed=1))
    assert params_key(GenParams(temperature=0.8)) != params_key(GenParams(temperature=0.8, top_p=0.95))
    assert params_key(base) != params_key(GenParams(stop=("\ndef",)))
    assert params_key(base) != params_key(GenParams(max_new_tokens=10))


@given(st.sets(st.integers(0, 60)))
def test_index_runs_cover_exactly_the_indices(indices):
    runs = index_runs(indices)
    covered = [i for first, count in runs for i in range(first, first + count)]
    assert covered == sorted(indices)
    assert all(b[0] > a[0] + a[1] for a, b in zip(runs, runs[1:]))  # maximal runs
