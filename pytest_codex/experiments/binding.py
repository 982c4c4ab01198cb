"""The binding probe of the Codex paper (section 6): operations bound to the wrong variable.

The paper's second limitation: given a docstring with several variables and several
operations, the model applies an operation to the wrong variable.  Each problem here names
``v`` variables (distinct single letters from a small pool: integers, and with three or more
variables sometimes one list of integers) and ``m`` simple operations, each on a named
variable (add or subtract a constant, multiply, negate, take a remainder, add one variable to
another, swap two variables, append a constant or a variable to the list), and asks for the
final values as a tuple in a stated order.  The canonical solution is generated from the
same steps; ``check(candidate)`` calls the candidate on fixed and hypothesis-drawn inputs and
compares its outputs with literal expected outputs.

When the outputs are wrong, ``check`` also says what kind of wrong: a **binding error** when
they are, on every input, the outputs of the same steps with one step bound to a wrong
variable (the generator computes every such alternative and writes its outputs into the test
as literals), otherwise a **wrong output**.  The assertion's message carries the kind
(``BINDING_MARK`` / ``WRONG_MARK``); ``failure_kind`` reads it back from a sample's verdict
detail.  Errors, timeouts, crashes and syntax errors are other errors too.

Everything derives from ``(seed, variables, operations, per_cell, drawn)``: the same options
give the same suite, byte for byte, in every process.  No code is executed to build it: the
expected outputs come from the operations' Python implementations below.
"""

from __future__ import annotations

import enum
import random
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_codex.core.problems import Problem, Suite
from pytest_codex.core.records import SampleRecord
from pytest_codex.core.verdicts import Verdict
from pytest_codex.experiments.drawing import draw_examples
from pytest_codex.options.experiment import MAX_OPERATIONS, MAX_VARIABLES, MIN_VARIABLES, BindingConfig

ENTRY_POINT = "do_work"
GENERATOR_VERSION = 1
NAMES = tuple("abcdkmnpqrstuwxyz")  # the pool of variable names: one letter each, never twice
BINDING_MARK = "[binding error] "
WRONG_MARK = "[wrong output] "

Value = int | list[int]
Values = dict[str, Value]


class Kind(str, enum.Enum):
    INT = "int"
    LIST = "list"

    @property
    def hint(self) -> str:
        return "int" if self is Kind.INT else "list[int]"


class FailureKind(str, enum.Enum):
    """What a failing sample did wrong."""

    BINDING = "binding"  # the right steps, one of them on a wrong variable
    OTHER = "other"  # anything else: wrong output, exception, timeout, crash, syntax error

    def __str__(self) -> str:
        return self.value


class Op(str, enum.Enum):
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    NEG = "neg"
    MOD = "mod"
    ADD_VAR = "add_var"
    SWAP = "swap"
    APPEND = "append"
    APPEND_VAR = "append_var"


@dataclass(frozen=True)
class Operation:
    """One kind of step: its docstring phrase and code (``{t}`` target, ``{s}`` source
    variable, ``{c}`` constant), the kinds of variable it works on, and its constants."""

    key: Op
    phrase: str
    code: str
    target: Kind
    source: Kind | None
    constants: tuple[int, ...]


OPERATIONS: tuple[Operation, ...] = (
    Operation(Op.ADD, "add {c} to {t}", "{t} += {c}", Kind.INT, None, tuple(range(1, 10))),
    Operation(Op.SUB, "subtract {c} from {t}", "{t} -= {c}", Kind.INT, None, tuple(range(1, 10))),
    Operation(Op.MUL, "multiply {t} by {c}", "{t} *= {c}", Kind.INT, None, (2, 3, 4, 5)),
    Operation(Op.NEG, "negate {t}", "{t} = -{t}", Kind.INT, None, ()),
    Operation(Op.MOD, "replace {t} with {t} % {c}", "{t} %= {c}", Kind.INT, None, tuple(range(2, 10))),
    Operation(Op.ADD_VAR, "add {s} to {t}", "{t} += {s}", Kind.INT, Kind.INT, ()),
    Operation(Op.SWAP, "swap the values of {t} and {s}", "{t}, {s} = {s}, {t}", Kind.INT, Kind.INT, ()),
    Operation(Op.APPEND, "append {c} to the list {t}", "{t}.append({c})", Kind.LIST, None, tuple(range(10))),
    Operation(Op.APPEND_VAR, "append the value of {s} to the list {t}", "{t}.append({s})", Kind.LIST, Kind.INT, ()),
)
BY_KEY = {op.key: op for op in OPERATIONS}


