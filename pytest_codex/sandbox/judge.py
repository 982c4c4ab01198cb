"""The trusted verdict: the problem's ``check(candidate)`` runs here, against a proxy.

Only this module decides a verdict.  The test code is compiled here (asserts kept even
under ``python -O``) and executed in a fresh namespace built from the problem's prompt and
canonical solution (trusted data: helpers such as ``poly`` or ``encode_cyclic`` come from
there, never from the completion).  The entry point's name and ``check``'s argument are a
``CandidateProxy``: each call sends the arguments to the sample and gets back plain data.

Replay: a round trip per call is most of a sample's cost, so the sample is told up front
the calls that a passing run of the same tests made, and answers them all at once.  The
proxy takes those answers only while the tests' own calls match the replayed ones exactly
(arguments compared in their wire form), so the sample has executed exactly the calls the
tests made, in the same order.  At the first call that differs the attempt is abandoned
(``Diverged``) and the sample runs again from scratch without a replay: nothing computed
for a call the tests did not make is ever used.
"""

from __future__ import annotations

import ast
import builtins
import textwrap
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType
from typing import Any

from pytest_codex.core import text
from pytest_codex.core.problems import Problem
from pytest_codex.core.verdicts import Verdict
from pytest_codex.sandbox import wire
from pytest_codex.sandbox.channel import Channel, ChannelClosed, SampleTimeout

TESTS_FILE = "<tests>"
TRUSTED_GRACE = 2.0  # seconds the trusted side may work on a sample past its time limit


class SampleOver(BaseException):
    """Ends ``check`` when the sample timed out, crashed or broke the protocol (sticky: a test
    that catches it still gets that verdict)."""

    def __init__(self, verdict: Verdict, error_type: str | None, detail: str) -> None:
        super().__init__(detail)
        self.verdict, self.error_type, self.detail = verdict, error_type, detail


class Diverged(BaseException):
    """The tests called the candidate differently from the replay: run the sample again, live."""


class UnproxiableArgument(TypeError):
    """The tests passed something that cannot be sent to the sample (a problem-set defect)."""


@dataclass
class Judgement:
    verdict: Verdict
    error_type: str | None = None
    detail: str | None = None
    channel_closed: bool = False  # the child hung up: a crash unless a verdict came first
    calls: list | None = None  # the candidate calls the tests made (JSON texts), for replays


@dataclass(frozen=True)
class TrustedCode:
    setup: CodeType  # prompt + canonical solution (or the prompt alone)
    tests: CodeType


@lru_cache(maxsize=4096)
def trusted_code(problem: Problem) -> TrustedCode:
    setup: CodeType | None = None
    for source in (problem.prompt + problem.canonical_solution, problem.prompt, ""):
        try:
            setup = compile(source, "<prompt>", "exec", dont_inherit=True, optimize=0)
            break
        except (SyntaxError, ValueError):
            continue
    tests = compile(problem.test, TESTS_FILE, "exec", dont_inherit=True, optimize=0)
    assert setup is not None  # the last source, "", always compiles
    return TrustedCode(setup, tests)


def record_calls(problem: Problem) -> list[str] | None:
    """The calls the tests make (as JSON texts, as the proxy sends them) when they check the
    canonical solution, or None if it does not pass.  The canonical solution is part of the
    trusted suite (``judge`` defines it in the tests' namespace for every sample already): it
    runs here, in this process, never a completion."""
    code = trusted_code(problem)
    scope: dict = {"__name__": "__codex_tests__"}
    calls: list[str] = []
    try:
        exec(code.setup, scope)
        canonical = scope.get(problem.entry_point)
        exec(code.tests, scope)
        check = scope.get("check")
        if not (callable(canonical) and callable(check)):
            return None

        def recorder(*args, **kwargs):
            calls.append(wire.dumps([wire.pack(args), wire.pack(kwargs)]))
            return canonical(*args, **kwargs)

        scope[problem.entry_point] = recorder
        check(recorder)
    except Exception:
        return None
    return calls


_NO_RESULT = object()  # the last call has not returned (yet)


