"""The data that crosses the sandbox boundary: exact types both ways, nothing else."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.sandbox import wire

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**12_000, max_value=2**13_000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary(max_size=20)
    | st.complex_numbers(allow_nan=False)
)
hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashables, inner, max_size=3)
        | st.sets(hashables, max_size=3)
        | st.frozensets(hashables, max_size=3)
    ),
    max_leaves=20,
)


def through_the_wire(x):
    return wire.unpack(wire.loads(json.dumps(wire.pack(x)).encode()))


def same(a, b) -> bool:
    """Equal with exactly the same types all the way down (NaN equal to NaN, -0.0 not 0.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if type(a) is complex:
        return same(a.real, b.real) and same(a.imag, b.imag)
    return a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_every_plain_value_comes_back_with_its_exact_type(x):
    assert same(through_the_wire(x), x)


@settings(max_examples=100, deadline=None)
@given(values)
def test_a_frame_carries_a_value_unchanged(x):
    stream = bytearray(wire.frame(["ok", wire.pack(x)]))

    def read(n):  # a stream that hands out at most 3 bytes at a time
        chunk = bytes(stream[: min(n, 3)])
        del stream[: len(chunk)]
        return chunk

    msg = wire.read_frame(read, limit=1 << 30)
    assert msg[0] == "ok" and same(wire.unpack(msg[1]), x)
    assert wire.read_frame(read, limit=1 << 30) is None  # a clean end of stream


class AlwaysEqual:
    def __eq__(self, other):
        return True


class Str(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "value",
    [
        AlwaysEqual(),
        Str("x"),
        type("I", (int,), {})(3),
        type("L", (list,), {})(),
        [1, AlwaysEqual()],
        {"k": Str("v")},
        (lambda: 1),
        range(3),
        iter([1]),
        type("F", (float,), {})(1.0),
        type("D", (dict,), {})(),
    ],
)
def test_subclasses_and_foreign_objects_are_refused(value):
    with pytest.raises(wire.Unencodable):
        wire.pack(value)


def test_nesting_is_bounded_both_ways():
    deep = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.Unencodable):
        wire.pack(deep)
    data = "0"
    for _ in range(wire.MAX_DEPTH + 5):
        data = f'["l",{data}]'
    with pytest.raises(wire.WireError):
        wire.unpack(json.loads(data))
    with pytest.raises(wire.WireError):
        wire.loads(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "data", [["x", 1], [], {"a": 1}, ["d", 1], ["s", ["l"]], ["d", ["l"], 1], ["i", 5], ["b", "zz"], ["c", "1", 2]]
)
def test_malformed_data_is_a_wire_error(data):
    with pytest.raises(wire.WireError):
        wire.unpack(data)


def test_an_oversized_frame_is_refused_before_it_is_read():
    data = wire.frame("x" * 100)
    reads = []
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.read_frame(lambda n: reads.append(n) or data[:n], limit=50)
    assert reads == [wire.HEADER.size]
