"""The trusted side of a batch request: a set of inputs in one exchange with the sample.

For suites whose tests are a list of inputs and a comparison (EvalPlus's HumanEval+), the
per-call proxy of ``judge`` costs a round trip per input.  Here the sample gets the whole
list in one message and answers each input as it computes it (``child_batch``); the trusted
side reads the answers in order and hands each to a ``Decide`` callback of the caller, which
compares it with the expected output and says whether to go on.  Nothing the sample sends
is a verdict: an answer is a value, an exception's type and message, or "timed out", and
the caller decides.

Time: each input has a CPU-time limit, enforced in the sample by a CPU timer and checked
here against the CPU time the sample reports; the whole sample has a CPU-time rlimit (the
kernel kills it past the sum of its inputs' limits, capped); and the trusted side keeps a
wider wall-clock guard per input and for the whole exchange, so a sample that stops
answering (a loop in C code, a swallowed timer signal) is cut off here.  A sample can
misreport its own CPU time, but never beyond those two trusted bounds.
"""

from __future__ import annotations

import enum
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_codex.core.verdicts import Verdict
from pytest_codex.sandbox import child_batch, wire
from pytest_codex.sandbox.channel import Channel, ChannelClosed, SampleTimeout

WALL_FACTOR = 4.0  # the wall-clock guard: this many times the CPU limit ...
WALL_SLACK = 2.0  # ... plus this many seconds


class AnswerKind(str, enum.Enum):
    OK = "ok"  # the call returned ``value``
    RAISED = "raise"  # the call raised ``error_type`` with ``message``
    BAD = "bad"  # the call returned a value that may not cross the boundary
    TIMEOUT = "timeout"  # the call ran past its CPU-time limit


@dataclass
class Answer:
    index: int
    kind: AnswerKind
    cpu: float
    raw: bytes | None = None  # OK: the result as the sample sent it (wire format, JSON text)
    error_type: str | None = None
    message: str | None = None
    args_after: Any = None  # the arguments after the call, when asked for and changed
    floats: bool = False  # OK: the sample says the result is floats (believed for trusted programs only)
    _value: Any = field(default=None, repr=False)
    _decoded: bool = field(default=False, repr=False)

    @property
    def value(self) -> Any:
        """The result (decoded on first use; raises ``wire.WireError`` on malformed data)."""
        if not self._decoded:
            self._value = None if self.raw is None else unpack_value(wire.loads(self.raw))
            self._decoded = True
        return self._value


# go on (True) or stop here (False): the caller's decision on one answer
Decide = Callable[[Answer], bool]


@dataclass(frozen=True)
class BatchJob:
    """One program and the inputs to call its entry point on."""

    program: str
    entry_point: str
    inputs_text: str  # wire.dumps of the list of packed argument lists (built once per input set)
    limits: tuple[float, ...]  # CPU seconds per input
    want_args: bool = False
    total_cap: float | None = None  # CPU seconds for all the inputs (default: the sum of their limits)
    extra: float = 1.0  # CPU seconds beyond that for the whole sample (loading the program)

    @property
    def cpu_budget(self) -> int:
        """The sample's CPU-time rlimit, in whole seconds."""
        total = sum(self.limits) if self.total_cap is None else min(self.total_cap, sum(self.limits))
        return math.ceil(total + self.extra)

    @property
    def wall_budget(self) -> float:
        return WALL_FACTOR * self.cpu_budget + WALL_SLACK

    def request_text(self) -> str:
        head = wire.dumps(["batch", self.program, self.entry_point])[:-1]
        tail = wire.dumps([list(self.limits), self.want_args])[1:]
        return f"{head},{self.inputs_text},{tail}"


def pack_inputs(inputs) -> str:
    """The wire text of a list of argument lists (raises ``wire.Unencodable``)."""
    return wire.dumps([["l", *[child_batch.pack(a) for a in args]] for args in inputs])


@dataclass
class Exchange:
    """What happened in one batch exchange (before the sample's exit status is known)."""

    loaded: bool = False
    load_verdict: Verdict | None = None  # why it did not load
    error_type: str | None = None
    detail: str | None = None
    answered: int = 0  # answers handed to the caller
    stopped: bool = False  # the caller stopped it
    ended: Verdict | None = None  # the sample ended early: TIMEOUT, CRASHED or ERROR (protocol)
    channel_closed: bool = False


class BatchChannel(Channel):
    """A channel that can also hand over a frame's body undecoded."""

    def recv_body(self) -> bytes:
        """The body of the next frame, as bytes (``wire.OverBudget`` past the frame size
        limit; a batch's results are not counted against the sample's total, which bounds
        messages that are decoded)."""
        return self._frame(counted=False, chunk=1 << 20)