class CandidateProxy:
    """Stands for the completion's function in the trusted process."""

    def __init__(
        self, channel: Channel, name: str, replay: list[str], answers: list[bytes], cut: BaseException | None
    ) -> None:
        """``answers``: the sample's answers to the ``replay`` calls, read before the tests
        ran; ``cut``: what ended the reading early (the sample timed out, hung up or sent
        something malformed), raised when the tests reach the first missing answer."""
        self._channel, self._name, self._replay = channel, name, replay
        self._answers, self._cut = answers, cut
        self._budget_end = channel.deadline + TRUSTED_GRACE
        self.calls: list[str] = []  # each call as the JSON text [packed_args, packed_kwargs]
        # the last call (its JSON text) and its packed result (None: it returned nothing yet),
        # shown only when a failure is described (``last_call``, ``last_result``)
        self._last_call: str | None = None
        self._last_result: Any = _NO_RESULT
        self.over: SampleOver | None = None
        self.diverged = False

    def __repr__(self) -> str:
        return f"<candidate {self._name} (sandboxed)>"

    def __call__(self, *args, **kwargs):
        if self.diverged:
            raise Diverged()
        if self.over is not None:
            raise self.over
        try:
            wire_call = wire.dumps([wire.pack(args), wire.pack(kwargs)])
        except (wire.Unencodable, RecursionError) as exc:
            call = text.show_call("candidate", args, kwargs)
            raise UnproxiableArgument(f"{call}: an argument cannot be sent to the sample: {exc}") from None
        self._last_call, self._last_result = wire_call, _NO_RESULT
        index = len(self.calls)
        self.calls.append(wire_call)
        if index < len(self._replay) and wire_call != self._replay[index]:
            self.diverged = True
            raise Diverged()
        try:
            self._within_budget()
            if index < len(self._replay):
                if index >= len(self._answers):
                    raise self._cut or ChannelClosed()
                reply = wire.loads(self._answers[index])
                self._answers[index] = b""
            else:
                self._channel.send_text(f'["call",{wire_call}]')
                reply = self._channel.recv()
            result = self._take(reply, args)
            self._within_budget()
            return result
        except SampleTimeout:
            self.over = SampleOver(Verdict.TIMEOUT, None, f"no answer to {self.last_call} within the time limit")
        except ChannelClosed:
            self.over = SampleOver(Verdict.CRASHED, None, f"the sample ended during {self.last_call}")
        except wire.OverBudget as exc:
            detail = f"answer to {self.last_call} over budget: {text.line(exc, 300)}"
            self.over = SampleOver(Verdict.ERROR, "OverBudget", detail)
        except wire.WireError as exc:
            detail = f"bad answer to {self.last_call}: {text.line(exc, 300)}"
            self.over = SampleOver(Verdict.ERROR, "ProtocolError", detail)
        raise self.over

    @property
    def last_call(self) -> str | None:
        """The last call, as shown in a failure (``candidate(1, [2])``); None before any."""
        if self._last_call is None:
            return None
        packed_args, packed_kwargs = wire.loads(self._last_call.encode())  # our own JSON text of the call
        return text.show_call("candidate", wire.unpack(packed_args), wire.unpack(packed_kwargs))

    @property
    def last_result(self) -> str | None:
        """What the last call returned, as shown in a failure; None if it returned nothing."""
        return None if self._last_result is _NO_RESULT else text.show(wire.unpack(self._last_result))

    def _within_budget(self) -> None:
        """The trusted side's own work on this sample (decoding, the tests' comparisons) has
        a deadline too: ``TRUSTED_GRACE`` past the sample's."""
        if time.monotonic() > self._budget_end:
            raise wire.OverBudget(f"the trusted side's work on this sample ran {TRUSTED_GRACE:g} s past its time limit")

    def _take(self, reply, args: tuple):
        kind = reply[0] if isinstance(reply, list) and reply else None
        if kind == "ok" and len(reply) == 3:
            result = wire.unpack(reply[1])  # a new value: reply[1] stays as the sample sent it
            if reply[2] is not None:
                _write_back(args, wire.unpack(reply[2]))
            self._last_result = reply[1]
            return result
        if kind == "raise" and len(reply) == 3 and all(isinstance(v, str) for v in reply[1:]):
            raise candidate_exception(text.line(reply[1], 100), text.line(reply[2], 500), str(self.last_call))
        if kind == "bad" and len(reply) == 2 and isinstance(reply[1], str):
            # Any: the exception carries codex_from_candidate
            exc: Any = TypeError(f"{self.last_call} returned a value the sandbox refuses: {text.line(reply[1], 300)}")
            exc.codex_from_candidate = "UnsupportedResultType"
            raise exc
        raise wire.WireError(f"unexpected answer {text.show(reply)}")


