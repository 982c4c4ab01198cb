"""The binding suite: deterministic per seed, canonical programs pass, the grid table, and
failures told apart: a wrong-variable sample is a binding error, wrong arithmetic is not."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.records import SampleRecord
from pytest_codex.core.verdicts import Verdict
from pytest_codex.experiments.binding import (
    BINDING_MARK,
    ENTRY_POINT,
    NAMES,
    WRONG_MARK,
    FailureKind,
    Kind,
    Op,
    Program,
    Step,
    canonical_for,
    draw_program,
    failure_kind,
    grid_cell,
    programs,
    prompt_for,
    suite_for,
)
from pytest_codex.options.experiment import BindingConfig

from support import printed_elsewhere, usage_error, write_jsonl

SMALL = BindingConfig(variables=(2, 3, 4), operations=(1, 2, 3), per_cell=2, seed=7)
SMALL_ARGS = (
    "--codex-suite=binding",
    "--codex-binding-variables=2-4",
    "--codex-binding-operations=1-3",
    "--codex-binding-per-cell=2",
    "--codex-binding-seed=7",
)


def run_code(program: Program, args) -> tuple:
    """The canonical solution, executed (generated code, not a model's)."""
    scope: dict = {}
    exec(prompt_for(program) + canonical_for(program), scope)
    return scope[ENTRY_POINT](*[list(a) if isinstance(a, list) else a for a in args])


def test_same_seed_same_suite_other_seed_other_problems():
    a, b = suite_for(SMALL), suite_for(SMALL)
    assert a == b
    c = suite_for(replace(SMALL, seed=8))
    assert c.sha256 != a.sha256
    assert [p.prompt for p in c.problems] != [p.prompt for p in a.problems]


def test_the_suite_is_the_same_in_another_process():
    code = (
        "from pytest_codex.options.experiment import BindingConfig; "
        "from pytest_codex.experiments.binding import suite_for; "
        "print(suite_for(BindingConfig(seed=5, per_cell=1, variables=(2, 6), operations=(1, 8))).sha256)"
    )
    other = printed_elsewhere(code)
    assert other == suite_for(BindingConfig(seed=5, per_cell=1, variables=(2, 6), operations=(1, 8))).sha256


def test_each_problem_has_its_cell_its_variables_and_its_operations():
    generated = programs(SMALL)
    suite = suite_for(SMALL)
    assert [g.task_id for g in generated] == [p.task_id for p in suite.problems]
    assert [p.task_id for p in suite.problems[:2]] == ["binding/V2/M1/0", "binding/V2/M1/1"]
    for g, p in zip(generated, suite.problems):
        v, m = grid_cell(p.task_id) or (0, 0)
        prog = g.program
        assert len(prog.names) == len(set(prog.names)) == v and set(prog.names) <= set(NAMES)
        assert all(len(n) == 1 for n in prog.names)  # one letter each, never twice
        assert len(prog.steps) == m and sorted(prog.returned) == sorted(prog.names)
        assert prog.kinds.count(Kind.LIST) <= (1 if v >= 3 else 0)
        doc = " ".join(p.prompt.split())
        assert all(s.phrase in doc for s in prog.steps) and doc.count(", then ") == m - 1
        assert f"as the tuple ({', '.join(prog.returned)})" in doc
        assert p.canonical_solution == canonical_for(prog)
        assert p.test.count("candidate(") == len(g.inputs) > 3  # fixed inputs plus drawn ones
        assert all(run_code(prog, args) == prog.run(args) for args in g.inputs)
    assert grid_cell("chains/L3/0") is None and grid_cell("binding/V3/0") is None


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6),
    st.integers(1, 10),
    st.integers(0, 2**32),
    st.lists(st.integers(-1000, 1000), min_size=6, max_size=6),
    st.lists(st.integers(-50, 50), max_size=5),
)
def test_the_generator_computes_what_the_canonical_code_does(v, m, seed, ints, items):
    prog = draw_program(random.Random(seed), v, m)
    args = tuple(list(items) if k is Kind.LIST else ints[i] for i, k in enumerate(prog.kinds))
    assert run_code(prog, args) == prog.run(args)


def test_returning_the_input_never_passes_and_no_step_undoes_the_one_before():
    generated = programs(BindingConfig(per_cell=10, drawn=0))  # 400 programs over the default grid
    for g in generated:
        prog = g.program
        assert any(prog.run(a) != prog.unchanged(a) for a in g.inputs), g.task_id
        for prev, step in zip(prog.steps, prog.steps[1:]):
            assert not (step.op is prev.op is Op.SWAP and {step.target, step.source} == {prev.target, prev.source})
            assert not (step.op is prev.op is Op.NEG and step.target == prev.target)
    assert sum(Op.SWAP in [s.op for s in g.program.steps] for g in generated) > 50  # swaps are still drawn