def _int(x: Value) -> int:
    assert isinstance(x, int)
    return x


def _list(x: Value) -> list[int]:
    assert isinstance(x, list)
    return x


@dataclass(frozen=True)
class Step:
    op: Op
    target: str
    source: str | None = None
    constant: int | None = None

    @property
    def operation(self) -> Operation:
        return BY_KEY[self.op]

    def _fields(self) -> dict[str, object]:
        return {"t": self.target, "s": self.source, "c": self.constant}

    @property
    def phrase(self) -> str:
        return self.operation.phrase.format(**self._fields())

    @property
    def code(self) -> str:
        return self.operation.code.format(**self._fields())

    def apply(self, values: Values) -> None:
        """What the step's code does (lists are replaced, never changed in place)."""
        t, s, c = self.target, self.source, self.constant
        if self.op is Op.SWAP:
            assert s is not None
            values[t], values[s] = values[s], values[t]
        elif self.op is Op.NEG:
            values[t] = -_int(values[t])
        elif self.op is Op.ADD_VAR:
            assert s is not None
            values[t] = _int(values[t]) + _int(values[s])
        elif self.op is Op.APPEND_VAR:
            assert s is not None
            values[t] = [*_list(values[t]), _int(values[s])]
        else:
            assert c is not None
            if self.op is Op.APPEND:
                values[t] = [*_list(values[t]), c]
            elif self.op is Op.ADD:
                values[t] = _int(values[t]) + c
            elif self.op is Op.SUB:
                values[t] = _int(values[t]) - c
            elif self.op is Op.MUL:
                values[t] = _int(values[t]) * c
            else:
                assert self.op is Op.MOD, self.op
                values[t] = _int(values[t]) % c


@dataclass(frozen=True)
class Program:
    """One problem's variables (in parameter order), steps and return order."""

    names: tuple[str, ...]
    kinds: tuple[Kind, ...]
    steps: tuple[Step, ...]
    returned: tuple[str, ...]

    def kind(self, name: str) -> Kind:
        return self.kinds[self.names.index(name)]

    def run(self, args: Sequence[Value], steps: Sequence[Step] | None = None) -> tuple[Value, ...]:
        values: Values = {n: (list(a) if isinstance(a, list) else a) for n, a in zip(self.names, args)}
        for step in self.steps if steps is None else steps:
            step.apply(values)
        return tuple(values[n] for n in self.returned)

    def unchanged(self, args: Sequence[Value]) -> tuple[Value, ...]:
        """What returning the variables as given would return."""
        return tuple(args[self.names.index(n)] for n in self.returned)

    def misbindings(self) -> list[tuple[str, tuple[Step, ...]]]:
        """Every program with one step bound to a wrong variable of the same kind: (how, steps)."""
        out = []
        for i, step in enumerate(self.steps):
            for wrong in self._rebound(step):
                how = f"step {i + 1}: {wrong.phrase!r} instead of {step.phrase!r}"
                out.append((how, self.steps[:i] + (wrong,) + self.steps[i + 1 :]))
        return out

    def _rebound(self, step: Step) -> list[Step]:
        used = {step.target, step.source}
        out = [replace(step, target=n) for n in self.names if n not in used and self.kind(n) is step.operation.target]
        if step.source is not None:
            out += [
                replace(step, source=n) for n in self.names if n not in used and self.kind(n) is step.operation.source
            ]
            if step.op is Op.ADD_VAR:  # the roles mixed up: add t to s instead of s to t
                out.append(replace(step, target=step.source, source=step.target))
        return out


def describe(config: BindingConfig) -> str:
    return (
        f"generated:binding?seed={config.seed}&variables={','.join(map(str, config.variables))}"
        f"&operations={','.join(map(str, config.operations))}&per_cell={config.per_cell}"
        f"&drawn={config.drawn}&v={GENERATOR_VERSION}"
    )


def task_id(variables: int, operations: int, index: int) -> str:
    return f"binding/V{variables}/M{operations}/{index}"


