"""Plus tests (``--codex-plus``): extra inputs drawn with hypothesis, HumanEval+-style.

Phases, as for completions:

* **prepare** (controller / single process): for each selected problem draw inputs from
  strategies derived from its signature and examples (``plus_inputs``), seeded per task,
  run the canonical solution on them in a child process (``plus_oracle``), keep the inputs
  it accepts with its outputs (where EvalPlus's HumanEval+ file is on this machine, see
  ``contracts``, the problem's contract runs first: an input outside it is dropped), and
  store them in
  ``<rootdir>/.codex/plus/<suite>-<sha>-seed<S>-n<N>-v<V>.json``.
  A stored problem is never drawn again, so a rerun uses the same tests.
* **execute** (wherever the item runs): each sample that passed the base tests is run
  once more through the session's ``Executor`` with a synthesized ``Problem`` whose
  ``test`` is a generated ``check(candidate)`` holding the inputs and expected outputs as
  literals, so it works with any executor.  A sample passes plus when it passes both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from pytest_codex.core import evalplus
from pytest_codex.core.errors import CodexUsageError, ProblemFileError
from pytest_codex.core.files import atomic_write
from pytest_codex.core.problems import Problem, load_suite
from pytest_codex.core.records import SampleRecord
from pytest_codex.core.verdicts import Verdict
from pytest_codex.experiments.drawing import draw_examples, hypothesis_version
from pytest_codex.experiments.plus_inputs import (
    NoSignature,
    arguments_strategy,
    finite,
    signature,
)
from pytest_codex.experiments.plus_oracle import (
    RELATIONS,
    SAME_SOURCE,
    Oracle,
    OracleJob,
)

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

SCHEMA = 1
GENERATOR_VERSION = 1
RELATION_OF = {"HumanEval/32": "poly_zero"}  # problems whose base test checks a property
TIME_FACTOR = 10.0  # a plus run may take the base time limit plus 10x the canonical's time on the inputs


class PlusError(CodexUsageError):
    pass


@dataclass
class PlusProblem:
    task_id: str
    relation: str = "equal"
    cases: list[tuple[str, str]] = field(default_factory=list)  # (repr(args), repr(expected))
    canonical_seconds: float = 0.0
    drawn: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    note: str | None = None  # why a problem has no plus tests

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["cases"] = [list(c) for c in self.cases]
        return d

    @classmethod
    def from_json(cls, d: dict) -> PlusProblem:
        return cls(**{**d, "cases": [tuple(c) for c in d["cases"]]})


def task_seed(seed: int, task_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"plus:{seed}:{task_id}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Contracts:
    """EvalPlus's input contracts of HumanEval's problems, from its HumanEval+ file."""

    path: str
    sha256: str  # of the file's bytes: part of the stored tests' name
    release: str | None = None

    def by_task(self) -> dict[str, str]:
        suite = load_suite(self.path)
        assert suite.inputs is not None
        return {t: data.contract for t, data in suite.inputs.items() if data.contract.strip()}


def contracts() -> Contracts | None:
    """Where EvalPlus keeps HumanEval+ (``$HUMANEVAL_OVERRIDE_PATH`` or its cache directory),
    if it is on this machine; None otherwise."""
    try:
        path = evalplus.locate()
    except ProblemFileError:
        return None
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return Contracts(str(path), hashlib.sha256(raw).hexdigest())


def store_path(state: CodexState) -> str:
    exp, suite = state.options.experiments, state.suite
    found = contracts()
    marker = f"-contracts{found.sha256[:8]}" if found else ""
    name = f"{suite.name}-{suite.sha256[:12]}-seed{exp.plus_seed}-n{exp.plus_inputs}{marker}-v{GENERATOR_VERSION}.json"
    return os.path.abspath(os.path.join(exp.plus_dir, name))


def load_store(path: str, suite_sha256: str) -> dict[str, PlusProblem]:
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"schema {doc.get('schema')!r}, expected {SCHEMA}")
        if doc.get("suite_sha256") != suite_sha256:
            raise ValueError(f"it was drawn for another problem set (sha256 {str(doc.get('suite_sha256'))[:12]})")
        return {t: PlusProblem.from_json(p) for t, p in doc["problems"].items()}
    except KeyError as exc:
        raise PlusError(f"plus tests file {path!r} lacks the field {exc}; delete it to draw the tests again") from None
    except (OSError, ValueError, TypeError) as exc:
        raise PlusError(f"plus tests file {path!r} is unreadable ({exc}); delete it to draw the tests again") from None


def save_store(path: str, state: CodexState, problems: dict[str, PlusProblem]) -> None:
    exp = state.options.experiments
    doc = {
        "schema": SCHEMA,
        "generator_version": GENERATOR_VERSION,
        "suite": state.suite.name,
        "suite_sha256": state.suite.sha256,
        "seed": exp.plus_seed,
        "inputs_per_problem": exp.plus_inputs,
        "hypothesis": hypothesis_version(),
        "contracts": (found := contracts()) and {"path": found.path, "sha256": found.sha256},
        "problems": {t: problems[t].to_json() for t in sorted(problems)},
    }
    atomic_write(path, json.dumps(doc, indent=0))


def draw_inputs(problem: Problem, count: int, seed: int) -> tuple[list[str], str | None]:
    """``count`` argument tuples (as ``repr``) for ``problem``, none equal to an example."""
    try:
        sig = signature(problem)
    except NoSignature as exc:
        return [], str(exc)
    known = {repr(e) for e in sig.examples}
    drawn = draw_examples(lambda st: arguments_strategy(st, sig), count, task_seed(seed, problem.task_id))
    return [repr(a) for a in drawn if finite(a) and repr(a) not in known], None


def generate(
    problems: Sequence[Problem], count: int, seed: int, oracle: Oracle, contract_of: dict[str, str] | None = None
) -> dict[str, PlusProblem]:
    """``contract_of``: EvalPlus's contract per task (run before the canonical solution: an
    input it rejects raises, and is dropped like any input the canonical solution rejects)."""
    out = {}
    for problem in problems:
        inputs, note = draw_inputs(problem, count, seed)
        relation = RELATION_OF.get(problem.task_id, "equal")
        pp = PlusProblem(problem.task_id, relation, drawn=len(inputs), note=note)
        if inputs:
            contract = (contract_of or {}).get(problem.task_id, "")
            res = oracle.run(
                OracleJob(
                    problem.task_id,
                    problem.prompt + contract + problem.canonical_solution,
                    problem.entry_point,
                    inputs,
                    relation,
                )
            )
            if res.fatal:
                pp.note = f"canonical solution failed to load: {res.fatal}"
            pp.cases = [(inputs[i], res.outputs[i]) for i in sorted(res.outputs)]
            pp.canonical_seconds = sum(res.seconds.values())
            pp.dropped = res.dropped
        out[problem.task_id] = pp
    return out


def prepare_plus(state: CodexState, problems: Sequence[Problem]) -> dict[str, PlusProblem]:
    """Controller / single: make the plus tests of ``problems`` exist in the store."""
    path = store_path(state)
    try:
        stored = load_store(path, state.suite.sha256)
    except PlusError as exc:
        pytest.exit(f"--codex-plus: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    missing = [p for p in dict.fromkeys(problems) if p.task_id not in stored]
    if missing:
        found = contracts()
        try:
            contract_of = found.by_task() if found else None
        except CodexUsageError as exc:
            pytest.exit(f"--codex-plus: the contracts of {found and found.path}: {exc}", returncode=4)
        oracle = Oracle()
        try:
            exp = state.options.experiments
            stored.update(generate(missing, exp.plus_inputs, exp.plus_seed, oracle, contract_of))
        finally:
            oracle.close()
        save_store(path, state, stored)
    state.plus = stored
    return stored


def plus_tests(state: CodexState) -> dict[str, PlusProblem]:
    """The session's plus tests (workers read the store the controller wrote)."""
    if state.plus is None:
        state.plus = load_store(store_path(state), state.suite.sha256)
    return state.plus