def exchange(job: BatchJob, channel: BatchChannel, decide: Decide, start: float) -> Exchange:
    """Send the batch, then hand each answer to ``decide`` until it says stop or all came."""
    out = Exchange()
    total_deadline = start + job.wall_budget
    channel.deadline = total_deadline
    try:
        channel.send_text(job.request_text())
        reply = channel.recv()
    except SampleTimeout:
        out.load_verdict, out.detail = Verdict.TIMEOUT, "the program did not finish loading within the time limit"
        return out
    except ChannelClosed:
        out.load_verdict, out.detail = Verdict.CRASHED, "the sample ended while loading the program"
        out.channel_closed = True
        return out
    except wire.WireError as exc:
        out.load_verdict, out.error_type, out.detail = (
            Verdict.ERROR,
            "ProtocolError",
            f"bad answer while loading: {exc}",
        )
        return out
    if not _load_reply(reply, out):
        return out
    out.loaded = True
    last = time.monotonic()
    for index, limit in enumerate(job.limits):
        channel.deadline = min(total_deadline, last + WALL_FACTOR * limit + WALL_SLACK)
        try:
            answer = parse_answer(index, channel.recv())
            if answer.kind is AnswerKind.OK:
                answer.raw = channel.recv_body()
        except SampleTimeout:
            out.ended, out.detail = Verdict.TIMEOUT, f"no answer for input #{index} within the wall-clock guard"
            return out
        except ChannelClosed:
            out.ended, out.detail = Verdict.CRASHED, f"the sample ended during input #{index}"
            out.channel_closed = True
            return out
        except wire.WireError as exc:
            out.ended, out.error_type, out.detail = (
                Verdict.ERROR,
                "ProtocolError",
                f"bad answer to input #{index}: {exc}",
            )
            return out
        last = time.monotonic()
        if answer.kind is not AnswerKind.TIMEOUT and answer.cpu > limit:
            answer.kind = AnswerKind.TIMEOUT  # it answered, but past its limit
        out.answered += 1
        try:
            go_on = decide(answer)
        except wire.WireError as exc:  # the result's text did not decode
            out.answered -= 1
            out.ended, out.error_type = Verdict.ERROR, "ProtocolError"
            out.detail = f"bad answer to input #{index}: {exc}"
            return out
        if not go_on:
            out.stopped = True
            return out
    return out


def _load_reply(reply, out: Exchange) -> bool:
    kind = reply[0] if isinstance(reply, list) and reply else None
    if kind == "ready":
        return True
    if kind == "syntax_error" and len(reply) == 4:
        line = f" (line {reply[3]})" if isinstance(reply[3], int) else ""
        out.load_verdict, out.error_type = Verdict.SYNTAX_ERROR, str(reply[1])[:100]
        out.detail = f"{str(reply[2])[:500]}{line}"
    elif kind == "error" and len(reply) == 3:
        out.load_verdict, out.error_type = Verdict.ERROR, str(reply[1])[:100]
        out.detail = f"while loading the program: {str(reply[2])[:500]}"
    else:
        out.load_verdict, out.error_type = Verdict.ERROR, "ProtocolError"
        out.detail = f"unexpected answer while loading: {str(reply)[:200]}"
    return False


_SCALARS = frozenset((str, bool, int, float, type(None)))
FAST_MIN = 64  # lists at least this long are checked for the fast path


def unpack_value(data):
    """``wire.unpack``, with a fast path for a long flat list of JSON scalars (a scalar
    decodes to itself, so the list is the value: no per-element call)."""
    if type(data) is list and len(data) > FAST_MIN and data[0] == "l":
        items = data[1:]
        if _SCALARS.issuperset(map(type, items)):
            return items
    return wire.unpack(data)


def _seconds(x) -> float:
    if type(x) not in (int, float) or not (x >= 0) or x == math.inf:
        raise wire.WireError(f"bad CPU time {str(x)[:40]}")
    return float(x)


def parse_answer(index: int, reply) -> Answer:
    """One answer of the sample, checked field by field (raises ``wire.WireError``)."""
    kind = reply[0] if isinstance(reply, list) and reply else None
    if kind == "ok" and len(reply) == 4 and type(reply[3]) is bool:  # the result follows in its own frame
        after = unpack_value(reply[2]) if reply[2] is not None else None
        return Answer(index, AnswerKind.OK, _seconds(reply[1]), args_after=after, floats=reply[3])
    if kind == "raise" and len(reply) == 4 and type(reply[1]) is str and type(reply[2]) is str:
        return Answer(index, AnswerKind.RAISED, _seconds(reply[3]), error_type=reply[1][:100], message=reply[2][:500])
    if kind == "bad" and len(reply) == 3 and type(reply[1]) is str:
        return Answer(index, AnswerKind.BAD, _seconds(reply[2]), message=reply[1][:500])
    if kind == "timeout" and len(reply) == 2:
        return Answer(index, AnswerKind.TIMEOUT, _seconds(reply[1]))
    raise wire.WireError(f"unexpected answer {str(reply)[:200]}")


@dataclass
class BatchResult:
    """A batch exchange and how the sample ended.  ``verdict`` is None when the sample answered
    every input the caller wanted (the caller's decisions are the verdict); else it says why
    the exchange ended early (it did not load, it timed out, crashed or broke the protocol)."""

    verdict: Verdict | None
    error_type: str | None
    detail: str | None
    answered: int
    stopped: bool
    duration: float
    output: str
    cpu_budget: int
    loaded: bool = True  # the program loaded (else ``verdict`` says why not)


def result_of(ex: Exchange, status: dict, job: BatchJob, duration: float, output: str) -> BatchResult:
    """Combine the exchange with the sample's exit status (from the fork server)."""
    verdict = ex.load_verdict or ex.ended
    detail, error_type = ex.detail, ex.error_type
    state = status.get("state")
    if verdict is Verdict.CRASHED:
        if state == "signal":
            sig = status["signal"]
            if sig == signal.SIGXCPU:
                verdict, detail = Verdict.TIMEOUT, f"CPU time limit of the whole sample ({job.cpu_budget} s) exceeded"
            else:
                detail = f"{detail}: killed by {_signal_name(sig)}"
        elif state == "exit":
            detail = f"{detail}: exited with status {status['code']} before answering every input"
        else:
            detail = f"{detail}: it closed its connection"
    return BatchResult(
        verdict, error_type, detail, ex.answered, ex.stopped, duration, output, job.cpu_budget, loaded=ex.loaded
    )


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"
