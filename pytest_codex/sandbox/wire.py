"""What crosses the boundary between a sample and the trusted process: plain, exactly-typed data.

Values are encoded as JSON with tagged containers (no pickle, nothing executable):

* ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included) and ``str`` are JSON
  scalars; an ``int`` too long for a decimal literal is ``["i", hex]``.
* containers are arrays whose first element is a tag: ``["l", ...]`` list, ``["t", ...]``
  tuple, ``["s", ...]`` set, ``["f", ...]`` frozenset, ``["d", k1, v1, ...]`` dict,
  ``["b", hex]`` bytes, ``["c", real, imag]`` complex.

Types are checked exactly: a subclass of ``str``, ``int``, ``list``... (an object whose
``__eq__`` is always true, say) is refused with ``Unencodable``.  Decoding checks tags,
depth and sizes and raises ``WireError`` on anything else.  Frames on a stream are a
4-byte big-endian length and that many bytes of UTF-8 JSON.  Standard library only.
"""

from __future__ import annotations

import json
import struct
from collections import Counter

MAX_DEPTH = 100
HEADER = struct.Struct(">I")
_BIG_INT_BITS = 12_000  # ~3,600 decimal digits: under Python's int/str conversion limit


class WireError(ValueError):
    """Malformed data from the other side."""


class OverBudget(WireError):
    """Data over the decoding budget (size, number of values, hash flooding)."""


class Unencodable(TypeError):
    """A value of a type that may not cross the boundary."""


def _enc(x, depth: int):
    t = type(x)
    if t is str or t is bool or t is float or x is None:
        return x
    if t is int:
        return x if x.bit_length() < _BIG_INT_BITS else ["i", hex(x)]
    if depth >= MAX_DEPTH:
        raise Unencodable(f"nested deeper than {MAX_DEPTH} levels")
    d = depth + 1
    if t is list:
        return ["l", *[_enc(v, d) for v in x]]
    if t is tuple:
        return ["t", *[_enc(v, d) for v in x]]
    if t is dict:
        out = ["d"]
        for k, v in x.items():
            out.append(_enc(k, d))
            out.append(_enc(v, d))
        return out
    if t is set or t is frozenset:
        return ["s" if t is set else "f", *[_enc(v, d) for v in x]]
    if t is bytes:
        return ["b", x.hex()]
    if t is complex:
        return ["c", x.real, x.imag]
    raise Unencodable(
        f"values of type {t.__module__}.{t.__qualname__} cannot be returned "
        f"(only exact None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)"
    )


def pack(x):
    """``x`` as JSON-ready data (raises ``Unencodable``)."""
    return _enc(x, 0)


_SCALARS = (str, bool, int, float, type(None))
MAX_ELEMENTS = 1 << 22  # values in one decoded message
MAX_SAME_HASH = 8  # distinct values with one hash in one container (-1 and -2 share one)


# The work one ``unpack`` may do: ``MAX_ELEMENTS`` values, and in every container at most
# ``MAX_SAME_HASH`` distinct values per hash.  Values that all hash alike ((2**61 - 1) * k,
# crafted tuples) would make building a set or dict, here or in the tests, quadratic;
# refusing them keeps every step linear in the message's size.


def _spread(values) -> None:
    """Refuse a container with more than ``MAX_SAME_HASH`` distinct values of one hash.
    Each value is hashed once here (a tuple by the container nearest to it; frozensets cache
    their hash); only values whose hash is shared by more than ``MAX_SAME_HASH`` of them are
    compared, each with at most ``MAX_SAME_HASH`` others: linear work."""
    if len(values) <= MAX_SAME_HASH:
        return
    try:
        hashes = list(map(hash, values))
    except TypeError:  # lists, dicts or sets among them: never set elements, skipped
        pairs = [(hash(v), v) for v in values if type(v) not in (list, dict, set)]
        hashes, values = [h for h, _ in pairs], [v for _, v in pairs]
    counts = Counter(hashes)
    if not counts or max(counts.values()) <= MAX_SAME_HASH:
        return
    crowded = {h for h, c in counts.items() if c > MAX_SAME_HASH}
    groups: dict = {}
    for h, v in zip(hashes, values):
        if h in crowded:
            groups.setdefault(h, []).append(v)
    for group in groups.values():
        if group.count(group[0]) == len(group):  # one value, repeated (e.g. [0] * 1000)
            continue
        distinct: list = []
        for v in group:
            if v not in distinct:
                distinct.append(v)
                if len(distinct) > MAX_SAME_HASH:
                    raise OverBudget(f"more than {MAX_SAME_HASH} distinct values with the same hash (hash flooding)")


def _dec(x, depth: int, budget: list[int]):
    if type(x) in _SCALARS:
        return x
    if type(x) is not list or not x or type(x[0]) is not str:
        raise WireError(f"unexpected JSON value of type {type(x).__name__}")
    if depth >= MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    tag, items, d = x[0], x[1:], depth + 1
    budget[0] += len(items)
    if budget[0] > MAX_ELEMENTS:
        raise OverBudget(f"more than {MAX_ELEMENTS} values in one message")
    try:
        if tag == "l" or tag == "t":
            values = [_dec(v, d, budget) for v in items]
            _spread(values)
            return values if tag == "l" else tuple(values)
        if tag == "d":
            if len(items) % 2:
                raise WireError("dict with an odd number of items")
            keys = [_dec(items[i], d, budget) for i in range(0, len(items), 2)]
            _spread(keys)
            return dict(zip(keys, [_dec(items[i], d, budget) for i in range(1, len(items), 2)]))
        if tag == "s" or tag == "f":
            values = [_dec(v, d, budget) for v in items]
            _spread(values)
            return set(values) if tag == "s" else frozenset(values)
        if tag == "i" and len(items) == 1 and type(items[0]) is str:
            return int(items[0], 16)
        if tag == "b" and len(items) == 1 and type(items[0]) is str:
            return bytes.fromhex(items[0])
        if tag == "c" and len(items) == 2 and all(type(v) in (int, float) for v in items):
            return complex(items[0], items[1])
    except (TypeError, ValueError) as exc:  # an unhashable key or set element, a bad hex digit
        if isinstance(exc, WireError):
            raise
        raise WireError(str(exc)[:200]) from None
    raise WireError(f"bad tag {tag[:20]!r}")


def unpack(data):
    """The value that ``pack`` turned into ``data`` (raises ``WireError``, also when it is
    over the decoding budget: see ``MAX_ELEMENTS`` and ``_spread``)."""
    try:
        return _dec(data, 0, [0])
    except RecursionError:
        raise WireError("nested too deeply") from None


def loads(body: bytes):
    """Parse a frame's body (raises ``WireError``)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not valid JSON: {str(exc)[:200]}") from None


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def frame(obj) -> bytes:
    """One message: ``obj`` is JSON-ready (values inside it already ``pack``ed)."""
    return frame_text(dumps(obj))


def frame_text(text: str) -> bytes:
    """One message whose JSON text is already built."""
    body = text.encode()
    return HEADER.pack(len(body)) + body


def read_frame(read, limit: int):
    """Read one frame with ``read(n) -> bytes`` (b"" at end of stream); None at a clean end."""
    head = _read_exact(read, HEADER.size, allow_eof=True)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > limit:
        raise WireError(f"message of {size} bytes exceeds the {limit}-byte limit")
    return loads(_read_exact(read, size, allow_eof=False))


def _read_exact(read, n: int, allow_eof: bool):
    chunks, got = [], 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            if allow_eof and got == 0:
                return None
            raise EOFError("stream ended inside a message")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
