"""The one safe renderer for text that comes from a sample or shows a value.

Everything a verdict's detail, a failure text or a report shows of a sample (exception
messages and type names, captured output, the completion) and every value shown in a
detail (arguments, results) goes through here, once, where it enters the trusted side.
What comes out is

* valid UTF-8: lone surrogates (``'\\udcff'``) are written as their escape, so nothing
  downstream (xdist's transport, a results file, JUnit XML) can fail to encode it;
* harmless on a terminal: control characters (ESC, CR, BEL, DEL, the C1 range), line and
  paragraph separators and bidirectional overrides are written as visible escapes, so no
  screen clear, OSC 52 clipboard write, overwritten line or reordered text gets through;
* bounded: cut to a length, saying how much was cut;
* produced without raising: ``show`` renders any value (an ``int`` of 5,000 digits, deep
  nesting, an object whose ``repr`` raises) and falls back to a placeholder rather than
  fail, so a rendering problem can never change a verdict.

Standard library only; the fork server imports nothing from here.
"""

from __future__ import annotations

import re
import reprlib

DETAIL_CHARS = 2000  # default bound of a rendered text
VALUE_CHARS = 200  # default bound of one rendered value
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029" + _BIDI
_UNSAFE_MULTILINE = re.compile(f"[{_UNSAFE}]")
_UNSAFE_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def clean(text: object, limit: int = DETAIL_CHARS, *, multiline: bool = True) -> str:
    """``text`` made safe to show: escaped (see the module doc), then cut to ``limit``
    characters.  ``multiline`` keeps newlines and tabs (captured output, a completion);
    otherwise they are escaped too and the result is one line."""
    if type(text) is not str:
        text = text if isinstance(text, str) else show(text, limit)
        text = str.__str__(text)  # a str subclass's own __str__ is never called
    out = (_UNSAFE_MULTILINE if multiline else _UNSAFE_LINE).sub(_escape, text[:limit])
    if len(out) <= limit and len(text) <= limit:
        return out
    return f"{out[:limit]}... [cut: {len(text)} characters in all]"


def line(text: object, limit: int = DETAIL_CHARS) -> str:
    """``clean`` on one line: newlines, tabs and every control character escaped."""
    return clean(text, limit, multiline=False)


def valid_utf8(text: str) -> str:
    """``text`` with only its lone surrogates escaped (nothing else changes): the form in
    which a completion is kept and sent on, so that every encoder downstream succeeds."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub(_escape, text)


class _Repr(reprlib.Repr):
    """``reprlib`` with bounded output for every builtin type and no exception: an ``int``
    too long for ``str`` is shown by its size, an object whose ``repr`` raises by its type."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring, self.maxother, self.maxlong = 120, 120, 60
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = 12
        self.maxdict, self.maxarray, self.maxlevel = 8, 8, 4

    def repr_int(self, x: int, level: int) -> str:
        bits = x.bit_length()
        if bits > 4000:  # ~1,200 digits: far past what a detail shows, and str() may refuse it
            digits = int(bits * 0.30102999566398) + 1
            return f"<int of about {digits} digits{', negative' if x < 0 else ''}>"
        return reprlib.Repr.repr_int(self, x, level)

    def repr_instance(self, x: object, level: int) -> str:
        try:
            s = object.__repr__(x) if type(x).__repr__ is object.__repr__ else repr(x)
        except BaseException:
            return _placeholder(x)
        if not isinstance(s, str):
            return _placeholder(x)
        s = str.__str__(s)
        if len(s) > self.maxother:
            i = max(0, (self.maxother - 3) // 2)
            j = max(0, self.maxother - 3 - i)
            s = s[:i] + "..." + s[len(s) - j :]
        return s


def _placeholder(x: object) -> str:
    try:
        name = type(x).__name__
        name = name if isinstance(name, str) else "object"
    except BaseException:
        name = "object"
    return f"<{str.__str__(name)[:80]} object (its repr failed)>"


_REPR = _Repr()


def show(value: object, limit: int = VALUE_CHARS) -> str:
    """A one-line, bounded, escaped ``repr`` of any value; never raises."""
    try:
        text = _REPR.repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply to show>"
    except BaseException:
        text = _placeholder(value)
    if type(text) is not str:
        text = _placeholder(value)
    return line(text, limit)


def show_call(name: str, args: tuple, kwargs: dict, limit: int = 400) -> str:
    """``name(arg, ..., key=value)`` with every value through ``show``; never raises."""
    try:
        parts = [show(a) for a in args] + [f"{line(k, 60)}={show(v)}" for k, v in kwargs.items()]
    except BaseException:  # a kwargs mapping whose iteration raises
        parts = ["<arguments that could not be shown>"]
    return line(f"{name}({', '.join(parts)})", limit)


def exception_text(exc: BaseException, limit: int = 500) -> str:
    """``str(exc)`` made safe, on one line; never raises (an exception whose ``__str__`` raises, or an
    ``int`` too long for ``str`` in its arguments, is shown by its type)."""
    try:
        text = str(exc)
    except BaseException:
        try:
            text = "; ".join(show(a) for a in exc.args)
        except BaseException:
            text = _placeholder(exc)
    if type(text) is not str:
        text = _placeholder(exc)
    return line(text, limit)


def xml_text(text: str, quote: bool = False) -> str:
    """``text`` escaped for XML character data (``&``, ``<``, ``>``), and for a double-quoted
    attribute with ``quote``.  (``xml.sax.saxutils.escape`` would import ``urllib.request``,
    ``http`` and ``ssl`` into every pytest process that loads the plugin.)"""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text
