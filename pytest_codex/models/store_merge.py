"""Merge completion stores made on several machines into one.

    pytest-codex merge-stores DEST_DIR SOURCE_DIR [SOURCE_DIR ...]

Each argument is a ``--codex-cache-dir`` (or a ``completions.sqlite`` file).  Samples,
resolved settings and file hashes of every source are added to the destination (created
if missing); a sample already in the destination is kept.  A sample present in both with
different content (a server that does not honour seeds, two different models under one
name) is a *conflict*: the destination's is kept and the count is printed.  Every source
row's checksum is verified first, so a damaged source adds nothing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

from pytest_codex.models.store import FILENAME, CompletionStore

_COLUMNS = (
    "model_key, prompt_key, params_key, sample_index, task_id, text, raw, sum_logprob, "
    "mean_logprob, num_tokens, info, checksum"
)


@dataclass
class MergeStats:
    added: int = 0
    already: int = 0
    conflicts: int = 0
    resolution_conflicts: int = 0


def store_path(arg: str) -> str:
    return arg if arg.endswith(".sqlite") else os.path.join(arg, FILENAME)


def merge(dest: str, sources: list[str]) -> MergeStats:
    stats = MergeStats()
    CompletionStore(store_path(dest)).close()  # creates it, or refuses a foreign/damaged file
    for source in sources:
        src = CompletionStore(store_path(source), check=True)
        try:
            src.verify_all(fix="nothing was merged from it")
        finally:
            src.close()
    db = sqlite3.connect(store_path(dest), timeout=60, isolation_level=None)
    try:
        for source in sources:
            db.execute("ATTACH DATABASE ? AS src", (store_path(source),))
            try:
                db.execute("BEGIN IMMEDIATE")
                same_key = (
                    "FROM src.samples s JOIN main.samples m USING (model_key, prompt_key, params_key, sample_index)"
                )
                stats.conflicts += db.execute(f"SELECT COUNT(*) {same_key} WHERE s.checksum != m.checksum").fetchone()[
                    0
                ]
                stats.already += db.execute(f"SELECT COUNT(*) {same_key} WHERE s.checksum = m.checksum").fetchone()[0]
                stats.added += db.execute(
                    f"INSERT OR IGNORE INTO main.samples ({_COLUMNS}) SELECT {_COLUMNS} FROM src.samples"
                ).rowcount
                stats.resolution_conflicts += db.execute(
                    "SELECT COUNT(*) FROM src.resolutions s JOIN main.resolutions m USING (request_key) "
                    "WHERE s.value != m.value"
                ).fetchone()[0]
                db.execute("INSERT OR IGNORE INTO main.resolutions SELECT * FROM src.resolutions")
                db.execute("INSERT OR IGNORE INTO main.file_hashes SELECT * FROM src.file_hashes")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.execute("DETACH DATABASE src")
    finally:
        db.close()
    return stats
