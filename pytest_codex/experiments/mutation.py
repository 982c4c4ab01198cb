"""Type-aware mutation of known inputs (the way EvalPlus grows HumanEval+ from its seeds).

New argument lists are made from known ones (a problem's base and plus inputs) by changing
one or a few values in place of their type: a number nudged, negated, doubled, set to a
boundary or to a number seen elsewhere in the inputs; a string with characters inserted,
removed, repeated or re-cased; a list or tuple with an element removed, repeated, inserted
(itself mutated), changed, or the order reversed or sorted; a dict with a key removed, added
or its value changed.  Sizes stay near the seeds'.  Deterministic: the same seeds, count and
``random.Random`` seed give the same inputs.  Nothing is executed here: which new inputs are
valid is decided by the problem's contract and canonical solution, in the sandbox.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

VERSION = 3  # of the generator: stored tests drawn by another version are drawn again
MAX_STEPS = 3  # mutations applied to one new input
MAX_DEPTH = 6
MAX_SIZE = 4096  # a list or string is not grown past twice its size and this bound
TRIES_PER_INPUT = 20
ALL_EDGES = 16  # a shape with at most this many boundary combinations gets every one of them
COPY_FIRST = 0.25  # of the mutated inputs with two arguments of a type: one copied onto the other first


class Ingredients:
    """The scalars seen in the seeds, by type: values a mutation may reuse."""

    def __init__(self, seeds: Sequence[Any]) -> None:
        self.ints: list[int] = []
        self.floats: list[float] = []
        self.strs: list[str] = []
        self.chars: list[str] = []
        seen: set = set()
        for seed in seeds:
            self._take(seed, 0, seen)
        self.chars = sorted({c for s in self.strs for c in s}) or list("ab ")

    def _take(self, x: Any, depth: int, seen: set) -> None:
        if depth > MAX_DEPTH or len(seen) > 5000:
            return
        t = type(x)
        if t is int and (t, x) not in seen and abs(x) < 1 << 64:
            seen.add((t, x))
            self.ints.append(x)
        elif t is float and math.isfinite(x) and (t, x) not in seen:
            seen.add((t, x))
            self.floats.append(x)
        elif t is str and len(x) <= 64 and (t, x) not in seen:
            seen.add((t, x))
            self.strs.append(x)
        elif t in (list, tuple, set):
            for v in list(x)[:200]:
                self._take(v, depth + 1, seen)
        elif t is dict:
            for k, v in list(x.items())[:200]:
                self._take(k, depth + 1, seen)
                self._take(v, depth + 1, seen)


def _int(x: int, rng: random.Random, pool: Ingredients) -> int:
    choice = rng.randrange(8)
    if choice == 0 and pool.ints:
        return rng.choice(pool.ints)
    if choice == 1:
        return -x
    if choice == 2:
        return x * 2 + rng.choice((-1, 0, 1))
    if choice == 3:
        return rng.choice((0, 1, -1, 2))
    if choice == 4:
        return x // 2
    if choice == 5:
        return x + rng.randint(-10, 10)
    return x + rng.choice((-1, 1))


def _float(x: float, rng: random.Random, pool: Ingredients) -> float:
    choice = rng.randrange(7)
    if choice == 0 and pool.floats:
        return rng.choice(pool.floats)
    if choice == 1:
        return -x
    if choice == 2:
        return float(round(x))
    if choice == 3:
        return x * (1 + rng.uniform(-0.5, 0.5))
    if choice == 4:
        return rng.choice((0.0, 0.5, 1.0, -1.0))
    return x + rng.uniform(-1, 1)


def _swap_parts(x: str) -> str:
    """The parts of a string around its first separator in the other order ("15/17" -> "17/15")."""
    for i, c in enumerate(x):
        if not c.isalnum() and 0 < i < len(x) - 1:
            return x[i + 1 :] + c + x[:i]
    return x[::-1]


def _str(x: str, rng: random.Random, pool: Ingredients) -> str:
    choice = rng.randrange(9) if x else 0
    if choice == 0:  # insert a character or a seen string
        piece = rng.choice(pool.strs) if pool.strs and rng.random() < 0.3 else rng.choice(pool.chars)
        i = rng.randint(0, len(x))
        return x[:i] + piece + x[i:] if len(x) < MAX_SIZE else x
    i = rng.randrange(len(x))
    if choice == 1:  # remove a slice
        j = rng.randint(i + 1, min(len(x), i + 3))
        return x[:i] + x[j:]
    if choice == 2:  # repeat a character
        return x[:i] + x[i] + x[i:]
    if choice == 3:  # change a character's case
        return x[:i] + x[i].swapcase() + x[i + 1 :]
    if choice == 4:  # replace a character
        return x[:i] + rng.choice(pool.chars) + x[i + 1 :]
    if choice == 5 and pool.strs:
        return rng.choice(pool.strs)
    if choice == 6:
        return x[::-1]
    if choice == 7:
        return _swap_parts(x)
    return x[:i]


def _sequence(x: list, rng: random.Random, pool: Ingredients, depth: int) -> list:
    x = list(x)
    if not x:
        return [mutate_value(v, rng, pool, depth + 1) for v in rng.sample(pool.ints, min(2, len(pool.ints)))]
    choice = rng.randrange(8)
    i = rng.randrange(len(x))
    if choice == 0 and len(x) > 1:
        del x[i]
    elif choice == 1 and len(x) < MAX_SIZE:
        x.insert(rng.randint(0, len(x)), mutate_value(x[i], rng, pool, depth + 1))
    elif choice == 2 and len(x) < MAX_SIZE:
        x.insert(rng.randint(0, len(x)), x[i])
    elif choice == 3:
        x.reverse()
    elif choice == 4:
        try:
            x.sort()
        except TypeError:
            x.reverse()
    elif choice == 5 and rng.random() < 0.3:
        x = x[: rng.randint(0, len(x) - 1)]
    else:
        x[i] = mutate_value(x[i], rng, pool, depth + 1)
    return x


def _dict(x: dict, rng: random.Random, pool: Ingredients, depth: int) -> dict:
    x = dict(x)
    if not x:
        return x
    key = rng.choice(list(x))
    choice = rng.randrange(3)
    if choice == 0 and len(x) > 1:
        del x[key]
    elif choice == 1:
        new_key = mutate_value(key, rng, pool, depth + 1)
        try:
            x[new_key] = mutate_value(x[key], rng, pool, depth + 1)
        except TypeError:
            pass
    else:
        x[key] = mutate_value(x[key], rng, pool, depth + 1)
    return x


def mutate_value(x: Any, rng: random.Random, pool: Ingredients, depth: int = 0) -> Any:
    """``x`` changed in a way that keeps its type."""
    t = type(x)
    if depth > MAX_DEPTH:
        return x
    if t is bool:
        return not x
    if t is int:
        return _int(x, rng, pool)
    if t is float:
        return _float(x, rng, pool)
    if t is str:
        return _str(x, rng, pool)
    if t is list:
        return _sequence(x, rng, pool, depth)
    if t is tuple:
        return tuple(_sequence(list(x), rng, pool, depth))
    if t is dict:
        return _dict(x, rng, pool, depth)
    return x


def _edges(x: Any) -> list:
    """Boundary values of ``x``'s type."""
    t = type(x)
    if t is bool:
        return [True, False]
    if t is int:
        return [0, 1, -1, 2]
    if t is float:
        return [0.0, 1.0, -1.0, 0.5]
    if t is str:
        return ["", x[:1], x[:1] * 2] if x else [""]
    if t in (list, tuple):
        return [t(), t(x[:1]), t(x[:1]) * 2] if x else [t()]
    if t is dict:
        return [{}]
    return [x]


