"""HumanEval+ in EvalPlus's format: recognised by its fields, judged on base and plus inputs
with EvalPlus's rules (exact, float atol, special checker, per-input time limits), expected
outputs computed in the sandbox and cached, base and plus side by side in the table and the
results file.  Every suite here is a small EvalPlus-format file written by the test."""

from __future__ import annotations

import ast
import gzip
import json
import re
from pathlib import Path

import pytest

from pytest_codex.core.errors import ProblemFileError
from pytest_codex.core.parsed import LazyInputs
from pytest_codex.core.problems import load_suite
from pytest_codex.sandbox import wire

from support import usage_error, write_jsonl


def plus_problem(task_id, prompt, canonical, base, plus, atol=0, entry=None, contract=""):
    entry = entry or prompt.rsplit("def ", 1)[1].split("(", 1)[0]
    return {
        "task_id": task_id,
        "prompt": prompt,
        "entry_point": entry,
        "canonical_solution": canonical,
        "test": "def check(candidate):\n    pass\n",  # EvalPlus's format judges on the inputs, not on this
        "contract": contract,
        "base_input": base,
        "atol": atol,
        "plus_input": plus,
    }


ADD = plus_problem("t/add", "def add(a, b):\n", "    return a + b\n", [[1, 2], [3, 4]], [[10**6, 1], [-5, 5], [0, 0]])
MEAN = plus_problem(
    "t/mean",
    "def mean(xs):\n",
    "    return sum(xs) / len(xs)\n",
    [[[1.0, 2.0]], [[0.1, 0.2, 0.3]]],
    [[[1e-3, 2.5, 7.0]]],
)
POLY_PROMPT = (
    "import math\n\n\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n\n\n"
    "def find_zero(xs):\n"
)
FIND_ZERO = plus_problem(
    "t/find_zero",
    POLY_PROMPT,
    "    x = 0.0\n"  # Newton from 0: x = 1 for (x - 1)(x - 2)
    "    for _ in range(100):\n"
    "        slope = sum(i * c * math.pow(x, i - 1) for i, c in enumerate(xs) if i)\n"
    "        x = x - poly(xs, x) / slope\n"
    "    return x\n",
    [[[2, -3, 1]]],
    [[[-2, 1]], [[6, -5, 1]]],
    atol=1e-4,
    entry="find_zero",
)
SPIN_PROMPT = "import time\n\n\ndef spin(n):\n"
SPIN_BODY = (  # 0.5 s of CPU time on input 7
    "    end = time.process_time() + (0.5 if n == 7 else 0.0)\n"
    "    while time.process_time() < end:\n        pass\n"
    "    return n\n"
)
SLOW = plus_problem("t/spin", SPIN_PROMPT, SPIN_BODY, [[1], [2]], [[3], [7], [9]])


@pytest.fixture
def evalplus_file(project: pytest.Pytester) -> Path:
    return write_jsonl(project.path / "plus.jsonl", [ADD, MEAN, FIND_ZERO, SLOW])


def samples_file(path: Path, completions: dict[str, str]) -> Path:
    return write_jsonl(path, [{"task_id": t, "completion": c} for t, c in completions.items()])


def report_runs(report: Path) -> dict:
    return {r["label"]: r for r in json.loads(report.read_text())["runs"]}


def samples_of(run: dict) -> dict:
    return {p["task_id"]: p["samples"][0] for p in run["problems"]}


# --- format detection --------------------------------------------------------------------


def test_the_format_is_detected_from_the_fields(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [ADD, MEAN])
    suite = load_suite(str(path))
    assert suite.format == "evalplus" and suite.release is None
    assert suite.inputs is not None and suite.inputs["t/add"].plus == ([10**6, 1], [-5, 5], [0, 0])
    plain = {k: ADD[k] for k in ("task_id", "prompt", "canonical_solution", "test", "entry_point")}
    human = load_suite(str(write_jsonl(tmp_path / "h.jsonl", [plain])))
    assert human.format == "humaneval" and human.inputs is None
    gz = tmp_path / "HumanEvalPlus-v0.1.9.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_suite(str(gz)).release == "v0.1.9"  # named in EvalPlus's cache file name


def same_inputs(a, b) -> bool:
    fields = ("task_id", "base", "plus", "atol", "contract")
    return list(a) == list(b) and all(
        [getattr(a[t], f) for f in fields] == [getattr(b[t], f) for f in fields] for t in a
    )


