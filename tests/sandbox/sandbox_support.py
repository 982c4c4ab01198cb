"""Helpers for the sandbox tests: a tiny problem, a canary directory, process checks."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from pytest_codex.core.problems import Problem

ADD = Problem(
    task_id="test/add",
    prompt="def add(a, b):\n",
    canonical_solution="    return a + b\n",
    test="def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
    "    assert candidate(10, 20) == 30\n",
    entry_point="add",
)
CORRECT = "    return a + b\n"


def processes_of(uid: int) -> list[int]:
    """Live (or zombie) processes owned by ``uid``, anywhere on the machine."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except OSError:
            continue
    return found


class Canary:
    """A world-writable directory outside the sandbox: file permissions would let a sample in,
    so only the sandbox's own layers can keep it unchanged."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="codex-canary-", dir="/tmp"))
        os.chmod(self.path, 0o777)
        keep = self.path / "keep.txt"
        keep.write_text("original\n")
        os.chmod(keep, 0o666)
        self.before = self.snapshot()

    def snapshot(self) -> dict:
        out = {}
        for p in sorted(self.path.rglob("*")):
            st = p.lstat()
            out[str(p.relative_to(self.path))] = (
                stat.S_IMODE(st.st_mode),
                st.st_size,
                st.st_mtime_ns,
                p.read_bytes() if p.is_file() else None,
            )
        return out

    def unchanged(self) -> bool:
        return self.snapshot() == self.before

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
