"""The sample side of a batch request: every input of a set in one exchange.

Beside the per-call protocol of ``child`` (the trusted tests call the candidate through a
proxy, one round trip per call), a suite whose tests are a list of inputs (EvalPlus's
HumanEval+) sends them all at once, and the sample answers each as it computes it.  The
sample still decides nothing: it only returns outputs; the trusted side compares them
(``pytest_codex.sandbox.batch``).  Protocol on fd 3 (frames, see ``wire``):

    trusted -> child   ["batch", program, entry_point, [packed_args, ...], [cpu_limit, ...], want_args]
    child -> trusted   ["ready"] | ["syntax_error", type, message, line] | ["error", type, message]
    child -> trusted   one answer per input, in order, without waiting:
                       ["ok", cpu_seconds, packed_args_after_or_null, floats] and then
                       packed_result (its own frame, so that the trusted side can compare
                       its bytes before it decodes it); floats: the result is a float or a
                       non-empty list or tuple of floats (used for trusted programs only)
                       | ["raise", type, message, cpu_seconds] | ["bad", why, cpu_seconds]
                       | ["timeout", cpu_seconds]

An input runs under a CPU-time timer (``ITIMER_PROF`` at its limit, then every 20 ms): once
the process's exact CPU clock is past the limit, the input is answered ``timeout``.  The
arguments come back only when ``want_args`` is set and the call changed them.  Answers
are written in bursts (every few milliseconds), not one system call each.

Standard library only (it is imported by the fork server, before the sandbox closes).
"""

from __future__ import annotations

import signal
import time

from pytest_codex.sandbox import wire

FLUSH_SECONDS = 0.002  # answers are written at least this often
FLUSH_BYTES = 1 << 18
REFIRE = 0.02  # after the first signal, the timer fires again every 20 ms of CPU time


class _Input:
    """The input being computed: when it started (CPU clock) and its limit."""

    started = 0.0
    limit = 0.0


class InputTimeout(BaseException):
    """Raised in the sample by the CPU-time timer of one input."""


def _on_timer(signum, frame):
    # The timer counts CPU time in the kernel's ticks, which may run ahead of the process's
    # exact CPU clock: the input times out only once that clock is past its limit.
    if time.process_time() - _Input.started >= _Input.limit:
        raise InputTimeout()


class _Writer:
    def __init__(self, send_bytes) -> None:
        self.send_bytes = send_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self.last = time.perf_counter()

    def add(self, obj, *then) -> None:
        data = wire.frame(obj)
        for more in then:  # (a result of None is a frame too)
            data += wire.frame(more)
        self.parts.append(data)
        self.size += len(data)
        now = time.perf_counter()
        if self.size >= FLUSH_BYTES or now - self.last >= FLUSH_SECONDS:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.parts:
            self.send_bytes(b"".join(self.parts))
            self.parts, self.size = [], 0
        self.last = time.perf_counter() if now is None else now


_PLAIN = frozenset((str, bool, float, type(None)))
_INT_BOUND = 1 << 11_000  # smaller ints are JSON numbers in ``wire`` (larger ones hex strings)
_PLAIN_INT = _PLAIN | {int}
FAST_MIN = 64


def pack(x):
    """``wire.pack``, with a fast path for a long flat list of plain scalars."""
    if type(x) is list and len(x) > FAST_MIN:
        types = set(map(type, x))
        if types <= _PLAIN:
            return ["l", *x]
        if types <= _PLAIN_INT:
            ints = x if len(types) == 1 else [v for v in x if type(v) is int]
            if -_INT_BOUND < min(ints) and max(ints) < _INT_BOUND:
                return ["l", *x]
    return wire.pack(x)


def _floats(x) -> bool:
    if type(x) is float:
        return True
    return type(x) in (list, tuple) and len(x) > 0 and set(map(type, x)) == {float}


MESSAGE_CHARS = 2000


def describe(exc: BaseException) -> tuple[str, str]:
    """An exception as (type name, message), the message cut at ``MESSAGE_CHARS``; never raises."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return name, text[:MESSAGE_CHARS]


def answer_all(fn, inputs: list, limits: list, want_args: bool, send_bytes) -> None:
    """Call ``fn`` on every input (packed argument lists) and send the answers."""
    out = _Writer(send_bytes)
    try:
        signal.signal(signal.SIGPROF, _on_timer)
        timer = True
    except (OSError, ValueError):  # no timer: the trusted side still judges the reported times
        timer = False
    clock = time.process_time
    for packed_args, limit in zip(inputs, limits):
        args = wire.unpack(packed_args)
        if type(args) is not list:
            args = list(args)
        _Input.limit = float(limit)
        start = _Input.started = clock()
        try:
            try:
                if timer:
                    signal.setitimer(signal.ITIMER_PROF, max(_Input.limit, 0.001), REFIRE)
                result = fn(*args)
            finally:
                if timer:
                    signal.setitimer(signal.ITIMER_PROF, 0)
        except InputTimeout:
            out.add(["timeout", clock() - start])
            continue
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are answers too
            out.add(["raise", *describe(exc), clock() - start])
            continue
        cpu = clock() - start
        try:
            packed = pack(result)
            after = wire.pack(args) if want_args else None
        except wire.Unencodable as exc:
            out.add(["bad", str(exc)[:2000], cpu])
            continue
        except RecursionError:
            out.add(["bad", "the result nests too deeply", cpu])
            continue
        out.add(["ok", cpu, after if after != packed_args else None, _floats(result)], packed)
    out.flush()