def test_a_parsed_copy_gives_the_same_suite_and_decodes_inputs_when_used(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [ADD, MEAN, FIND_ZERO | {"contract": "    assert xs\n"}])
    cache = tmp_path / "cache"
    first = load_suite(str(path), cache)  # parses the file, writes the copy
    again = load_suite(str(path), cache)
    assert isinstance(again.inputs, LazyInputs) and not isinstance(first.inputs, LazyInputs)
    assert again == first and again.sha256 == first.sha256 and again.format == "evalplus"
    assert same_inputs(again.inputs, first.inputs)
    assert again.inputs["t/find_zero"].contract == "    assert xs\n"


def test_a_damaged_or_stale_parsed_copy_is_not_used(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [ADD, MEAN])
    cache = tmp_path / "cache"
    truth = load_suite(str(path), cache)
    (copy,) = (cache / "suites").iterdir()
    data = bytearray(copy.read_bytes())
    data[-3] ^= 0xFF  # inside the last problem's inputs
    copy.write_bytes(bytes(data))
    found = load_suite(str(path), cache)
    assert not isinstance(found.inputs, LazyInputs) and same_inputs(found.inputs, truth.inputs)
    changed = write_jsonl(path, [ADD | {"plus_input": [[7, 7]]}, MEAN])  # another file: another copy
    found = load_suite(str(changed), cache)
    assert found.inputs is not None and found.inputs["t/add"].plus == ([7, 7],)


@pytest.mark.parametrize(
    "records,message",
    [
        ([ADD, {k: v for k, v in MEAN.items() if k != "plus_input"}], "line 2: the file's first line is in EvalPlus"),
        (
            [{k: v for k, v in ADD.items() if k not in ("base_input", "plus_input", "atol")}, MEAN],
            "line 2: has EvalPlus",
        ),
        ([ADD | {"plus_input": [1, 2]}], "line 1: plus_input[0] must be a list of arguments"),
        ([ADD | {"atol": "0"}], "line 1: field 'atol' must be a number"),
    ],
)
def test_a_bad_evalplus_file_names_the_line_and_field(tmp_path, records, message):
    with pytest.raises(ProblemFileError, match=re.escape(message)):
        load_suite(str(write_jsonl(tmp_path / "bad.jsonl", records)))