def candidate_exception(type_name: str, message: str, call: str) -> Exception:
    """The sample's exception re-created here: the builtin type of that name where there is one
    (``type_name`` and ``message`` already made safe by ``text.line``)."""
    cls = getattr(builtins, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = Exception
    exc: Any  # an exception carrying the codex_* attributes the report reads
    try:
        exc = cls(message)
    except Exception:
        exc = Exception(message)
    exc.codex_from_candidate = type_name
    exc.codex_call = call
    return exc


def _write_back(args: tuple, after) -> None:
    """Mirror mutations of the arguments the sample made (the tests may inspect them)."""
    if type(after) is not tuple or len(after) != len(args):
        raise wire.WireError("mutated arguments do not match the call")
    for before, now in zip(args, after):
        if type(before) is list and type(now) is list:
            before[:] = now
        elif type(before) in (dict, set) and type(now) is type(before):
            before.clear()
            before.update(now)


def judge(problem: Problem, completion: str, channel: Channel, replay: list[str]) -> Judgement:
    """The verdict for one sample; raises ``Diverged`` when the replay did not match."""
    try:
        channel.send_text(
            wire.dumps(["load", problem.program(completion), problem.entry_point])[:-1] + ",[" + ",".join(replay) + "]]"
        )
        reply = channel.recv()
    except SampleTimeout:
        return Judgement(Verdict.TIMEOUT, detail="the completion did not finish loading within the time limit")
    except ChannelClosed:
        return Judgement(Verdict.CRASHED, detail="the sample ended while loading the completion", channel_closed=True)
    except wire.WireError as exc:
        return Judgement(Verdict.ERROR, "ProtocolError", f"bad answer while loading: {text.line(exc, 300)}")
    loaded = _loaded(reply)
    if loaded is not None:
        return loaded
    answers, cut = _read_answers(channel, len(replay))
    code = trusted_code(problem)
    scope: dict = {"__name__": "__codex_tests__"}
    exec(code.setup, scope)
    exec(code.tests, scope)
    proxy = CandidateProxy(channel, problem.entry_point, replay, answers, cut)
    scope[problem.entry_point] = proxy  # a test naming the entry point means the candidate too
    check = scope.get("check")
    if not callable(check):
        raise ValueError(f"{problem.task_id}: the test code defines no check(candidate) function")
    try:
        check(proxy)
    except SampleOver:
        pass
    except UnproxiableArgument:
        raise
    except Diverged:
        raise
    except Exception as exc:
        if proxy.over is None and not proxy.diverged:
            return _from_exception(problem, exc, proxy)
    if proxy.diverged:  # also when the tests caught it
        raise Diverged()
    over = proxy.over  # also when the tests caught SampleOver: the sample still ended
    if over is not None:
        return Judgement(over.verdict, over.error_type, over.detail, channel_closed=over.verdict == Verdict.CRASHED)
    return Judgement(Verdict.PASSED, calls=proxy.calls)


def _read_answers(channel: Channel, n: int) -> tuple[list[bytes], BaseException | None]:
    """All the sample's answers to the replayed calls, read before any test runs: how fast
    the trusted side reads them never depends on whether they are right, so the sample
    learns nothing about its answers (no oracle) before it is ended."""
    answers: list[bytes] = []
    try:
        for _ in range(n):
            answers.append(channel.recv_frame())
    except (SampleTimeout, ChannelClosed, wire.WireError) as exc:
        return answers, exc
    return answers, None


def _loaded(reply) -> Judgement | None:
    kind = reply[0] if isinstance(reply, list) and reply else None
    if kind == "ready":
        return None
    if kind == "syntax_error" and len(reply) == 4:
        line = f" (line {reply[3]})" if isinstance(reply[3], int) else ""
        return Judgement(Verdict.SYNTAX_ERROR, text.line(reply[1], 100), f"{text.line(reply[2], 500)}{line}")
    if kind == "error" and len(reply) == 3:
        return Judgement(
            Verdict.ERROR, text.line(reply[1], 100), f"while loading the completion: {text.line(reply[2], 500)}"
        )
    return Judgement(Verdict.ERROR, "ProtocolError", f"unexpected answer while loading: {text.show(reply)}")


ASSERTION_LINES = 25  # a failing statement longer than this is cut (the results file caps the detail too)


@lru_cache(maxsize=1024)
def _statements(test: str) -> tuple[tuple[int, int], ...]:
    """(first line, last line) of every statement of the test code."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError):
        return ()
    return tuple((node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree) if isinstance(node, ast.stmt))


def _test_line(problem: Problem, exc: BaseException) -> str | None:
    """The whole statement of the tests that failed (all its lines: an assertion may span
    several), dedented; None when the failure is not in the tests' own code."""
    lines = problem.test.splitlines()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == TESTS_FILE and frame.lineno and 0 < frame.lineno <= len(lines):
            at = frame.lineno
            spans = [(a, b) for a, b in _statements(problem.test) if a <= at <= b]
            first, last = min(spans, key=lambda s: s[1] - s[0]) if spans else (at, at)
            stmt = textwrap.dedent("\n".join(lines[first - 1 : last])).strip("\n")
            shown = stmt.splitlines()
            if len(shown) > ASSERTION_LINES:
                cut = len(shown) - ASSERTION_LINES
                stmt = "\n".join(shown[:ASSERTION_LINES] + [f"... ({cut} more lines of this statement)"])
            return stmt  # the problem's own (trusted) test code
    return None


def _from_exception(problem: Problem, exc: Exception, proxy: CandidateProxy) -> Judgement:
    from_candidate = getattr(exc, "codex_from_candidate", None)
    message = text.exception_text(exc, 500)
    if from_candidate:
        where = getattr(exc, "codex_call", proxy.last_call)
        detail = f"{where} raised {from_candidate}: {message}" if from_candidate != "UnsupportedResultType" else message
        return Judgement(Verdict.ERROR, from_candidate, detail)
    line = _test_line(problem, exc)
    parts = []
    if proxy.last_call is not None:
        parts.append(f"{proxy.last_call} returned {proxy.last_result}")
    if line:
        parts.append(line)
    if isinstance(exc, AssertionError):
        if message:
            parts.append(f"message: {message}")
        return Judgement(Verdict.FAILED, "AssertionError", "\n".join(parts) or "assertion failed")
    name = text.line(type(exc).__name__, 100)
    parts.append(f"{name} in the tests: {message}")
    return Judgement(Verdict.ERROR, name, "\n".join(parts))
