"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str | os.PathLike[str], text: str) -> str:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then
    rename it into place; the temporary file never outlives a failure.  Returns the path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # as a plain open() would make it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
