"""HumanEval+ (EvalPlus's format) judged as EvalPlus judges it.

A problem of a suite in EvalPlus's format (``pytest_codex.core.evalplus``) has two input
sets, *base* (HumanEval's own test inputs) and *plus* (EvalPlus's extra inputs).  A sample
passes base when its output on every base input matches the canonical solution's; it
passes plus when it passes base and the same holds on every plus input.  The rules are
EvalPlus's:

* **expected outputs** come from the canonical solution (prompt + canonical_solution) run
  on the same inputs in the sandbox (never in this process), once per suite: they are
  cached under ``<rootdir>/.codex/evalplus/<sha256>-python<X.Y>/`` (the file's sha256 and
  the Python version are the key), with the canonical solution's CPU time on each input;
* **comparison**: equal (``==``), or, where the expected output is a float or a non-empty
  list or tuple of floats (or, from then on in the same input set, for any output, as in
  EvalPlus) within ``atol`` (the file's, or 1e-6 where it says 0), numpy ``allclose``'s rule
  with rtol 1e-7, the same type and the same length; problems with a special checker are
  judged by it instead (``find_zero``: the result must be a zero of the polynomial, within
  ``atol``);
* **time**: each input has the limit max(1 s, 4 x the canonical solution's time on it) of CPU
  time, and a sample has at most min(60 s, the sum of its inputs' limits) + 2 s for one set;
  ``--codex-time-floor`` / ``--codex-time-factor`` given explicitly replace the 1 s and the
  4 x, ``--codex-timeout`` makes every input's limit that many seconds;
* the first input that fails decides (EvalPlus's default fast check), and is recorded.

A sample's inputs go to it in one exchange (``pytest_codex.sandbox.batch``): the sample
returns its outputs, this process compares them; nothing the sample says is a verdict.
"""

from __future__ import annotations

import cmath
import dataclasses
import hashlib
import json
import math
import reprlib
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex.core import evalplus
from pytest_codex.core.files import atomic_write
from pytest_codex.core.problems import Problem, Suite
from pytest_codex.core.records import SampleRecord
from pytest_codex.core.verdicts import SampleResult, Verdict
from pytest_codex.experiments.mutation import VERSION as MUTATION_VERSION
from pytest_codex.experiments.mutation import mutate_inputs
from pytest_codex.sandbox import batch, wire

MIN_TIME_LIMIT = 1.0  # EvalPlus's DEFAULT_MIN_TIME_LIMIT
TIME_FACTOR = 4.0  # EvalPlus's DEFAULT_GT_TIME_LIMIT_FACTOR
SET_CAP = 60.0  # EvalPlus's per-task bound on one input set (seconds) ...
SET_EXTRA = 2.0  # ... plus what its process gets beyond it
FLOAT_ATOL = 1e-6  # the tolerance of float outputs where the file says 0
RTOL = 1e-7  # numpy.allclose's rtol as EvalPlus sets it
CANONICAL_LIMIT = 60.0  # CPU seconds the canonical solution may take on one input
CANONICAL_CAP = 1200.0  # ... and on one input set
CACHE_SCHEMA = 3
PHASES = ("base", "plus")
KEEP_PROBLEMS = 8  # problems whose inputs and expected outputs stay in memory
GENERATED = "generated"  # the input set of --codex-plus
VALIDATION_LIMIT = 5.0  # CPU seconds the canonical solution may take on a generated input
SHOW = 300  # characters of an input or output kept in a failure record

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxtuple = 120, 120, 12, 12
_repr.maxdict, _repr.maxset, _repr.maxlevel = 8, 12, 4


def show(value: Any) -> str:
    try:
        return _repr.repr(value)[:SHOW]
    except Exception:  # a value whose repr fails (an int past the digit limit)
        return f"<{type(value).__name__}>"


def show_call(name: str, args: list) -> str:
    return f"{name}({', '.join(show(a) for a in args)})"[: 2 * SHOW]


# --- the comparison ------------------------------------------------------------------


def is_floats(x: Any) -> bool:
    """A float, or a non-empty list or tuple of floats (EvalPlus's test for a float output)."""
    if type(x) is float:
        return True
    return type(x) in (list, tuple) and len(x) > 0 and all(type(v) is float for v in x)


