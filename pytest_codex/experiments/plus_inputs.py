"""Input strategies for the plus tests, derived from a problem's signature and examples.

For each argument of the entry point the *examples* are the literal arguments of the
``candidate(...)`` calls in the tests and of the ``entry_point(...)`` calls in the
prompt's doctests.  A strategy draws values of the examples' kinds, and keeps the
invariants every example shares (Daikon-style): the sign and a stretched range of
numbers; the alphabet, the size range, the word structure (single separators, no outer
white space) and the token template (e.g. ``"<digits>/<digits>"``, constant words kept)
of strings; element kinds, sortedness, uniqueness and non-emptiness of lists (an
argument whose lists are all empty stays empty); the width of tuples; the key and value
kinds of dicts; and equal lengths across arguments.  The type hint is used where an
argument has no example.  No code is executed here; the canonical solution
later decides which drawn inputs are valid (those it rejects are dropped).
"""

from __future__ import annotations

import ast
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_codex.core.problems import Problem

DEFAULT_ALPHABET = string.ascii_letters + string.digits + " "


@dataclass(frozen=True)
class Signature:
    names: tuple[str, ...]
    hints: tuple[str | None, ...]
    examples: tuple[tuple, ...]  # literal argument tuples from the tests and doctests


class NoSignature(ValueError):
    pass


def _literal_calls(tree: ast.AST, name: str, arity: int) -> list[tuple]:
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == name
            and not node.keywords
            and len(node.args) == arity
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            try:
                out.append(tuple(ast.literal_eval(a) for a in node.args))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
    return out


def _doctest_source(prompt: str) -> str:
    return "\n".join(line.strip()[4:] for line in prompt.splitlines() if line.strip().startswith(">>> "))


def signature(problem: Problem) -> Signature:
    try:
        tree = ast.parse(problem.prompt + problem.canonical_solution)
    except SyntaxError as exc:
        raise NoSignature(f"{problem.task_id}: prompt + canonical solution do not parse ({exc.msg})") from None
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == problem.entry_point]
    if not fns:
        raise NoSignature(f"{problem.task_id}: no top-level function {problem.entry_point!r}")
    a = fns[-1].args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise NoSignature(f"{problem.task_id}: {problem.entry_point} takes *args, **kwargs or keyword-only arguments")
    names = tuple(x.arg for x in a.args)
    hints = tuple(ast.unparse(x.annotation) if x.annotation else None for x in a.args)
    examples: list[tuple] = []
    for src, name in ((problem.test, "candidate"), (_doctest_source(problem.prompt), problem.entry_point)):
        try:
            examples += _literal_calls(ast.parse(src), name, len(names))
        except SyntaxError:
            continue
    unique = list({repr(e): e for e in examples}.values())
    return Signature(names, hints, tuple(unique))


# --- strategies ----------------------------------------------------------------------


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    for t, k in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (list, "list"),
        (tuple, "tuple"),
        (dict, "dict"),
    ):
        if isinstance(v, t):
            return k
    return "other"


def _stretch(lo: float, hi: float) -> tuple[float, float]:
    """A range a little wider than the examples', keeping their sign."""
    span = max(5.0, (hi - lo) / 2, abs(hi) / 2, abs(lo) / 2)
    new_lo = lo - span if lo < 0 else (0.0 if lo < 1 else 1.0)
    new_hi = hi + span if hi > 0 else (0.0 if hi > -1 else -1.0)
    return new_lo, new_hi


def _ints(st, values: Sequence[int]):
    lo, hi = _stretch(min(values), max(values))
    return st.one_of(st.integers(int(lo), int(hi)), st.sampled_from(sorted(set(values))))


def _decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 6


def _floats(st, values: Sequence[float]):
    lo, hi = _stretch(min(values), max(values))
    places = min(6, max(2, *(_decimals(v) for v in values)))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: round(x, places))


WORD = re.compile(r"\S+")
TOKEN = re.compile(r"\d+|[A-Za-z]+|\s+|.", re.S)


def _token_class(token: str) -> str:
    return "digits" if token.isdigit() else "letters" if token.isalpha() else "space" if token.isspace() else token


def _template(st, values: Sequence[str]):
    """Strings that all follow one token template (e.g. "5 apples and 6 oranges", "1/5"):
    draw each token in its class and range; a word that is the same in every example
    stays; None when the examples do not share a template."""
    tokenized = [TOKEN.findall(v) for v in values]
    shapes = {tuple(_token_class(t) for t in toks) for toks in tokenized}
    if len(shapes) != 1 or len(next(iter(shapes))) < 2:
        return None
    parts = []
    for i, kind in enumerate(next(iter(shapes))):
        seen = sorted({toks[i] for toks in tokenized})
        if kind == "digits":
            parts.append(_ints(st, [int(t) for t in seen]).map(str))
        elif len(seen) == 1:
            parts.append(st.just(seen[0]))
        elif kind == "letters":
            letters = "".join(sorted(set("".join(seen))))
            parts.append(st.text(letters, min_size=1, max_size=2 * max(map(len, seen))))
        else:
            parts.append(st.sampled_from(seen))
    return st.tuples(*parts).map("".join)


