"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], text: str | bytes) -> str:
    """Write ``text`` (UTF-8) or bytes to ``path`` through a temporary file in the same
    directory, then rename it into place; the temporary file never outlives a failure.
    Returns the path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)  # as a plain open() would make it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def merge_entries(path: Path, group: str, new: dict, *, schema: int = 1, keep: int | None = None) -> bool:
    """Merge ``new`` into the ``group`` of a cache file ``{"schema": N, "entries": {group: {...}}}``
    under an exclusive lock (``path`` with the suffix ``.lock``), so that processes writing at
    once (xdist workers) lose nothing; a missing, damaged or foreign file starts empty.  With
    ``keep``, only the group's last ``keep`` entries stay.  False when it could not be written
    (an unwritable cache only costs the work again next time)."""

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                doc = json.loads(path.read_text())
                if doc.get("schema") != schema or not isinstance(doc.get("entries"), dict):
                    raise ValueError
            except (OSError, ValueError, AttributeError):
                doc = {"schema": schema, "entries": {}}
            entries = doc["entries"].setdefault(group, {})
            entries.update(new)
            if keep is not None and len(entries) > keep:
                doc["entries"][group] = dict(list(entries.items())[-keep:])
            atomic_write(path, json.dumps(doc, separators=(",", ":")))
    except OSError:
        return False
    return True


def unwritable(path: str | os.PathLike[str], kind: str = "file") -> str | None:
    """Why ``path`` cannot be written as a file (``kind="file"``, written through a temporary
    file in its directory) or used as a directory to write files in (``kind="dir"``), or None.

    Missing directories are fine when they can be created: the nearest existing one must be
    a directory in which a file can be created, which is probed by creating (and at once
    removing) a temporary file there.  Nothing is left behind."""
    path = os.path.abspath(os.path.expanduser(path))
    if kind == "file":
        if os.path.isdir(path):
            return "is a directory"
        where = os.path.dirname(path)
    else:
        if os.path.exists(path) and not os.path.isdir(path):
            return "exists and is not a directory"
        where = path
    while not os.path.exists(where):
        parent = os.path.dirname(where)
        if parent == where:
            break
        where = parent
    if not os.path.isdir(where):
        return f"{where} is not a directory"
    try:
        fd, probe = tempfile.mkstemp(prefix=".codex-probe.", suffix=".tmp", dir=where)
    except OSError as exc:
        return f"cannot create files in {where} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None