def grid_cell(task: str) -> tuple[int, int] | None:
    """(variables, operations) encoded in a binding task id (None for other suites)."""
    parts = task.split("/")
    if len(parts) != 4 or parts[0] != "binding":
        return None
    v, m = parts[1], parts[2]
    if v[:1] == "V" and v[1:].isdigit() and m[:1] == "M" and m[1:].isdigit():
        return int(v[1:]), int(m[1:])
    return None


# --- generating a problem ----------------------------------------------------------------


def _applicable(op: Operation, ints: int, lists: int) -> bool:
    have = {Kind.INT: ints, Kind.LIST: lists}
    need = {Kind.INT: 0, Kind.LIST: 0}
    need[op.target] += 1
    if op.source is not None:
        need[op.source] += 1
    return all(have[k] >= need[k] for k in need)


def _draw_step(rng: random.Random, names: Sequence[str], kinds: Sequence[Kind]) -> Step:
    of = {k: [n for n, kk in zip(names, kinds) if kk is k] for k in Kind}
    op = rng.choice([op for op in OPERATIONS if _applicable(op, len(of[Kind.INT]), len(of[Kind.LIST]))])
    target = rng.choice(of[op.target])
    source = rng.choice([n for n in of[op.source] if n != target]) if op.source is not None else None
    constant = rng.choice(op.constants) if op.constants else None
    return Step(op.key, target, source, constant)


def _undoes(step: Step, previous: Step | None) -> bool:
    """A step that cancels the one just before it: the same swap again, a second negation."""
    if previous is None or step.op is not previous.op:
        return False
    if step.op is Op.SWAP:
        return {step.target, step.source} == {previous.target, previous.source}
    return step.op is Op.NEG and step.target == previous.target


def draw_program(rng: random.Random, variables: int, operations: int) -> Program:
    """A program whose steps never undo the one before, and whose result is not the input
    unchanged (returning the variables as given must not pass)."""
    names = tuple(sorted(rng.sample(NAMES, variables)))
    kinds = [Kind.INT] * variables
    if variables >= 3 and rng.random() < 0.5:
        kinds[rng.randrange(variables)] = Kind.LIST
    for _ in range(1000):
        steps: list[Step] = []
        while len(steps) < operations:
            step = _draw_step(rng, names, kinds)
            if not _undoes(step, steps[-1] if steps else None):
                steps.append(step)
        returned = list(names)
        rng.shuffle(returned)
        program = Program(names, tuple(kinds), tuple(steps), tuple(returned))
        if any(program.run(args) != program.unchanged(args) for args in fixed_inputs(kinds)):
            return program
    raise AssertionError(f"no program of {operations} operations on {variables} variables changes anything")


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def prompt_for(program: Program) -> str:
    params = ", ".join(f"{n}: {k.hint}" for n, k in zip(program.names, program.kinds))
    result = f"tuple[{', '.join(program.kind(n).hint for n in program.returned)}]"
    ints = [n for n, k in zip(program.names, program.kinds) if k is Kind.INT]
    lists = [n for n, k in zip(program.names, program.kinds) if k is Kind.LIST]
    given = f"the integers {_and(ints)}" if len(ints) > 1 else f"the integer {ints[0]}"
    if lists:
        given += f" and the list of integers {lists[0]}"
    steps = ", then ".join(s.phrase for s in program.steps)
    text = (
        f"Given {given}: {steps}. Return the final values of the variables as the tuple "
        f"({', '.join(program.returned)})."
    )
    body = textwrap.fill(text, width=84, initial_indent="    ", subsequent_indent="    ", break_long_words=False)
    return f'def {ENTRY_POINT}({params}) -> {result}:\n    """\n{body}\n    """\n'


def canonical_for(program: Program) -> str:
    lines = [f"    {s.code}\n" for s in program.steps]
    return "".join(lines) + f"    return ({', '.join(program.returned)})\n"


def fixed_inputs(kinds: Sequence[Kind]) -> list[tuple[Value, ...]]:
    """Three inputs with a distinct value for every variable."""
    ints = (lambda i: i + 1, lambda i: -(2 * i + 3), lambda i: 7 * i - 11)
    lists: tuple[list[int], ...] = ([], [4, -1], [0])
    return [
        tuple(make(i) if k is Kind.INT else list(lst) for i, k in enumerate(kinds)) for make, lst in zip(ints, lists)
    ]