def _strs(st, values: Sequence[str], size: int | None = None):
    alphabet = "".join(sorted(set("".join(values)))) or DEFAULT_ALPHABET
    if size is not None:
        return st.text(alphabet, min_size=size, max_size=size)
    template = _template(st, values)
    if template is not None:
        return template
    lengths = [len(v) for v in values]
    min_size, max_size = (1 if min(lengths) > 0 else 0), max(8, 2 * max(lengths))
    worded = [v for v in values if " " in v.strip()]
    tidy = all(v == v.strip() and "  " not in v and not (set(v) & set("\t\n\r\x0b\x0c")) for v in values)
    if worded and tidy:  # words separated by single spaces: keep that structure
        letters = "".join(sorted(set(alphabet) - {" "})) or "a"
        words = [w for v in values for w in WORD.findall(v)]
        word = st.one_of(
            st.text(letters, min_size=1, max_size=max(len(w) for w in words)), st.sampled_from(sorted(set(words)))
        )
        max_words = max(3, 2 * max(len(WORD.findall(v)) for v in values))
        return st.lists(word, min_size=min_size, max_size=max_words).map(" ".join)
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def _sorted_like(values: Sequence[Sequence]) -> bool:
    longer = [v for v in values if len(v) >= 2]
    try:
        return bool(longer) and any(len(v) >= 3 for v in longer) and all(list(v) == sorted(v) for v in longer)
    except TypeError:
        return False


def _lists(st, values: Sequence[list], size: int | None = None):
    elements = [x for v in values for x in v]
    if not elements:
        return st.just([])
    lengths = [len(v) for v in values]
    min_size, max_size = (1 if min(lengths) > 0 else 0), max(6, 2 * max(lengths))
    if size is not None:
        min_size = max_size = size
    elem = strategy_for(st, elements, None)
    unique = all(len({repr(x) for x in v}) == len(v) for v in values) and any(len(v) >= 3 for v in values)
    s = st.lists(elem, min_size=min_size, max_size=max_size, unique_by=repr if unique else None)
    return s.map(sorted) if _sorted_like(values) else s


def _tuples(st, values: Sequence[tuple]):
    widths = {len(v) for v in values}
    if len(widths) == 1:
        w = widths.pop()
        return st.tuples(*(strategy_for(st, [v[i] for v in values], None) for i in range(w)))
    return _lists(st, [list(v) for v in values]).map(tuple)


def _dicts(st, values: Sequence[dict]):
    keys = [k for v in values for k in v]
    vals = [x for v in values for x in v.values()]
    if not keys:
        return st.just({})
    sizes = [len(v) for v in values]
    return st.dictionaries(
        strategy_for(st, keys, None),
        strategy_for(st, vals, None),
        min_size=1 if min(sizes) > 0 else 0,
        max_size=max(4, 2 * max(sizes)),
    )


_BY_KIND: dict[str, Callable[..., Any]] = {
    "int": _ints,
    "float": _floats,
    "str": _strs,
    "list": _lists,
    "tuple": _tuples,
    "dict": _dicts,
}

_HINTS = {
    "int": lambda st: st.integers(-20, 100),
    "float": lambda st: st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 2)),
    "str": lambda st: st.text(string.ascii_lowercase, max_size=20),
    "bool": lambda st: st.booleans(),
    "list": lambda st: st.lists(st.integers(-10, 10), max_size=10),
    "List[int]": lambda st: st.lists(st.integers(-100, 100), max_size=10),
    "List[float]": lambda st: st.lists(st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 2)), max_size=10),
    "List[str]": lambda st: st.lists(st.text(string.ascii_lowercase, max_size=8), max_size=8),
}


def strategy_for(st, examples: Sequence[Any], hint: str | None, size: int | None = None):
    """A strategy for one argument from its example values (or its type hint); ``size``
    fixes the length of a string or list argument."""
    by_kind: dict[str, list] = {}
    for v in examples:
        by_kind.setdefault(_kind(v), []).append(v)
    if size is not None and len(by_kind) == 1 and next(iter(by_kind)) in ("str", "list"):
        kind, values = next(iter(by_kind.items()))
        return (_strs if kind == "str" else _lists)(st, values, size)
    parts = []
    for kind, values in sorted(by_kind.items()):
        if kind == "bool":
            parts.append(st.booleans())
        elif kind == "none":
            parts.append(st.none())
        elif kind in _BY_KIND:
            parts.append(_BY_KIND[kind](st, values))
    if parts:
        return st.one_of(*parts)
    if hint in _HINTS:
        return _HINTS[hint](st)
    return st.integers(-10, 10)


def equal_length_args(sig: Signature) -> tuple[int, ...]:
    """Positions of the string / list arguments whose lengths are equal in every example
    (when some example has them longer than 1)."""
    sized = [
        i for i in range(len(sig.names)) if sig.examples and all(isinstance(ex[i], (str, list)) for ex in sig.examples)
    ]
    for i in sized:
        group = tuple(j for j in sized if all(len(ex[j]) == len(ex[i]) for ex in sig.examples))
        if len(group) >= 2 and any(len(ex[i]) > 1 for ex in sig.examples):
            return group
    return ()


def arguments_strategy(st, sig: Signature):
    """A strategy for whole argument tuples."""
    columns = [[ex[i] for ex in sig.examples] for i in range(len(sig.names))]
    group = equal_length_args(sig)
    if not group:
        return st.tuples(*(strategy_for(st, col, hint) for col, hint in zip(columns, sig.hints)))
    lengths = [len(ex[group[0]]) for ex in sig.examples]

    def with_length(n: int):
        return st.tuples(
            *(
                strategy_for(st, col, hint, n if i in group else None)
                for i, (col, hint) in enumerate(zip(columns, sig.hints))
            )
        )

    return st.integers(min(lengths), max(6, 2 * max(lengths))).flatmap(with_length)


def finite(value: Any) -> bool:
    """True when ``value`` holds no NaN or infinity (those cannot be written as literals)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(k) and finite(v) for k, v in value.items())
    return True