def check_source(pp: PlusProblem) -> str:
    cases = ",\n".join(f"    ({a}, {e})" for a, e in pp.cases)
    return (
        f"{SAME_SOURCE}\n{RELATIONS[pp.relation]}\n_CASES = [\n{cases}\n]\n\n\n"
        "def check(candidate):\n"
        "    import copy\n"
        "    for args, expected in _CASES:\n"
        "        out = candidate(*copy.deepcopy(args))\n"
        "        assert _relation(args, out, expected), 'plus input ' + repr(args)[:200]\n"
    )


def plus_problem(problem: Problem, pp: PlusProblem) -> Problem:
    return dataclasses.replace(problem, task_id=problem.task_id + "+plus", test=check_source(pp))


def run_plus(state: CodexState, problem: Problem, completions, samples: list[SampleRecord]) -> dict:
    """Run the plus tests on each sample that passed the base tests; annotate the samples.
    Returns the problem's plus record ``{"tests": N, "c": passed}``."""
    tests = plus_tests(state)
    pp = tests.get(problem.task_id)
    if pp is None:
        raise PlusError(
            f"no plus tests for {problem.task_id} in {store_path(state)}; the controller "
            "should have drawn them (rerun, or delete the file to draw them again)"
        )
    synth = plus_problem(problem, pp) if pp.cases else None
    assert state.executor is not None  # plus tests run where items execute
    limit = state.time_limit(problem) + TIME_FACTOR * pp.canonical_seconds
    c = 0
    for comp, sample in zip(completions, samples):
        if not sample.passed:
            sample.plus_verdict = f"base_{sample.verdict}"
            continue
        if synth is None:
            sample.plus_verdict = Verdict.PASSED.value
        else:
            res = state.executor.run(synth, comp.text, limit)
            sample.plus_verdict = res.verdict.value
            if not res.passed:
                sample.plus_detail = (res.detail or res.error_type or "")[:300]
        c += sample.plus_verdict == Verdict.PASSED.value
    return {"tests": len(pp.cases), "c": c}