def test_humanevalplus_by_name_from_evalplus_cache_and_override(project, monkeypatch, tmp_path):
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    missing = usage_error(project.runpytest_subprocess("--model=reference", "--codex-suite=humanevalplus"))
    assert "HumanEval+ is not on this machine" in missing
    assert str(cache / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl") in missing
    assert "get_human_eval_plus()" in missing and "HUMANEVAL_OVERRIDE_PATH" in missing

    (cache / "evalplus").mkdir(parents=True)
    write_jsonl(cache / "evalplus" / "HumanEvalPlus-v0.1.10.jsonl", [ADD])
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=reference", "--codex-suite=humanevalplus", f"--codex-report={report}"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["codex: suite humanevalplus (1 problems, EvalPlus format, release v0.1.10, *"])
    dataset = report_runs(report)["reference"]["manifest"]["dataset"]
    assert dataset["format"] == "evalplus" and dataset["release"] == "v0.1.10" and len(dataset["sha256"]) == 64

    override = write_jsonl(tmp_path / "mine.jsonl", [ADD, MEAN])
    monkeypatch.setenv("HUMANEVAL_OVERRIDE_PATH", str(override))
    again = project.runpytest_subprocess("--model=reference", "--codex-suite=humanevalplus")
    again.assert_outcomes(passed=2)
    monkeypatch.setenv("HUMANEVAL_OVERRIDE_PATH", str(tmp_path / "nowhere.jsonl"))
    assert "is not a file" in usage_error(
        project.runpytest_subprocess("--model=reference", "--codex-suite=humanevalplus")
    )


# --- judging ---------------------------------------------------------------------------


WRONG = {
    # passes base, fails plus: wrong for large numbers
    "t/add": "    return a + b if a < 1000 else 0\n",
    # a float within 1e-6 of the canonical output passes (atol 0 in the file: EvalPlus's float rule)
    "t/mean": "    return sum(xs) / len(xs) + 1e-9\n",
    # another zero of the polynomial (2, not the canonical's 1) passes the special checker;
    # a wrong zero on a plus input fails it
    "t/find_zero": "    return 2.0 if xs in ([2, -3, 1], [-2, 1]) else 0.0\n",
    # loops forever on one plus input: a timeout on that input, not on the whole suite
    "t/spin": "    while n == 9:\n        pass\n    return n\n",
}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_base_and_plus_verdicts_side_by_side(project, evalplus_file, tmp_path, workers):
    samples = samples_file(tmp_path / "wrong.jsonl", WRONG)
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=reference",
        f"--model=samples:{samples}",
        f"--codex-suite={evalplus_file}",
        f"--codex-report={report}",
        "-n",
        workers,
    )
    # the reference passes base and plus; the wrong samples pass base, and plus only on mean
    result.assert_outcomes(passed=5, failed=3)
    result.stdout.fnmatch_lines(
        [
            "model * problems * n * pass@1 * 95% CI * plus@1 * 95% CI*",
            "reference * 4 * 1 * 1.0 * 1.0 *",
            "samples:wrong * 4 * 1 * 1.0 * 0.25 *",
            "pass@k: on the base inputs*plus@k: on base and plus inputs*",
        ]
    )
    runs = report_runs(report)
    ref, wrong = runs["reference"], runs["samples:wrong"]
    assert ref["pass_at_k"] == {"1": 1.0} and ref["pass_at_k_plus"] == {"1": 1.0}
    assert wrong["pass_at_k"] == {"1": 1.0} and wrong["pass_at_k_plus"] == {"1": 0.25}
    assert {p["task_id"]: p["plus"]["c"] for p in wrong["problems"]} == {
        "t/add": 0,
        "t/mean": 1,
        "t/find_zero": 0,
        "t/spin": 0,
    }
    got = samples_of(wrong)
    assert got["t/add"]["verdict"] == "passed" and got["t/add"]["plus_verdict"] == "failed"
    assert got["t/add"]["failing_input"] == {
        "tests": "plus",
        "index": 0,
        "input": "[1000000, 1]",
        "got": "0",
        "expected": "1000001",
    }
    assert "plus input #0: add(1000000, 1) returned 0, expected 1000001" in got["t/add"]["plus_detail"]
    assert got["t/mean"]["verdict"] == "passed" and got["t/mean"]["plus_verdict"] == "passed"
    assert "failing_input" not in got["t/mean"]
    assert got["t/find_zero"]["verdict"] == "passed"  # 2.0 is a zero too
    assert got["t/find_zero"]["plus_verdict"] == "failed"
    assert got["t/find_zero"]["failing_input"]["index"] == 1  # 0.0 is not a zero of 6 - 5x + x^2
    assert got["t/spin"]["verdict"] == "passed" and got["t/spin"]["plus_verdict"] == "timeout"
    assert got["t/spin"]["failing_input"]["index"] == 2 and "ran past 1 s" in got["t/spin"]["plus_detail"]
    assert {s["plus_verdict"] for s in samples_of(ref).values()} == {"passed"}


def test_floats_outside_the_tolerance_fail_and_the_file_atol_widens_it(project, tmp_path):
    off = {"t/mean": "    return sum(xs) / len(xs) + 1e-3\n"}
    samples = samples_file(tmp_path / "off.jsonl", off)
    for atol, verdict in ((0, "failed"), (1e-2, "passed")):
        path = write_jsonl(tmp_path / f"mean-{atol}.jsonl", [MEAN | {"atol": atol}])
        report = tmp_path / f"r{atol}.json"
        project.runpytest_subprocess(f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}")
        sample = samples_of(report_runs(report)["samples:off"])["t/mean"]
        assert sample["verdict"] == verdict, (atol, sample)
    # an int output where a float is expected, within atol: numpy's allclose would accept it,
    # but EvalPlus asks for the same type (the float of the same value passes)
    typed = {"t/mean": "    return round(sum(xs) / len(xs))\n"}
    floated = {"t/mean": "    return float(round(sum(xs) / len(xs)))\n"}
    path = write_jsonl(tmp_path / "ints.jsonl", [MEAN | {"base_input": [[[1.0, 2.0]]], "atol": 0.5}])
    for name, completions, verdict in (("typed", typed, "failed"), ("floated", floated, "passed")):
        samples = samples_file(tmp_path / f"{name}.jsonl", completions)
        report = tmp_path / f"{name}.json"
        project.runpytest_subprocess(f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}")
        assert samples_of(report_runs(report)[f"samples:{name}"])["t/mean"]["verdict"] == verdict, name


STICKY = plus_problem("t/sticky", "def f(x):\n", "    return 0.5 if x == 1 else [x, x]\n", [[1], [2]], [[2], [1]])


def test_the_float_tolerance_stays_for_the_rest_of_the_set_as_in_evalplus(project, tmp_path):
    """EvalPlus turns atol 0 into 1e-6 at the first float output and keeps it for the later
    inputs of the same set: [2.0000001, 2] then matches [2, 2] on base (after 0.5) but not on
    plus (where [2, 2] comes first)."""
    path = write_jsonl(tmp_path / "sticky.jsonl", [STICKY])
    samples = samples_file(tmp_path / "near.jsonl", {"t/sticky": "    return 0.5 if x == 1 else [x + 1e-7, x]\n"})
    report = tmp_path / "r.json"
    project.runpytest_subprocess(f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}")
    sample = samples_of(report_runs(report)["samples:near"])["t/sticky"]
    assert sample["verdict"] == "passed" and sample["plus_verdict"] == "failed", sample
    assert sample["failing_input"]["index"] == 0


def test_per_input_time_limits_scale_with_the_canonical_time_on_that_input(project, evalplus_file, tmp_path):
    """The canonical solution spends 0.5 s of CPU on input 7, so that input's limit is
    max(1 s, 4 x 0.5 s) = 2 s: a sample spending 1.3 s there passes, though it would time out
    under the 1 s floor, and it does with --codex-time-factor=1 (limit max(1, 0.5) = 1 s)."""
    slow = {"t/spin": SPIN_BODY.replace("0.5 if", "1.3 if")}
    samples = samples_file(tmp_path / "slow.jsonl", slow)
    report = tmp_path / "r.json"
    common = (f"--model=samples:{samples}", f"--codex-suite={evalplus_file}", "-k", "t/spin")
    project.runpytest_subprocess(*common, f"--codex-report={report}").assert_outcomes(passed=1, deselected=3)
    assert samples_of(report_runs(report)["samples:slow"])["t/spin"]["plus_verdict"] == "passed"
    strict = project.runpytest_subprocess(*common, "--codex-time-factor=1", f"--codex-report={report}")
    strict.assert_outcomes(failed=1, deselected=3)
    sample = samples_of(report_runs(report)["samples:slow"])["t/spin"]
    assert sample["plus_verdict"] == "timeout" and sample["failing_input"]["index"] == 1, sample


def test_expected_outputs_come_from_the_sandbox_and_are_cached(project, tmp_path, monkeypatch):
    """The canonical solution reports whether it sees this process's environment: computed in
    the sandbox (scrubbed environment) it does not.  The outputs are cached by the file's
    sha256 and the Python version, reused, and computed again when the cache is damaged."""
    monkeypatch.setenv("CODEX_TEST_SECRET", "visible")
    probe = plus_problem(
        "t/env",
        "import os\n\n\ndef env(name):\n",
        "    return os.environ.get(name, 'absent')\n",
        [["CODEX_TEST_SECRET"]],
        [["PATH"]],
    )
    path = write_jsonl(tmp_path / "env.jsonl", [probe])
    sha = load_suite(str(path)).sha256
    seen = {"t/env": "    return 'visible'\n"}
    samples = samples_file(tmp_path / "seen.jsonl", seen)
    report = tmp_path / "r.json"
    args = ("--model=reference", f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}")
    project.runpytest_subprocess(*args).assert_outcomes(passed=1, failed=1)
    assert samples_of(report_runs(report)["samples:seen"])["t/env"]["failing_input"]["expected"] == "'absent'"
    caches = list((project.path / ".codex" / "evalplus").glob(f"{sha[:16]}-python3.*/t_env.jsonl"))
    assert len(caches) == 1, list((project.path / ".codex").rglob("*"))
    head, base_inputs, base_output, plus_inputs, plus_output = caches[0].read_text().split("\n")
    assert json.loads(head)["suite_sha256"] == sha and base_output == '"absent"'

    # the cache is what the next run uses ...
    caches[0].write_text("\n".join([head, base_inputs, '"visible"', plus_inputs, plus_output]))
    project.runpytest_subprocess(*args).assert_outcomes(failed=2)  # (plus: PATH differs for both)
    assert samples_of(report_runs(report)["samples:seen"])["t/env"]["verdict"] == "passed"
    assert samples_of(report_runs(report)["reference"])["t/env"]["verdict"] == "failed"
    caches[0].write_text("{damaged")  # ... and a damaged one is computed again
    project.runpytest_subprocess(*args).assert_outcomes(passed=1, failed=1)
    assert caches[0].read_text().split("\n")[2] == '"absent"'


HOSTILE = {
    # an object equal to everything cannot cross the boundary
    "t/add": "    class Any:\n        def __eq__(self, other):\n            return True\n\n    return Any()\n",
    # exiting early is a crash, not a pass
    "t/mean": "    import os\n\n    os._exit(0)\n",
    # forged answers on the control socket are only values: wrong ones fail
    "t/spin": (
        "    return n\n\n\nimport json, os, struct\n"
        "def _frame(obj):\n    body = json.dumps(obj).encode()\n    return struct.pack('>I', len(body)) + body\n"
        "os.write(3, _frame(['ready']) + b''.join(_frame(['ok', 0.0, None, False]) + _frame(0) for _ in range(5)))\n"
    ),
}


def test_the_sample_decides_nothing(project, evalplus_file, tmp_path):
    samples = samples_file(tmp_path / "hostile.jsonl", HOSTILE)
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        f"--model=samples:{samples}", f"--codex-suite={evalplus_file}", f"--codex-report={report}", "-k", "not find"
    )
    result.assert_outcomes(failed=3, deselected=1)
    got = samples_of(report_runs(report)["samples:hostile"])
    assert got["t/add"]["verdict"] == "error" and got["t/add"]["error_type"] == "UnsupportedResultType"
    assert got["t/mean"]["verdict"] == "crashed"
    assert got["t/spin"]["verdict"] == "failed", got["t/spin"]  # spin(1) "returned" 0