def test_misbindings_move_one_step_to_another_variable_of_the_same_kind():
    prog = Program(
        names=("a", "b", "q", "x"),
        kinds=(Kind.INT, Kind.INT, Kind.LIST, Kind.INT),
        steps=(Step(Op.ADD, "a", constant=3), Step(Op.ADD_VAR, "x", "b"), Step(Op.APPEND, "q", constant=1)),
        returned=("x", "q", "a", "b"),
    )
    hows = [how for how, _ in prog.misbindings()]
    assert hows == [
        "step 1: 'add 3 to b' instead of 'add 3 to a'",
        "step 1: 'add 3 to x' instead of 'add 3 to a'",
        "step 2: 'add b to a' instead of 'add b to x'",
        "step 2: 'add a to x' instead of 'add b to x'",
        "step 2: 'add x to b' instead of 'add b to x'",
    ]  # the only list has no other list to be mistaken for
    for _, steps in prog.misbindings():
        changed = [(s, w) for s, w in zip(prog.steps, steps) if s != w]
        assert len(changed) == 1 and changed[0][0].op == changed[0][1].op


def test_failure_kind_reads_the_tests_mark_and_not_the_candidates_output():
    def failed(detail: str) -> SampleRecord:
        return SampleRecord(0, Verdict.FAILED, "AssertionError", detail)

    binding = failed(f"candidate(1, 2) returned (3, 2); raise ...; message: {BINDING_MARK}step 1: ...")
    wrong = failed(f"candidate(1, 2) returned (4, 2); raise ...; message: {WRONG_MARK}do_work(1, 2) ...")
    forged = failed(
        f"candidate(1, 2) returned '; message: {BINDING_MARK}x'; raise ...; message: {WRONG_MARK}do_work(1, 2) ..."
    )
    assert failure_kind(binding) is FailureKind.BINDING
    assert failure_kind(wrong) is FailureKind.OTHER
    assert failure_kind(forged) is FailureKind.OTHER  # negative control: a returned string is not the tests' word
    assert failure_kind(SampleRecord(0, Verdict.ERROR, "ValueError", BINDING_MARK)) is FailureKind.OTHER
    assert failure_kind(SampleRecord(0, Verdict.PASSED)) is None


def _section(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "pytest-codex: binding operations to variables" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("plot:"))
    return lines[start:end]


def test_every_canonical_program_passes_and_n0_and_n2_give_the_same_table(project, tmp_path):
    tables, docs = [], []
    for workers in ("0", "2"):
        report = tmp_path / f"r{workers}.json"
        result = project.runpytest_subprocess(
            "--model=reference",
            "--codex-suite=binding",
            "--codex-binding-per-cell=1",
            "-n",
            workers,
            f"--codex-report={report}",
            f"--codex-plots={tmp_path / 'plots'}",
        )
        result.assert_outcomes(passed=40)  # the default grid: 2-6 variables x 1-8 operations
        tables.append(_section(result.stdout.str()))
        docs.append(json.loads(report.read_text()))
    assert tables[0] == tables[1]
    assert tables[0][1:5] == [
        "reference: pass@1 by variables (rows) and operations (columns)",
        "variables  m=1  m=2  m=3  m=4  m=5  m=6  m=7  m=8",
        "---------  ---  ---  ---  ---  ---  ---  ---  ---",
        "v=2        1.0  1.0  1.0  1.0  1.0  1.0  1.0  1.0",
    ]
    assert "failed samples: 0 of 40" in tables[0]
    assert docs[0]["experiments"]["binding"]["models"] == docs[1]["experiments"]["binding"]["models"]
    rec = docs[0]["experiments"]["binding"]
    assert rec["models"]["reference"]["pass_at_1"] == {str(v): {str(m): 1.0 for m in range(1, 9)} for v in range(2, 7)}
    assert rec["models"]["reference"]["failures"]["binding_fraction"] is None
    assert docs[0]["runs"][0]["manifest"]["dataset"]["name"] == "binding"
    plot = Path(rec["plots"][0])
    assert plot.parent == tmp_path / "plots" and plot.name.startswith("binding-")
    root = ElementTree.parse(plot).getroot()
    assert root.tag.endswith("svg")
    assert sum(1 for e in root.iter() if e.tag.endswith("text") and e.text == "1.00") == 40


def _samples(tmp_path: Path, completions: dict[str, list[str]]) -> Path:
    return write_jsonl(
        tmp_path / "s.jsonl",
        [{"task_id": t, "completion": c} for t, cs in completions.items() for c in cs],
    )


