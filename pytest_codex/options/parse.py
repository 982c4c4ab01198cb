"""The one set of option validators, shared by the plugin's options, their ini twins and the
``pytest-codex`` command line.

A validator is a callable ``text -> value`` that raises ``Invalid(why, fix)``; ``fix`` may
name the option as ``{option}``.  ``usage_message`` turns that into the one line every bad
value gets: ``--codex-n='0': must be at least 1; give e.g. --codex-n=10``.  Values are plain
Python data (int, float, str, tuples): xdist ships the parsed options to its workers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Invalid(ValueError):
    """A value a validator refuses: why, and the fix (``{option}`` is the option's name)."""

    def __init__(self, why: str, fix: str) -> None:
        super().__init__(why)
        self.why, self.fix = why, fix


def usage_message(option: str, value: object, exc: Invalid) -> str:
    return f"{option}={value!r}: {exc.why}; {exc.fix.format(option=option)}"


Validator = Callable[[str], Any]


@dataclass(frozen=True)
class Integer:
    minimum: int
    example: str

    def __call__(self, text: str) -> int:
        try:
            x = int(str(text).strip())
        except ValueError:
            raise Invalid("not an integer", f"give e.g. {{option}}={self.example}") from None
        if x < self.minimum:
            raise Invalid(f"must be at least {self.minimum}", f"give e.g. {{option}}={self.example}")
        return x


@dataclass(frozen=True)
class Number:
    """A finite float in [lo, hi] (``lo_open``: (lo, hi])."""

    lo: float
    hi: float
    example: str
    lo_open: bool = False

    def why(self) -> str:
        if self.hi == math.inf:
            return (
                "must be a positive, finite number"
                if self.lo == 0 and self.lo_open
                else f"must be a number >= {self.lo:g}"
            )
        if not self.lo_open:
            return f"must be between {self.lo:g} and {self.hi:g}"
        return f"must be in ({self.lo:g}, {self.hi:g}]"

    def __call__(self, text: str) -> float:
        try:
            x = float(str(text).strip())
        except ValueError:
            raise Invalid("not a number", f"give e.g. {{option}}={self.example}") from None
        if not math.isfinite(x) or x < self.lo or x > self.hi or (self.lo_open and x == self.lo):
            raise Invalid(self.why(), f"give e.g. {{option}}={self.example}")
        return x


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    what: str = "value"

    def __call__(self, text: str) -> str:
        v = str(text).strip().lower()
        if v not in self.choices:
            shown = (
                " or ".join(f"{{option}}={c}" for c in self.choices)
                if len(self.choices) <= 3
                else "one of " + ", ".join(self.choices)
            )
            raise Invalid(f"unknown {self.what}", f"give {shown}")
        return v


@dataclass(frozen=True)
class Boolean:
    """A switch's value in an ini file: true/false, yes/no, on/off, 1/0 (any case)."""

    TRUE = ("true", "yes", "on", "1")
    FALSE = ("false", "no", "off", "0")

    def __call__(self, text: str) -> bool:
        v = str(text).strip().lower()
        if v in self.TRUE or v in self.FALSE:
            return v in self.TRUE
        raise Invalid("not a boolean", "give {option}=true or {option}=false")


@dataclass(frozen=True)
class OrAuto:
    """'auto', or what ``inner`` accepts."""

    inner: Integer

    def __call__(self, text: str) -> int | str:
        if str(text).strip().lower() == "auto":
            return "auto"
        try:
            return self.inner(text)
        except Invalid as exc:
            raise Invalid(exc.why, f"{exc.fix} or {{option}}=auto") from None


@dataclass(frozen=True)
class Text:
    """A non-empty string (a path, a run reference, a name), kept as given."""

    example: str

    def __call__(self, text: str) -> str:
        if not str(text).strip():
            raise Invalid("empty value", f"give e.g. {{option}}={self.example}")
        return str(text)


@dataclass(frozen=True)
class IntList:
    """Distinct integers >= ``minimum``, comma-separated, returned sorted."""

    minimum: int
    example: str
    what: str = "k"

    def __call__(self, text: str) -> tuple[int, ...]:
        fix = f"give positive integers such as {{option}}={self.example}"
        out: list[int] = []
        for part in str(text).split(","):
            part = part.strip()
            try:
                x = int(part)
            except ValueError:
                raise Invalid(f"{part!r} is not an integer", fix) from None
            if x < self.minimum:
                raise Invalid(f"{self.what} must be at least {self.minimum}, got {x}", fix)
            if x not in out:
                out.append(x)
        return tuple(sorted(out))


@dataclass(frozen=True)
class IntRanges:
    """Integers and ranges (``1-7``, ``1,2,4``) within [lo, hi], returned sorted."""

    lo: int
    hi: int
    what: str = "length"

    def __call__(self, text: str) -> tuple[int, ...]:
        listed = ",".join(str(x) for x in (self.lo, self.lo + 1, self.lo + 3) if x <= self.hi)
        fix = f"give a range like {self.lo}-{min(self.hi, 7)} or a list like {listed} within {self.lo}..{self.hi}"
        out: list[int] = []
        for part in str(text).split(","):
            a_text, dash, b_text = part.strip().partition("-")
            try:
                a = int(a_text)
                b = int(b_text) if dash else a
            except ValueError:
                raise Invalid(f"{part.strip()!r} is not a {self.what} or a range", fix) from None
            if not (self.lo <= a <= b <= self.hi):
                raise Invalid(f"{part.strip()!r} is outside {self.lo}..{self.hi} or reversed", fix)
            out += [x for x in range(a, b + 1) if x not in out]
        return tuple(sorted(out))


@dataclass(frozen=True)
class TaskIds:
    """Comma-separated task ids or ranges (``HumanEval/0-9``), in the order given, each once.
    Whether they exist is checked against the suite (``pytest_codex.core.selection``)."""

    example: str

    def __call__(self, text: str) -> tuple[str, ...]:
        out: list[str] = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                raise Invalid("an empty task id", f"give task ids separated by commas, e.g. {{option}}={self.example}")
            if part not in out:
                out.append(part)
        return tuple(out)


@dataclass(frozen=True)
class Temperatures:
    """Distinct finite temperatures >= 0, in the order given."""

    def __call__(self, text: str) -> tuple[float, ...]:
        fix = "give temperatures >= 0 separated by commas, e.g. 0.2,0.4,0.6,0.8"
        temps: list[float] = []
        for part in str(text).split(","):
            try:
                t = float(part.strip())
            except ValueError:
                raise Invalid(f"{part.strip()!r} is not a number", fix) from None
            if not (0.0 <= t < math.inf):
                raise Invalid(f"temperature {part.strip()} must be finite and >= 0", fix)
            if t in temps:
                raise Invalid(f"temperature {t:g} is given twice", fix)
            temps.append(t)
        return tuple(temps)


@dataclass(frozen=True)
class Pattern:
    """A string matching ``regex`` (after stripping)."""

    regex: str
    why: str
    fix: str
    lower: bool = False

    def __call__(self, text: str) -> str:
        v = str(text).strip()
        v = v.lower() if self.lower else v
        if not re.fullmatch(self.regex, v):
            raise Invalid(self.why, self.fix)
        return v