# --- --codex-plus: generated inputs ---------------------------------------------------------

HALF = plus_problem(
    "t/half",
    "def half(n):\n",
    "    return n // 2\n",
    [[4], [10]],
    [[7], [100], [31]],
    contract='\n    assert isinstance(n, int) and n >= 0, "invalid inputs" # $_CONTRACT_$\n',
)
ABSOLUTE = plus_problem("t/abs", "def absolute(x):\n", "    return abs(x)\n", [[3], [0]], [[5], [12], [7]])


def generated_inputs(project: pytest.Pytester, task: str) -> list:
    """The stored generated inputs of ``task`` (second line of its file: the inputs, wire format)."""
    files = list((project.path / ".codex" / "evalplus").glob(f"*/{task}.generated-seed0-n20-v*.jsonl"))
    assert len(files) == 1, list((project.path / ".codex").rglob("*"))
    return [wire.unpack(args) for args in json.loads(files[0].read_text().split("\n")[1])]


@pytest.mark.parametrize("contract", [True, False])
def test_a_contract_violating_input_is_never_drawn(project, tmp_path, contract):
    """The sample is right on every valid input and raises on a negative one, which the
    contract rules out: it passes the generated inputs.  Without the contract (the negative
    control) negative inputs are drawn, and it fails them."""
    problem = HALF if contract else HALF | {"contract": ""}
    path = write_jsonl(tmp_path / "half.jsonl", [problem])
    samples = samples_file(tmp_path / "strict.jsonl", {"t/half": "    assert n >= 0\n    return n // 2\n"})
    report = tmp_path / "r.json"
    args = ("--model=reference", f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}")
    project.runpytest_subprocess(*args, "--codex-plus", "--codex-plus-inputs=20").assert_outcomes(passed=2)
    drawn = generated_inputs(project, "t_half")
    negative = [args for args in drawn if args[0] < 0]
    sample = samples_of(report_runs(report)["samples:strict"])["t/half"]
    reference = samples_of(report_runs(report)["reference"])["t/half"]
    assert reference["generated"]["verdict"] == "passed"  # no false failure of the canonical solution
    if contract:
        assert drawn and not negative, drawn
        assert sample["generated"]["verdict"] == "passed", sample
        dropped = json.loads(report.read_text())["experiments"]["generated"]["dropped"]
        assert dropped.get("outside the contract", 0) > 0, dropped
    else:
        assert negative, drawn
        assert sample["generated"]["verdict"] == "error" and "AssertionError" in sample["generated"]["detail"]


