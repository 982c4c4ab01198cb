"""The completion store: generated samples in one SQLite file, written as they finish.

A sample's key is (model key, prompt, parameters key, sample index): the model key hashes
what identifies the model's outputs (weights, tokenizer, dtype, device, prompt style), the
prompt is the problem's exact prompt text, the parameters key hashes the sampling
parameters.  Every sample is committed the moment it finishes (WAL journal), so a run
killed with SIGKILL loses nothing it had generated, and the next run generates only what
is missing.

Each row carries a checksum of its content; the file carries an application id and a
schema version.  A file that is not SQLite, is damaged, was written by another program or
by an incompatible version, or holds a row whose checksum does not match, raises
``StoreError`` with the path and the fix: the store never hands out a wrong completion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion

SCHEMA = 1
APPLICATION = "pytest-codex completion store"
APPLICATION_ID = 0x43445831  # "CDX1" in the SQLite header
FILENAME = "completions.sqlite"
FIX = "delete it (its completions are generated again) or give another --codex-cache-dir"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    model_key TEXT NOT NULL, prompt_key TEXT NOT NULL, params_key TEXT NOT NULL,
    sample_index INTEGER NOT NULL, task_id TEXT, text TEXT NOT NULL, raw TEXT,
    sum_logprob REAL, mean_logprob REAL, num_tokens INTEGER, info TEXT, checksum TEXT NOT NULL,
    PRIMARY KEY (model_key, prompt_key, params_key, sample_index));
CREATE TABLE IF NOT EXISTS resolutions (request_key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""


class StoreError(ModelError):
    """The store cannot be used; the message names the file and the fix."""


def digest(obj) -> str:
    """sha256 of a JSON-able value in canonical form."""
    text = obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _real(x: float | None) -> float | None:
    """A float as SQLite's REAL gives it back: -0.0 comes back as 0.0."""
    return None if x is None else x + 0.0


def _checksum(key: tuple, c: Completion) -> str:
    logprobs = (_real(c.sum_logprob), _real(c.mean_logprob))
    return digest([*key, c.index, c.text, c.raw, *logprobs, c.num_tokens])[:32]


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CompletionStore:
    """One SQLite file; ``check=True`` (the generating process) also verifies its pages."""

    def __init__(self, path: str, *, check: bool = False) -> None:
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._open(check)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    @classmethod
    def in_dir(cls, cache_dir: str, *, check: bool = False) -> CompletionStore:
        return cls(os.path.join(cache_dir, FILENAME), check=check)

    def _error(self, exc: Exception) -> StoreError:
        return StoreError(f"completion store {self.path} is damaged or not an SQLite database ({exc}); {FIX}")

    def _open(self, check: bool) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            raise StoreError(
                f"{self.path} is not a pytest-codex completion store (another program's SQLite file, "
                f"tables: {', '.join(sorted(tables)) or 'none'}); {FIX}"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            with self._tx():
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                for stmt in _TABLES.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [("application", APPLICATION), ("schema", str(SCHEMA))]
                )
        meta = dict(db.execute("SELECT key, value FROM meta")) if "meta" in tables or not tables else {}
        if meta.get("application") != APPLICATION:
            raise StoreError(f"{self.path} is not a pytest-codex completion store (no application record); {FIX}")
        if meta.get("schema") != str(SCHEMA):
            raise StoreError(
                f"completion store {self.path} has schema {meta.get('schema')!r}, this pytest-codex "
                f"reads schema {SCHEMA}; {FIX}"
            )
        if check:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise self._error(RuntimeError(f"quick_check: {result}"))

    @contextlib.contextmanager
    def _tx(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _query(self, sql: str, args: Iterable = ()) -> list:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    # -- samples ---------------------------------------------------------------------------
    def get(self, model_key: str, prompt: str, params_key: str) -> dict[int, Completion]:
        """The stored samples of one prompt, by sample index (checksums verified)."""
        key = (model_key, digest(prompt), params_key)
        rows = self._query(
            "SELECT sample_index, text, raw, sum_logprob, mean_logprob, num_tokens, checksum FROM samples "
            "WHERE model_key=? AND prompt_key=? AND params_key=?",
            key,
        )
        out = {}
        for row in rows:
            c = self._checked(key, row, FIX)
            out[c.index] = c
        return out

    def verify_all(self, fix: str = FIX) -> None:
        """Check every stored sample against its checksum (``fix`` ends the error message)."""
        rows = self._query(
            "SELECT model_key, prompt_key, params_key, sample_index, text, raw, sum_logprob, "
            "mean_logprob, num_tokens, checksum FROM samples"
        )
        for row in rows:
            self._checked(row[:3], row[3:], fix)

    def _checked(self, key: tuple, row: tuple, fix: str) -> Completion:
        index, text, raw, slp, mlp, ntok, checksum = row
        c = Completion(text=text, index=index, raw=raw, sum_logprob=slp, mean_logprob=mlp, num_tokens=ntok)
        if _checksum(tuple(key), c) != checksum:
            raise StoreError(
                f"completion store {self.path}: sample {index} of a stored prompt does not match "
                f"its checksum (the file was modified or damaged); {fix}"
            )
        return c

    def put(
        self,
        model_key: str,
        prompt: str,
        params_key: str,
        completions: Iterable[Completion],
        task_id: str | None = None,
        info: dict | None = None,
    ) -> None:
        """Store finished samples in one transaction (replacing those with the same index)."""
        key = (model_key, digest(prompt), params_key)
        info_json = json.dumps({**(info or {}), "time": time.time()}, sort_keys=True)
        rows = [
            (
                *key,
                c.index,
                task_id,
                c.text,
                c.raw,
                c.sum_logprob,
                c.mean_logprob,
                c.num_tokens,
                info_json,
                _checksum(key, c),
            )
            for c in completions
        ]
        try:
            with self._tx():
                self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def count(self, model_key: str | None = None) -> int:
        if model_key is None:
            return self._query("SELECT COUNT(*) FROM samples")[0][0]
        return self._query("SELECT COUNT(*) FROM samples WHERE model_key=?", (model_key,))[0][0]

    # -- what a request resolved to (written by the generating process, read by workers) ------
    def put_resolution(self, request_key: str, value: dict) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO resolutions VALUES (?, ?)", (request_key, json.dumps(value, sort_keys=True))
            )

    def get_resolution(self, request_key: str) -> dict | None:
        rows = self._query("SELECT value FROM resolutions WHERE request_key=?", (request_key,))
        return json.loads(rows[0][0]) if rows else None

    # -- file hashes, remembered by (path, size, mtime) so big weights are hashed once --------
    def file_sha256(self, path: str) -> str:
        path = os.path.realpath(path)
        st = os.stat(path)
        rows = self._query(
            "SELECT sha256 FROM file_hashes WHERE path=? AND size=? AND mtime_ns=?", (path, st.st_size, st.st_mtime_ns)
        )
        if rows:
            return rows[0][0]
        sha = sha256_file(path)
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", (path, st.st_size, st.st_mtime_ns, sha)
            )
        return sha

    def close(self) -> None:
        self._db.close()
