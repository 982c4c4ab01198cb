"""The one safe renderer: valid UTF-8, no control character, bounded, never raises."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core import text

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(s: str, multiline: bool = True) -> bool:
    s.encode("utf-8")  # raises on a lone surrogate
    return not CONTROL.search(s) and (multiline or "\n" not in s)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_clean_text_is_valid_utf8_visible_and_bounded(value, limit):
    out = text.clean(value, limit)
    assert safe(out) and len(out) <= limit + 60
    one = text.line(value, limit)
    assert safe(one, multiline=False) and len(one) <= limit + 60


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.tuples(c, c) | st.dictionaries(st.text(), c),
    )
)
def test_show_never_raises_and_stays_on_one_bounded_line(value):
    out = text.show(value)
    assert safe(out, multiline=False) and len(out) <= text.VALUE_CHARS + 60


def test_the_cases_that_used_to_raise_or_reach_the_terminal():
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no")

    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert text.show(10**5000) == "<int of about 5001 digits>"
    assert text.show([10**5000, -(10**5000)]) == "[<int of about 5001 digits>, <int of about 5001 digits, negative>]"
    assert text.show(BadRepr()) == "<BadRepr object (its repr failed)>"
    assert text.show(nested) == "[[[[[...]]]]]"
    assert text.show_call("candidate", (10**5000, "a\x1b[2J"), {"k": BadRepr()}) == (
        "candidate(<int of about 5001 digits>, 'a\\x1b[2J', k=<BadRepr object (its repr failed)>)"
    )
    assert text.exception_text(ValueError("\udcff")) == "\\udcff"
    assert text.exception_text(ValueError(10**5000)) == "<int of about 5001 digits>"
    assert text.clean("ok\n\x1b]52;c;ZXZpbA==\x07\rfake\u202e") == "ok\n\\x1b]52;c;ZXZpbA==\\x07\\rfake\\u202e"
    assert text.line("a\nb") == "a\\nb"
    assert text.clean("x" * 50, 10) == "xxxxxxxxxx... [cut: 50 characters in all]"
    # Negative control: what the checks above look for is there before rendering.
    assert not safe("\x1b[2J") and not safe("a\nb", multiline=False)
    try:
        safe("\udcff")
        raise AssertionError("a lone surrogate encoded")
    except UnicodeEncodeError:
        pass


def test_valid_utf8_changes_only_lone_surrogates():
    assert text.valid_utf8("def f():\n\treturn '\x1b é'\n") == "def f():\n\treturn '\x1b é'\n"
    assert text.valid_utf8("x = '\udcff'") == "x = '\\udcff'"