def test_generated_inputs_catch_what_the_plus_inputs_miss(project, tmp_path):
    path = write_jsonl(tmp_path / "abs.jsonl", [ABSOLUTE, HALF])
    wrong = {"t/abs": "    return x\n", "t/half": "    return n >> 1\n"}  # wrong for x < 0; right
    samples = samples_file(tmp_path / "wrong.jsonl", wrong)
    report = tmp_path / "r.json"
    args = (f"--model=samples:{samples}", f"--codex-suite={path}", f"--codex-report={report}", "--codex-plus")
    result = project.runpytest_subprocess(*args, "--codex-plus-inputs=20", "-n", "2")
    result.assert_outcomes(passed=2)  # base and plus pass: the items pass
    result.stdout.fnmatch_lines(
        [
            "*HumanEval+ and generated inputs (--codex-plus): who catches what*",
            "samples:wrong * 2 * 0 * 1 * 0 * 0 * 1",
            "samples:wrong t/abs (generated only): generated input #*: absolute(-*) returned -*, expected *",
        ]
    )
    record = json.loads(report.read_text())["experiments"]["generated"]["models"]["samples:wrong"]
    assert record["caught"] == {"humanevalplus": [], "generated": ["t/abs"], "both": []}
    caught = record["inputs"]["t/abs"]
    assert caught["tests"] == "generated" and int(caught["got"]) == -int(caught["expected"]) < 0
    again = tmp_path / "again.json"  # drawn once per seed, stored, reused
    project.runpytest_subprocess(*args[:2], f"--codex-report={again}", "--codex-plus", "--codex-plus-inputs=20")
    first = json.loads(report.read_text())["experiments"]["generated"]
    assert json.loads(again.read_text())["experiments"]["generated"]["models"] == first["models"]