def edge_inputs(seeds: Sequence[list], rng: random.Random, per_shape: int) -> list[list]:
    """For each shape of seed (its arguments' types), a few argument lists of boundary values
    of those types, every argument at once (e.g. ``(0, 1)`` for two ints)."""
    shapes: dict[tuple, list] = {}
    for args in seeds:
        shapes.setdefault(tuple(type(a).__name__ for a in args), args)
    out = []
    for args in shapes.values():
        combos: list[list] = [[]]
        for value in args:
            combos = [c + [v] for c in combos for v in _edges(value)][:256]
        rng.shuffle(combos)
        out += combos if len(combos) <= ALL_EDGES else combos[:per_shape]  # a small grid: all of it
    return out


def _mirror(x: Any) -> Any:
    """``x`` read the other way: a string's parts around its separator swapped ("15/17" ->
    "17/15"), a sequence reversed, a number negated."""
    t = type(x)
    if t is str:
        return _swap_parts(x)
    if t in (list, tuple):
        return t(reversed(x))
    if t in (int, float):
        return -x
    return x


def _copy_argument(args: list, rng: random.Random, pool: Ingredients) -> None:
    """One argument takes the value of another of the same type: as it is, mutated, or
    mirrored (``_mirror``: pairs such as ``x`` and its reciprocal fraction)."""
    i, j = rng.sample(range(len(args)), 2)
    if type(args[i]) is type(args[j]):
        how = rng.randrange(4)
        args[j] = args[i] if how == 0 else mutate_value(args[i], rng, pool) if how == 1 else _mirror(args[i])


def mutate_inputs(seeds: Sequence[list], count: int, seed: int) -> list[list]:
    """Up to ``count`` argument lists:

    * boundary values of the seeds' types (``edge_inputs``: a fifth of ``count``, or every
      combination where a shape has at most ``ALL_EDGES``; at most half of ``count``); a
      boundary input is a test of its own, kept even where a seed happens to be the same;
    * the rest seeds with 1 to 3 mutations of one argument at a time, a quarter of those
      with two arguments of a type starting from one copied onto the other (as it is,
      mutated or mirrored) and changed at most once more.

    A mutated input is never equal to a seed, and no two inputs are equal."""
    seeds = [s for s in seeds if isinstance(s, list) and s]
    if not seeds:
        return []
    rng = random.Random(seed)
    pool = Ingredients(seeds)
    known = {repr(s) for s in seeds}
    drawn: set[str] = set()
    out: list[list] = []

    def keep(args: list, edge: bool = False) -> None:
        key = repr(args)
        if key not in drawn and (edge or key not in known) and len(out) < count:
            drawn.add(key)
            out.append(args)

    edges = edge_inputs(seeds, rng, max(1, count // 5))
    for args in edges[: max(1, count // 2)]:
        keep(args, edge=True)
    for _ in range(count * TRIES_PER_INPUT):
        if len(out) >= count:
            break
        args = list(rng.choice(seeds))
        if len(args) > 1 and rng.random() < COPY_FIRST:
            _copy_argument(args, rng, pool)  # pairs such as x and its mirror: few further changes
            steps = rng.randint(0, 1)
        else:
            steps = rng.randint(1, MAX_STEPS)
        for _ in range(steps):
            if len(args) > 1 and rng.random() < 0.15:
                _copy_argument(args, rng, pool)
            else:
                i = rng.randrange(len(args))
                args[i] = mutate_value(args[i], rng, pool)
        keep(args)
    return out
