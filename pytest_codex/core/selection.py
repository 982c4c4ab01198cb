"""Which problems of a suite a run takes, decided before anything is generated.

``--codex-tasks`` names task ids exactly (``HumanEval/2,HumanEval/7``) or as ranges
(``HumanEval/0-9``: the ids with those numbers); ``--codex-limit=N`` keeps the first N of
them, or N drawn at random with ``--codex-limit-seed``.  Selected problems keep the suite's
order.  pytest's ``-k`` still works on item names, as substrings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.core.problems import Problem, Suite

RANGE = re.compile(r"(.*?)(\d+)-(\d+)")


@dataclass(frozen=True)
class Selection:
    problems: tuple[Problem, ...]
    description: str = ""  # how they were chosen; "" for the whole suite

    @classmethod
    def whole(cls, suite: Suite) -> Selection:
        return cls(suite.problems)


def _unknown(option: str, value: str, task_id: str, suite: Suite) -> CodexUsageError:
    ids = [p.task_id for p in suite.problems]
    example = f"task ids such as {','.join(ids[:2])}"
    numbered = re.fullmatch(r"(.*?)(\d+)", ids[0])
    if numbered and len(ids) > 1:
        example += f" or a range such as {numbered.group(1)}{numbered.group(2)}-{int(numbered.group(2)) + min(9, len(ids) - 1)}"
    return CodexUsageError(
        f"{option}={value!r}: {task_id!r} is not a task of {suite.name} ({len(ids)} problems, "
        f"{ids[0]} .. {ids[-1]}); give {example}"
    )


def expand(tasks: tuple[str, ...], suite: Suite, option: str = "--codex-tasks") -> set[str]:
    """The task ids that ``tasks`` (exact ids and ranges) name; an unknown one is an error."""
    known = suite.by_id()
    value = ",".join(tasks)
    wanted: set[str] = set()
    for item in tasks:
        if item in known:
            wanted.add(item)
            continue
        m = RANGE.fullmatch(item)
        if m is None:
            raise _unknown(option, value, item, suite)
        prefix, lo, hi = m.group(1), int(m.group(2)), int(m.group(3))
        if lo > hi:
            raise CodexUsageError(f"{option}={value!r}: the range {item!r} is reversed; give e.g. {prefix}{hi}-{lo}")
        for i in range(lo, hi + 1):
            if f"{prefix}{i}" not in known:
                raise _unknown(option, value, f"{prefix}{i}", suite)
            wanted.add(f"{prefix}{i}")
    return wanted


def select(suite: Suite, tasks: tuple[str, ...] = (), limit: int | None = None, seed: int | None = None) -> Selection:
    if not tasks and limit is None:
        if seed is not None:
            raise CodexUsageError(
                f"--codex-limit-seed={seed}: draws --codex-limit problems at random, but no --codex-limit "
                "is given; add e.g. --codex-limit=20"
            )
        return Selection.whole(suite)
    problems = suite.problems
    how = []
    if tasks:
        wanted = expand(tasks, suite)
        problems = tuple(p for p in problems if p.task_id in wanted)
        how.append(f"--codex-tasks={','.join(tasks)}")
    if limit is not None:
        if seed is None:
            problems = problems[:limit]
            how.append(f"--codex-limit={limit} (the first {len(problems)})")
        else:
            keep = set(random.Random(seed).sample(range(len(problems)), min(limit, len(problems))))
            problems = tuple(p for i, p in enumerate(problems) if i in keep)
            how.append(f"--codex-limit={limit} --codex-limit-seed={seed} ({len(problems)} at random)")
    return Selection(problems, "selected by " + " ".join(how))