def _array(x: Any) -> tuple[tuple[int, ...], list]:
    """``x`` as numpy would see it in ``allclose``: (shape, flat numbers); raises on a value
    numpy could not compare (a string, None, a ragged list)."""
    if type(x) in (bool, int, float, complex):
        return (), [x]
    if type(x) in (list, tuple):
        parts = [_array(v) for v in x]
        shapes = {shape for shape, _ in parts}
        if len(shapes) > 1:
            raise ValueError("ragged")
        inner = parts[0][0] if parts else ()
        return (len(x), *inner), [v for _, flat in parts for v in flat]
    raise TypeError(type(x).__name__)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError("shapes do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def _flat_indices(shape: tuple[int, ...], full: tuple[int, ...]) -> list[int]:
    """For each element of ``full`` (row-major), the index of the element of an array of
    ``shape`` broadcast to it."""
    shape = (1,) * (len(full) - len(shape)) + shape
    indices = [0]
    for dim, size in zip(shape, full):
        indices = [i * dim + (j if dim != 1 else 0) for i in indices for j in range(size)]
    return indices


def _number(v: Any) -> float | complex:
    if type(v) is complex:
        return v
    return float(v)  # bool and int too (OverflowError past the float range)


def _isclose(a: float | complex, b: float | complex, atol: float, rtol: float) -> bool:
    finite = cmath.isfinite(a) and cmath.isfinite(b)
    if not finite:
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def allclose(out: Any, expected: Any, atol: float, rtol: float = RTOL) -> bool:
    """numpy.allclose(out, expected, rtol, atol) for plain values (False where numpy raises)."""
    try:
        shape_a, flat_a = _array(out)
        shape_b, flat_b = _array(expected)
        full = _broadcast(shape_a, shape_b)
        ia, ib = _flat_indices(shape_a, full), _flat_indices(shape_b, full)
        return all(_isclose(_number(flat_a[i]), _number(flat_b[j]), atol, rtol) for i, j in zip(ia, ib))
    except (TypeError, ValueError, OverflowError):
        return False


def _poly(xs: Any, x: Any) -> Any:
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def find_zero_ok(args: list, out: Any, atol: float) -> bool:
    """HumanEval/32: the result is a zero of the polynomial ``args[0]`` within ``atol``."""
    try:
        if len(args) != 1:  # find_zero takes the coefficients alone
            return False
        return bool(abs(_poly(args[0], out)) <= atol)
    except Exception:
        return False


# EvalPlus's special checkers of HumanEval+, by entry point: (args, out, atol) -> passed
SPECIAL = {"find_zero": find_zero_ok}


class SetJudge:
    """Compares one input set's outputs in order, with EvalPlus's rules (its ``atol`` turns
    1e-6 at the first float output and stays so for the rest of the set)."""

    def __init__(self, atol: float, entry_point: str) -> None:
        self.atol = atol
        self.special = SPECIAL.get(entry_point)

    def equal(self, floats: bool) -> None:
        """An output equal to the expected one (known without comparing values): it passes;
        ``floats``: the expected output is floats (then ``atol`` turns 1e-6 as in ``same``)."""
        if self.special is None and self.atol == 0 and floats:
            self.atol = FLOAT_ATOL

    def same(self, args: list, out: Any, expected: Any) -> bool:
        try:
            exact = out == expected
        except Exception:  # plain data does not raise here; a RecursionError might
            exact = False
        if self.special is not None:
            return self.special(args, out, self.atol)
        if self.atol == 0 and is_floats(expected):
            self.atol = FLOAT_ATOL
        if exact:
            return True
        if self.atol == 0:
            return False
        if type(out) is not type(expected):
            return False
        if isinstance(expected, (list, tuple)) and len(out) != len(expected):
            return False
        return allclose(out, expected, self.atol)


# --- expected outputs and time limits --------------------------------------------------


@dataclass
class Expected:
    """The canonical solution's outputs on one input set, as the sandbox sent them (wire
    format, JSON text: a sample's output with the same bytes is equal without decoding it),
    decoded when needed."""

    raws: list[bytes | None]  # the output per input (None where the canonical solution failed)
    failed: dict[int, str]  # input -> why the canonical solution has no output for it
    seconds: list[float]  # its CPU time per input
    floats: set[int]  # the inputs whose output is a float, or a non-empty list or tuple of floats
    _values: dict[int, Any] = field(default_factory=dict, repr=False)

    def value(self, i: int) -> Any:
        if i not in self._values:
            raw = self.raws[i]
            self._values[i] = None if raw is None else batch.unpack_value(wire.loads(raw))
        return self._values[i]

    def header(self) -> dict:
        return {
            "count": len(self.raws),
            "seconds": self.seconds,
            "failed": {str(i): why for i, why in self.failed.items()},
            "floats": sorted(self.floats),
        }

    @classmethod
    def from_cache(cls, header: dict, lines: list[bytes], count: int) -> Expected:
        if header["count"] != count or len(lines) != count or len(header["seconds"]) != count:
            raise ValueError("the number of inputs changed")
        failed = {int(i): str(why) for i, why in header["failed"].items()}
        raws: list[bytes | None] = [None if i in failed else line for i, line in enumerate(lines)]
        return cls(raws, failed, [float(x) for x in header["seconds"]], {int(i) for i in header["floats"]})


class _CanonicalAnswers:
    """The canonical solution's answers, gathered over one or more batch runs (a run that
    ends early resumes after the input it ended on)."""

    def __init__(self, count: int, limit: float = CANONICAL_LIMIT) -> None:
        self.limit = limit
        self.raws: list[bytes | None] = [None] * count
        self.seconds = [0.0] * count
        self.failed: dict[int, str] = {}
        self.floats: set[int] = set()
        self.start = 0  # the first input of the current run

    def take(self, answer: batch.Answer) -> bool:
        i = self.start + answer.index
        self.seconds[i] = answer.cpu
        if answer.kind is batch.AnswerKind.OK:
            self.raws[i] = answer.raw
            if answer.floats:  # (the canonical solution's sample: trusted code)
                self.floats.add(i)
        elif answer.kind is batch.AnswerKind.RAISED:
            self.failed[i] = f"the canonical solution raised {answer.error_type}: {answer.message}"
        elif answer.kind is batch.AnswerKind.TIMEOUT:
            self.failed[i] = f"the canonical solution ran past {self.limit:g} s"
        else:
            self.failed[i] = f"the canonical solution's output cannot be compared: {answer.message}"
        return True

    def expected(self) -> Expected:
        raws = [None if i in self.failed else raw for i, raw in enumerate(self.raws)]
        return Expected(raws, self.failed, self.seconds, self.floats - set(self.failed))


@dataclass(frozen=True)
class Generation:
    """--codex-plus with a suite in EvalPlus's format: how many new inputs per problem, and
    the seed they are drawn from."""

    count: int
    seed: int

    def task_seed(self, problem: Problem) -> int:
        return int.from_bytes(hashlib.sha256(f"mutate:{self.seed}:{problem.task_id}".encode()).digest()[:8], "big")


@dataclass
class GeneratedSet:
    inputs: InputSet  # the inputs kept, with the canonical solution's outputs
    drawn: int  # inputs drawn
    dropped: dict[str, int]  # why the others were dropped (outside the contract, ...)


@dataclass(frozen=True)
class LimitRule:
    floor: float = MIN_TIME_LIMIT
    factor: float = TIME_FACTOR
    fixed: float | None = None  # --codex-timeout

    def limits(self, seconds: list[float]) -> tuple[float, ...]:
        if self.fixed is not None:
            return tuple(self.fixed for _ in seconds)
        return tuple(max(self.floor, self.factor * t) for t in seconds)

    def describe(self) -> dict:
        if self.fixed is not None:
            return {"policy": "fixed per input (EvalPlus format)", "seconds": self.fixed}
        return {
            "policy": "per input: max(floor, factor x the canonical solution's CPU time on it) (EvalPlus's rule)",
            "floor_s": self.floor,
            "factor": self.factor,
            "per_set_cap_s": SET_CAP + SET_EXTRA,
        }


def generation(experiments) -> Generation | None:
    """--codex-plus: new inputs per problem (--codex-plus-inputs), drawn from --codex-plus-seed."""
    if not experiments.plus:
        return None
    return Generation(count=experiments.plus_inputs, seed=experiments.plus_seed)


def limit_rule(options) -> LimitRule:
    """EvalPlus's 1 s and 4 x, unless the time options were given explicitly."""
    box, given = options.sandbox, options.sources
    if box.timeout is not None:
        return LimitRule(fixed=box.timeout)
    return LimitRule(
        floor=box.time_floor if "--codex-time-floor" in given else MIN_TIME_LIMIT,
        factor=box.time_factor if "--codex-time-factor" in given else TIME_FACTOR,
    )


@dataclass
class InputSet:
    """One problem's base or plus inputs, ready to send, with their expected outputs."""

    name: str  # "base" or "plus"
    inputs: tuple[list, ...]
    text: str  # the packed inputs, sent to every sample
    expected: Expected
    limits: tuple[float, ...]


class HumanEvalPlus:
    """Expected outputs (computed once, cached) and the judging of samples, for one process."""

    def __init__(
        self,
        suite: Suite,
        executor,
        rule: LimitRule,
        cache_root: Path | None,
        generate: Generation | None = None,
    ) -> None:
        assert suite.inputs is not None
        self.suite, self.executor, self.rule, self.generate = suite, executor, rule, generate
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        self.cache_dir = cache_root / "evalplus" / f"{suite.sha256[:16]}-{version}" if cache_root else None
        self._sets: OrderedDict[str, tuple[InputSet, InputSet]] = OrderedDict()  # the last few problems
        self._generated: OrderedDict[str, GeneratedSet] = OrderedDict()

    # -- expected outputs -------------------------------------------------------------
    def sets(self, problem: Problem) -> tuple[InputSet, InputSet]:
        found = self._sets.get(problem.task_id)
        if found is None:
            found = self._sets[problem.task_id] = self._prepare(problem)
            while len(self._sets) > KEEP_PROBLEMS:
                self._sets.popitem(last=False)
        self._sets.move_to_end(problem.task_id)
        return found

    def _cache_file(self, problem: Problem, kind: str = "") -> Path | None:
        if self.cache_dir is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in problem.task_id)
        return self.cache_dir / f"{safe}{kind}.jsonl"

    def _prepare(self, problem: Problem) -> tuple[InputSet, InputSet]:
        assert self.suite.inputs is not None
        data = self.suite.inputs[problem.task_id]
        raw = {"base": data.base, "plus": data.plus}
        cached = self._load_cached(problem, raw)
        if cached is None:
            texts = {name: batch.pack_inputs(raw[name]) for name in PHASES}
            expected = {name: self._canonical(problem, raw[name], texts[name]) for name in PHASES}
            self._save(problem, texts, expected)
        else:
            texts, expected = cached
        return tuple(  # type: ignore[return-value]
            InputSet(name, raw[name], texts[name], expected[name], self.rule.limits(expected[name].seconds))
            for name in PHASES
        )

    def _load_cached(self, problem: Problem, raw: dict) -> tuple[dict[str, str], dict[str, Expected]] | None:
        """The cache file: a JSON header line, then for base and for plus: one line with the
        inputs in wire format, and one line per input with the output's wire text (``null``
        where the canonical solution failed)."""
        path = self._cache_file(problem)
        if path is None or not path.is_file():
            return None
        try:
            head, *lines = path.read_bytes().split(b"\n")
            doc = json.loads(head)
            if doc.get("schema") != CACHE_SCHEMA or doc.get("task_id") != problem.task_id:
                return None
            texts, expected, at = {}, {}, 0
            for name in PHASES:
                count = len(raw[name])
                texts[name] = lines[at].decode("ascii")
                expected[name] = Expected.from_cache(doc["sets"][name], lines[at + 1 : at + 1 + count], count)
                at += 1 + count
            if at != len(lines):
                return None
            return texts, expected
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None  # a damaged cache is computed again, not trusted

    def _save(self, problem: Problem, texts: dict[str, str], expected: dict[str, Expected]) -> None:
        path = self._cache_file(problem)
        if path is None:
            return
        head = {
            "schema": CACHE_SCHEMA,
            "task_id": problem.task_id,
            "suite_sha256": self.suite.sha256,
            "python": sys.version.split()[0],
            "sets": {name: expected[name].header() for name in PHASES},
        }
        lines = [json.dumps(head, separators=(",", ":"))]
        for name in PHASES:
            lines.append(texts[name])
            lines += [raw.decode("ascii") if raw is not None else "null" for raw in expected[name].raws]
        try:
            atomic_write(path, "\n".join(lines))
        except (OSError, UnicodeDecodeError):
            return  # an unwritable cache only costs computing them again next time

    def _canonical(self, problem: Problem, inputs: tuple[list, ...], text: str) -> Expected:
        """The canonical solution on every input, in the sandbox; an input it fails on (an
        exception, a timeout, an output that cannot cross, a crash) is recorded with the reason."""
        got = _CanonicalAnswers(len(inputs))
        program = problem.prompt + problem.canonical_solution
        while got.start < len(inputs):
            rest = inputs[got.start :]
            job = batch.BatchJob(
                program,
                problem.entry_point,
                text if got.start == 0 else batch.pack_inputs(rest),
                tuple(CANONICAL_LIMIT for _ in rest),
                total_cap=CANONICAL_CAP,
            )
            result = self.executor.run_batch(job, got.take)
            if result.verdict is None:
                break
            if not result.loaded:
                why = f"the canonical solution does not load: {result.verdict}: {result.error_type}: {result.detail}"
                got.failed.update(dict.fromkeys(range(len(inputs)), why))
                break
            got.failed[got.start + result.answered] = (
                f"the canonical solution's run ended: {result.verdict}: {result.detail}"
            )
            got.start += result.answered + 1
        return got.expected()

    # -- generated tests (--codex-plus) ------------------------------------------------
    def generated(self, problem: Problem) -> GeneratedSet:
        """The problem's generated inputs (mutations of its base and plus inputs that its
        contract and canonical solution accept), with their expected outputs; drawn once
        per seed and count, and stored beside the expected outputs."""
        assert self.generate is not None
        found = self._generated.get(problem.task_id)
        if found is None:
            path = self._cache_file(
                problem, f".generated-seed{self.generate.seed}-n{self.generate.count}-v{MUTATION_VERSION}"
            )
            found = self._load_generated(problem, path)
            if found is None:
                found = self._draw(problem)
                self._save_generated(problem, path, found)
            self._generated[problem.task_id] = found
            while len(self._generated) > KEEP_PROBLEMS:
                self._generated.popitem(last=False)
        return found

    def _draw(self, problem: Problem) -> GeneratedSet:
        assert self.suite.inputs is not None and self.generate is not None
        data = self.suite.inputs[problem.task_id]
        drawn = mutate_inputs(list(data.base) + list(data.plus), self.generate.count, self.generate.task_seed(problem))
        got = _CanonicalAnswers(len(drawn), VALIDATION_LIMIT)
        if drawn:
            job = batch.BatchJob(
                problem.prompt + data.contract + problem.canonical_solution,  # EvalPlus's contract first
                problem.entry_point,
                batch.pack_inputs(drawn),
                tuple(VALIDATION_LIMIT for _ in drawn),
                total_cap=CANONICAL_CAP,
            )
            while True:
                rest = drawn[got.start :]
                if got.start:
                    job = dataclasses.replace(job, inputs_text=batch.pack_inputs(rest), limits=job.limits[: len(rest)])
                result = self.executor.run_batch(job, got.take)
                if result.verdict is None or not result.loaded:
                    if not result.loaded:
                        got.failed.update(dict.fromkeys(range(len(drawn)), "the canonical solution does not load"))
                    break
                got.failed[got.start + result.answered] = f"ended the canonical solution's run ({result.verdict})"
                got.start += result.answered + 1
                if got.start >= len(drawn):
                    break
        dropped: dict[str, int] = {}
        for why in got.failed.values():
            reason = "outside the contract" if "AssertionError: invalid inputs" in why else why.split(":")[0]
            dropped[reason] = dropped.get(reason, 0) + 1
        keep = [i for i in range(len(drawn)) if i not in got.failed and got.raws[i] is not None]
        inputs = tuple(drawn[i] for i in keep)
        expected = Expected(
            [got.raws[i] for i in keep],
            {},
            [got.seconds[i] for i in keep],
            {j for j, i in enumerate(keep) if i in got.floats},
        )
        text = batch.pack_inputs(inputs)
        return GeneratedSet(
            InputSet(GENERATED, inputs, text, expected, self.rule.limits(expected.seconds)), len(drawn), dropped
        )

    def _load_generated(self, problem: Problem, path: Path | None) -> GeneratedSet | None:
        if path is None or not path.is_file():
            return None
        try:
            head, text, *lines = path.read_bytes().split(b"\n")
            doc = json.loads(head)
            if doc.get("schema") != CACHE_SCHEMA or doc.get("task_id") != problem.task_id:
                return None
            inputs = tuple(list(wire.unpack(args)) for args in wire.loads(text))
            expected = Expected.from_cache(doc["set"], lines, len(inputs))
            limits = self.rule.limits(expected.seconds)
            return GeneratedSet(
                InputSet(GENERATED, inputs, text.decode("ascii"), expected, limits),
                int(doc["drawn"]),
                {str(k): int(v) for k, v in doc["dropped"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None

    def _save_generated(self, problem: Problem, path: Path | None, found: GeneratedSet) -> None:
        if path is None or self.generate is None:
            return
        head = {
            "schema": CACHE_SCHEMA,
            "task_id": problem.task_id,
            "seed": self.generate.seed,
            "count": self.generate.count,
            "generator_version": MUTATION_VERSION,
            "drawn": found.drawn,
            "dropped": found.dropped,
            "set": found.inputs.expected.header(),
        }
        lines = [json.dumps(head, separators=(",", ":")), found.inputs.text]
        lines += [raw.decode("ascii") if raw is not None else "null" for raw in found.inputs.expected.raws]
        try:
            atomic_write(path, "\n".join(lines))
        except (OSError, UnicodeDecodeError):
            return

    def judge_generated(self, problem: Problem, completion: str) -> SetVerdict:
        return self._judge_set(problem, problem.program(completion), self.generated(problem).inputs)

    # -- judging a sample ---------------------------------------------------------------
    def judge(self, problem: Problem, completion: str) -> tuple[SetVerdict, SetVerdict | None]:
        """The base verdict, and the plus verdict when base passed."""
        base, plus = self.sets(problem)
        program = problem.program(completion)
        first = self._judge_set(problem, program, base)
        if first.verdict is not Verdict.PASSED:
            return first, None
        return first, self._judge_set(problem, program, plus)

    def _judge_set(self, problem: Problem, program: str, inputs: InputSet) -> SetVerdict:
        assert self.suite.inputs is not None
        judge = SetJudge(self.suite.inputs[problem.task_id].atol, problem.entry_point)
        expected = inputs.expected
        failure: list[SetVerdict] = []

        def decide(answer: batch.Answer) -> bool:
            i = answer.index
            if answer.kind is batch.AnswerKind.OK and i not in expected.failed:
                raw = expected.raws[i]
                if judge.special is None and answer.raw == raw and raw is not None and b"NaN" not in raw:
                    judge.equal(i in expected.floats)  # the same bytes: the same value
                    return True
                args = answer.args_after if answer.args_after is not None else inputs.inputs[i]
                if judge.same(args, answer.value, expected.value(i)):
                    return True
            failure.append(describe_failure(problem, inputs, answer))
            return False

        job = batch.BatchJob(
            program,
            problem.entry_point,
            inputs.text,
            inputs.limits,
            want_args=judge.special is not None,
            total_cap=SET_CAP,
            extra=SET_EXTRA,
        )
        result = self.executor.run_batch(job, decide)
        if result.verdict is not None:
            where = None
            if result.answered < len(inputs.inputs) and result.verdict is not Verdict.SYNTAX_ERROR:
                i = result.answered
                where = {"tests": inputs.name, "index": i, "input": show(inputs.inputs[i]), "got": result.verdict.value}
            return SetVerdict(result.verdict, result.error_type, result.detail, where, result)
        if failure:
            failure[0].result = result
            return failure[0]
        return SetVerdict(Verdict.PASSED, None, None, None, result)


def describe_failure(problem: Problem, inputs: InputSet, answer: batch.Answer) -> SetVerdict:
    """The verdict of an input set at its first failing input, with that input."""
    i = answer.index
    args, expected = inputs.inputs[i], inputs.expected
    where = f"{inputs.name} input #{i}"
    call = show_call(problem.entry_point, args)
    record = {"tests": inputs.name, "index": i, "input": show(args)}
    if answer.kind is batch.AnswerKind.TIMEOUT:
        record["got"] = f"no result within {inputs.limits[i]:g} s"
        return SetVerdict(Verdict.TIMEOUT, None, f"{where}: {call} ran past {inputs.limits[i]:g} s", record)
    if answer.kind is batch.AnswerKind.RAISED:
        record["got"] = f"{answer.error_type}: {answer.message}"[:SHOW]
        detail = f"{where}: {call} raised {answer.error_type}: {answer.message}"
        return SetVerdict(Verdict.ERROR, answer.error_type, detail, record)
    if answer.kind is batch.AnswerKind.BAD:
        record["got"] = (answer.message or "")[:SHOW]
        return SetVerdict(Verdict.ERROR, "UnsupportedResultType", f"{where}: {call}: {answer.message}", record)
    record["got"] = show(answer.value)
    if i in expected.failed:
        return SetVerdict(Verdict.FAILED, None, f"{where}: no expected output: {expected.failed[i]}", record)
    record["expected"] = show(expected.value(i))
    detail = f"{where}: {call} returned {record['got']}, expected {record['expected']}"
    return SetVerdict(Verdict.FAILED, "AssertionError", detail, record)


@dataclass
class SetVerdict:
    verdict: Verdict
    error_type: str | None
    detail: str | None
    failing_input: dict | None
    result: batch.BatchResult | None = field(default=None, repr=False)


def sample_record(completion, base: SetVerdict, plus: SetVerdict | None) -> SampleRecord:
    """The sample's record: the base verdict as its verdict, the plus verdict beside it."""
    res = base.result
    record = SampleRecord.of(
        completion,
        SampleResult(
            base.verdict,
            error_type=base.error_type,
            detail=base.detail,
            duration=(res.duration if res else 0.0) + (plus.result.duration if plus and plus.result else 0.0),
            output=res.output if res else "",
            time_limit=float(res.cpu_budget) if res else None,
        ),
    )
    if plus is None:
        record.plus_verdict = f"base_{base.verdict.value}"
        record.failing_input = base.failing_input
    else:
        record.plus_verdict = plus.verdict.value
        record.plus_detail = plus.detail[:2000] if plus.detail else None
        record.failing_input = plus.failing_input
        if plus.result is not None and plus.result.output:
            record.output = (record.output + plus.result.output)[-4096:]
    return record


def run_problem(runner: HumanEvalPlus, problem: Problem, completions) -> tuple[list[SampleRecord], dict]:
    """Every completion of ``problem`` on base and plus; the payload's plus record."""
    assert runner.suite.inputs is not None
    data = runner.suite.inputs[problem.task_id]
    samples = []
    for comp in completions:
        base, plus = runner.judge(problem, comp.text)
        record = sample_record(comp, base, plus)
        if runner.generate is not None and base.verdict is Verdict.PASSED:
            ours = runner.judge_generated(problem, comp.text)
            record.generated = {
                "verdict": ours.verdict.value,
                "detail": ours.detail,
                "failing_input": ours.failing_input,
            }
        samples.append(record)
    c = sum(s.plus_verdict == Verdict.PASSED.value for s in samples)
    out = {"tests": len(data.plus), "base_tests": len(data.base), "c": c, "source": evalplus.FORMAT}
    if runner.generate is not None:
        found = runner.generated(problem)
        out["generated"] = {
            "tests": len(found.inputs.inputs),
            "drawn": found.drawn,
            "dropped": found.dropped,
            "c": sum(s.generated is not None and s.generated["verdict"] == Verdict.PASSED.value for s in samples),
        }
    return samples, out


def plus_view(samples: list[SampleRecord]) -> list[SampleRecord]:
    """The samples as HumanEval+ sees them (for a failure message): a sample that passed base
    shows its plus verdict and detail."""
    out = []
    for s in samples:
        if s.passed and s.plus_verdict is not None and s.plus_verdict != Verdict.PASSED.value:
            s = dataclasses.replace(s, verdict=Verdict(s.plus_verdict), detail=s.plus_detail, error_type=None)
        out.append(s)
    return out


def item_seconds(samples: int) -> float:
    """pytest-timeout's bound for one item: the canonical runs (cold cache) and every sample at
    its two sets' wall-clock guards."""
    per_set = batch.WALL_FACTOR * (math.ceil(SET_CAP + SET_EXTRA) + 1) + batch.WALL_SLACK
    return 2 * (batch.WALL_FACTOR * CANONICAL_CAP) + samples * 2 * per_set + 60