GAP = {
    "task_id": "t/gap",
    "prompt": 'def smallest_gap(xs):\n    """The smallest difference between two of the numbers xs (there are at least two).\n'
    '    >>> smallest_gap([1.0, 4.0, 2.5])\n    1.5\n    """\n',
    "canonical_solution": "    ys = sorted(xs)\n    return min((b - a for a, b in zip(ys, ys[1:])), default=None)\n",
    "test": "def check(candidate):\n    assert candidate([1.0, 4.0, 2.5]) == 1.5\n    assert candidate([3.0, 1.0]) == 2.0\n"
    "    assert candidate([5.0, 5.5, 9.0, 1.0]) == 0.5\n",
    "entry_point": "smallest_gap",
}


@pytest.mark.parametrize("with_contracts", [True, False])
def test_hypothesis_plus_tests_keep_inside_evalplus_contracts_when_the_file_is_here(
    project, tmp_path, monkeypatch, with_contracts
):
    """A HumanEval-format suite with --codex-plus (hypothesis-drawn inputs): where EvalPlus's
    HumanEval+ file is on the machine, its contract drops the inputs it rules out (here lists
    of fewer than two numbers), so a completion right on every valid input passes; without
    the file (the control) such lists are drawn and it fails them."""
    suite = write_jsonl(tmp_path / "gap.jsonl", [GAP])
    contract = '\n    assert len(xs) >= 2, "invalid inputs" # $_CONTRACT_$\n'
    plus = write_jsonl(
        tmp_path / "gap-plus.jsonl",
        [GAP | {"contract": contract, "base_input": [[[1.0, 4.0, 2.5]]], "plus_input": [], "atol": 0}],
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    if with_contracts:
        monkeypatch.setenv("HUMANEVAL_OVERRIDE_PATH", str(plus))
    else:
        monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
    samples = samples_file(
        tmp_path / "right.jsonl", {"t/gap": "    ys = sorted(xs)\n    return min(b - a for a, b in zip(ys, ys[1:]))\n"}
    )
    report = tmp_path / "r.json"
    project.runpytest_subprocess(
        f"--model=samples:{samples}", f"--codex-suite={suite}", "--codex-plus", f"--codex-report={report}"
    ).assert_outcomes(passed=1)
    record = json.loads(report.read_text())["experiments"]["plus"]
    lengths = {len(ast.literal_eval(args)[0]) for args, _ in record["tests_by_problem"]["t/gap"]["cases"]}
    sample = samples_of(report_runs(report)["samples:right"])["t/gap"]
    if with_contracts:
        assert record["contracts"] == str(plus) and min(lengths) >= 2, lengths
        assert sample["plus_verdict"] == "passed"
    else:
        assert record["contracts"] is None and min(lengths) < 2, lengths
        assert sample["plus_verdict"] == "error"