def _drawn_inputs(kinds: Sequence[Kind], seed: int, count: int) -> list[tuple[Value, ...]]:
    def strategy(st):
        parts = [st.integers(-99, 99) if k is Kind.INT else st.lists(st.integers(-9, 9), max_size=4) for k in kinds]
        return st.tuples(*parts)

    return draw_examples(strategy, count, seed)


def _call(args: Sequence[Value]) -> str:
    return f"candidate({', '.join(map(repr, args))})"


def check_source(program: Program, inputs: Sequence[tuple[Value, ...]]) -> str:
    """The test: every call first, then the outputs against the literal expected ones and,
    when they differ, against every misbinding's outputs (to name the kind of failure)."""
    expected = [program.run(args) for args in inputs]
    seen = {repr(expected)}
    alternatives = []
    for how, steps in program.misbindings():
        outputs = [program.run(args, steps) for args in inputs]
        if repr(outputs) not in seen:
            seen.add(repr(outputs))
            alternatives.append((how, outputs))
    lines = [
        f"_BINDING = {BINDING_MARK!r}",
        f"_WRONG = {WRONG_MARK!r}",
        f"_INPUTS = {[list(args) for args in inputs]!r}",
        f"_EXPECTED = {expected!r}",
        "_MISBOUND = [",
        *(f"    ({how!r}, {outputs!r})," for how, outputs in alternatives),
        "]",
        "",
        "",
        "def check(candidate):",
        "    outputs = [",
        *(f"        {_call(args)}," for args in inputs),
        "    ]",
        "    if outputs == _EXPECTED:",
        "        return",
        "    for how, alternative in _MISBOUND:",
        "        if outputs == alternative:",
        "            raise AssertionError(_BINDING + how)",
        "    i = next(i for i, (got, want) in enumerate(zip(outputs, _EXPECTED)) if got != want)",
        "    args = ', '.join(map(repr, _INPUTS[i]))",
        f"    raise AssertionError(_WRONG + f'{ENTRY_POINT}({{args}}) should return {{_EXPECTED[i]!r}}')",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Generated:
    task_id: str
    program: Program
    inputs: tuple[tuple[Value, ...], ...]  # the test inputs, fixed then drawn


def programs(config: BindingConfig) -> list[Generated]:
    """The suite's programs and test inputs, cell by cell (variables, then operations)."""
    out = []
    for v in config.variables:
        if not MIN_VARIABLES <= v <= MAX_VARIABLES:
            raise ValueError(f"variables {v} is outside {MIN_VARIABLES}..{MAX_VARIABLES}")
        for m in config.operations:
            if not 1 <= m <= MAX_OPERATIONS:
                raise ValueError(f"operations {m} is outside 1..{MAX_OPERATIONS}")
            rng = random.Random(f"binding:{config.seed}:{v}:{m}")
            for index in range(config.per_cell):
                program = draw_program(rng, v, m)
                drawn = _drawn_inputs(program.kinds, rng.randrange(2**32), config.drawn) if config.drawn else []
                inputs = tuple({repr(a): a for a in [*fixed_inputs(program.kinds), *drawn]}.values())
                out.append(Generated(task_id(v, m, index), program, inputs))
    return out


def generate(config: BindingConfig) -> tuple[Problem, ...]:
    return tuple(
        Problem(
            task_id=g.task_id,
            prompt=prompt_for(g.program),
            canonical_solution=canonical_for(g.program),
            test=check_source(g.program, g.inputs),
            entry_point=ENTRY_POINT,
        )
        for g in programs(config)
    )


def suite_for(config: BindingConfig) -> Suite:
    return Suite.generated("binding", describe(config), generate(config))


def build_suite(experiments) -> Suite:
    """``--codex-suite=binding``: the suite for the session's binding options."""
    return suite_for(experiments.binding)


# --- reading a failure back ----------------------------------------------------------------


def failure_kind(sample: SampleRecord) -> FailureKind | None:
    """None for a passing sample; BINDING when the tests named a misbinding, else OTHER.

    The tests' message is the last part of a failed sample's detail and holds exactly one
    mark; anything the candidate returned comes before it, so the last mark in the detail is
    the tests' own (a returned string holding a mark cannot pass for one)."""
    if sample.passed:
        return None
    detail = sample.detail or ""
    if sample.verdict is Verdict.FAILED and detail.rfind(BINDING_MARK) > detail.rfind(WRONG_MARK):
        return FailureKind.BINDING
    return FailureKind.OTHER