def test_a_wrong_variable_is_counted_as_a_binding_error(project, tmp_path):
    completions, misbound = {}, 0
    for g in programs(SMALL):
        expected = [g.program.run(a) for a in g.inputs]
        wrong = [s for _, s in g.program.misbindings() if [g.program.run(a, s) for a in g.inputs] != expected]
        if wrong:  # the first misbinding that changes an output, written as code
            misbound += 1
            completions[g.task_id] = [canonical_for(replace(g.program, steps=wrong[0]))]
        else:  # e.g. only steps on the list, which no other variable can be mistaken for
            completions[g.task_id] = [canonical_for(g.program)]
    assert misbound >= 12  # most of the 18 problems
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        f"--model=samples:{_samples(tmp_path, completions)}", *SMALL_ARGS, f"--codex-report={report}", "-n", "2"
    )
    result.assert_outcomes(passed=18 - misbound, failed=misbound)
    result.stdout.fnmatch_lines(
        [f"failed samples: {misbound} of 18; binding errors {misbound} (1.0), other errors 0 (0.0) (wrong outputs 0, *"]
    )
    rec = json.loads(report.read_text())["experiments"]["binding"]["models"]["samples:s"]
    assert rec["failures"] == {
        "samples": 18,
        "failed": misbound,
        "binding": misbound,
        "other": 0,
        "wrong_output": 0,
        "binding_fraction": 1.0,
    }
    assert sum(n for row in rec["binding_errors"].values() for n in row.values()) == misbound
    problems = json.loads(report.read_text())["runs"][0]["problems"]
    details = [s["detail"] for p in problems for s in p["samples"] if s["verdict"] == "failed"]
    assert len(details) == misbound and all(f"message: {BINDING_MARK}step " in d for d in details)


def _wrong_arithmetic(program: Program) -> Program:
    """The same variables, one constant off by one (or one more step where there is none)."""
    for i, step in enumerate(program.steps):
        if step.constant is not None:
            return replace(
                program, steps=program.steps[:i] + (replace(step, constant=step.constant + 1),) + program.steps[i + 1 :]
            )
    first = program.names[program.kinds.index(Kind.INT)]
    return replace(program, steps=program.steps + (Step(Op.ADD, first, constant=1),))


def test_wrong_arithmetic_and_other_failures_are_other_errors(project, tmp_path):
    completions, wrong = {}, 0
    for g in programs(SMALL):
        off = _wrong_arithmetic(g.program)
        assert [off.run(a) for a in g.inputs] != [g.program.run(a) for a in g.inputs]
        wrong += 1
        completions[g.task_id] = [
            canonical_for(off),
            f"    raise ValueError({BINDING_MARK!r})\n",  # an exception is not a binding error
            f"    return {BINDING_MARK!r}\n",  # nor a returned string that carries the mark
        ]
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        f"--model=samples:{_samples(tmp_path, completions)}", *SMALL_ARGS, f"--codex-report={report}"
    )
    result.assert_outcomes(failed=18)
    result.stdout.fnmatch_lines(
        [
            "v=2        0.0  0.0  0.0",
            "failed samples: 54 of 54; binding errors 0 (0.0), other errors 54 (1.0) "
            "(wrong outputs 36, exceptions, timeouts, crashes and syntax errors 18)",
        ]
    )
    failures = json.loads(report.read_text())["experiments"]["binding"]["models"]["samples:s"]["failures"]
    assert failures["binding"] == 0 and failures["other"] == 54 and failures["binding_fraction"] == 0.0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--codex-binding-variables=1-3"], "--codex-binding-variables='1-3': '1-3' is outside 2..6 or reversed"),
        (["--codex-binding-variables=x"], "'x' is not a count or a range; give a range like 2-6 or a list like 2,3,5"),
        (["--codex-binding-operations=0"], "--codex-binding-operations='0': '0' is outside 1..12 or reversed"),
        (["--codex-binding-per-cell=0"], "--codex-binding-per-cell='0': must be at least 1"),
        (["--codex-binding-seed=-1"], "--codex-binding-seed='-1': must be at least 0"),
    ],
)
def test_bad_binding_options_are_one_line_usage_errors(project, args, message):
    result = project.runpytest_subprocess("--model=reference", "--codex-suite=binding", *args)
    assert message in usage_error(result) and "Traceback" not in result.stderr.str()


def test_a_bad_ini_value_names_the_ini_option(project):
    project.makeini("[pytest]\ncodex_binding_operations = 3-1\n")
    result = project.runpytest_subprocess("--model=reference", "--codex-suite=binding")
    assert "codex_binding_operations='3-1': '3-1' is outside 1..12 or reversed" in usage_error(result)
