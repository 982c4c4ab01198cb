"""pytest-codex as a first-class pytest plugin: it runs wherever pytest runs, loads twice
harmlessly, is configured in the ini file, selects problems exactly, writes JUnit that a JUnit
parser reads, prints readable failures and fits the terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from junitparser import xunit2

from pytest_codex.core.problems import load_suite

from support import usage_error, write_jsonl

HUMANEVAL = load_suite()
CANONICAL = {p.task_id: p.canonical_solution for p in HUMANEVAL.problems}
TOY = {
    "task_id": "mine/0",
    "prompt": "def inc(x):\n",
    "canonical_solution": "    return x + 1\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
    "entry_point": "inc",
}


def outcome_line(result: pytest.RunResult) -> str:
    return result.stdout.lines[-1]


# -- 1. runs anywhere ----------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_empty_directory_runs_the_packaged_suite(pytester, workers):
    result = pytester.runpytest_subprocess("--model=reference", "-n", workers, "--codex-tasks=HumanEval/0-3")
    result.assert_outcomes(passed=4)
    assert (
        "test_humaneval.py::test_humaneval[reference-HumanEval/0]"
        in pytester.runpytest_subprocess(
            "--model=reference", "--collect-only", "-q", "--codex-tasks=HumanEval/0"
        ).stdout.str()
    )


def test_a_users_problem_file_runs_from_an_empty_directory(pytester):
    write_jsonl(pytester.path / "mine.jsonl", [TOY])
    result = pytester.runpytest_subprocess("--model=reference", "--codex-suite=mine.jsonl", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_humaneval?reference-mine/0? PASSED*"])


def test_a_users_own_module_parametrizes_over_the_suite(pytester):
    """The documented way: any test function taking ``codex_case``; given as a path, only it runs."""
    pytester.makepyfile(test_mine="def test_bench(codex_case):\n    codex_case.run()\n")
    result = pytester.runpytest_subprocess("test_mine.py", "--model=reference", "--codex-tasks=HumanEval/5", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_mine.py::test_bench?reference-HumanEval/5? PASSED*"])


def test_the_packaged_module_is_collected_whatever_python_files_says(pytester):
    pytester.makeini("[pytest]\npython_files = check_*.py\n")
    pytester.runpytest_subprocess("--model=reference", "--codex-tasks=HumanEval/1").assert_outcomes(passed=1)


def test_no_codex_item_collected_says_how_to_get_one(pytester):
    (pytester.path / "mine").mkdir()
    pytester.makeini("[pytest]\ntestpaths = mine\n")
    result = pytester.runpytest_subprocess("--model=reference")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["codex: no collected test takes the codex_case fixture*--pyargs pytest_codex.suite*"])
    # the hint names --pyargs: it works
    again = pytester.runpytest_subprocess(
        "--model=reference", "--pyargs", "pytest_codex.suite", "--codex-tasks=HumanEval/3"
    )
    again.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "how",
    [
        ["-p", "pytest_codex.plugin"],
        ["-p", "codex"],
        "conftest",
    ],
)
def test_loading_the_plugin_twice_is_harmless(pytester, how):
    if how == "conftest":
        pytester.makeconftest('pytest_plugins = ["pytest_codex.plugin"]\n')
        how = []
    result = pytester.runpytest_subprocess(*how, "--model=reference", "--codex-tasks=HumanEval/1", "-n", "2")
    result.assert_outcomes(passed=1)
    assert "already registered" not in result.stderr.str()


# -- 3. configuration the pytest way ------------------------------------------------------


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_ini_file_alone_runs_the_benchmark_and_the_command_line_wins(pytester, workers):
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\ncodex_model = ["reference"]\ncodex_tasks = "HumanEval/0-2"\n'
        'codex_k = "1"\ncodex_save = true\n'
    )
    result = pytester.runpytest_subprocess("-n", workers)
    result.assert_outcomes(passed=3)
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "HumanEval/1", "completion": "    return []\n"}])
    report = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(
        "-n", workers, "--model=samples:s.jsonl", "--codex-tasks=HumanEval/1", f"--codex-report={report}"
    )
    result.assert_outcomes(failed=1)
    run = json.loads(report.read_text())["runs"][0]
    assert run["label"] == "samples:s"
    assert run["manifest"]["option_sources"] == {
        "--model": "command line",
        "--codex-tasks": "command line",
        "--codex-report": "command line",
        "--codex-k": "ini",
        "--codex-save": "ini",
    }
    assert len(list((pytester.path / ".codex" / "runs").glob("*.json"))) == 2  # codex_save = true, both runs


@pytest.mark.parametrize(
    "option, ini",
    [
        ("--codex-n=0", "codex_n = 0"),
        ("--codex-temperature=-1", "codex_temperature = -1"),
        ("--codex-tasks=HumanEval/2,,HumanEval/3", "codex_tasks = HumanEval/2,,HumanEval/3"),
    ],
)
def test_a_bad_ini_value_gets_the_options_usage_error(pytester, option, ini):
    from_option = usage_error(pytester.runpytest_subprocess("--model=reference", option))
    (pytester.path / "pytest.ini").write_text(f"[pytest]\ncodex_model = reference\n{ini}\n")
    from_ini = usage_error(pytester.runpytest_subprocess())
    flag, _, value = option.partition("=")
    name = ini.split(" = ")[0]
    why_and_fix = from_option.split(f"{flag}={value!r}: ", 1)[1]
    assert (
        from_ini
        == f"ERROR: {name}={value!r}: {why_and_fix.replace(flag, name)} (ini option in {pytester.path / 'pytest.ini'})"
    )
    by_o = usage_error(pytester.runpytest_subprocess("-o", f"{name}={value}"))
    assert by_o.endswith(f"(-o {name}=...)")


def test_a_bad_switch_in_the_ini_file_is_a_usage_error(pytester):
    (pytester.path / "pytest.ini").write_text("[pytest]\ncodex_model = reference\ncodex_save = maybe\n")
    line = usage_error(pytester.runpytest_subprocess())
    assert line.startswith("ERROR: codex_save='maybe': not a boolean; give codex_save=true or codex_save=false")


def test_help_shows_named_groups_each_option_with_its_default(pytester):
    out = pytester.runpytest_subprocess("--help").stdout.str()
    groups = re.findall(r"^pytest-codex: ([^\n]*):$", out, re.M)
    assert groups == [
        "models and suite",
        "generation",
        "execution and sandbox",
        "reports and gates",
        "the paper's experiments",
    ]
    block = out[out.index("pytest-codex: models and suite:") :].split("\n\n[pytest] ini-options")[0]
    entries: list[str] = []
    for line in block.splitlines():
        if line and not line.startswith(" ") and not line.startswith("pytest-codex: "):
            break  # the next plugin's group
        if line.startswith("  --"):
            entries.append(line)
        elif line.startswith("    ") and entries:
            entries[-1] += " " + line.strip()
    assert len(entries) >= 40 and any(e.startswith("  --codex-tasks=ID[,ID...]") for e in entries)
    for entry in entries:
        assert re.search(r"\(default: [^;]+; ini: codex_\w+\)$", " ".join(entry.split())), entry


def test_pytest_codex_version():
    proc = subprocess.run([sys.executable, "-m", "pytest_codex", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and re.match(r"pytest-codex \d+\.\d+\.\d+ \(distribution pytest-humaneval", proc.stdout)


# -- 7. selecting problems -----------------------------------------------------------------


@pytest.mark.parametrize("workers", ["0", "2"])
def test_codex_tasks_runs_exactly_those_problems(pytester, workers):
    result = pytester.runpytest_subprocess("--model=reference", "-n", workers, "--codex-tasks=HumanEval/2,HumanEval/7")
    result.assert_outcomes(passed=2)  # -k "HumanEval/2" would also take HumanEval/20-29
    result.stdout.fnmatch_lines(
        [
            "codex: suite humaneval (164 problems, *; 2 selected by --codex-tasks=HumanEval/2,HumanEval/7)*",
            "humaneval: PARTIAL: over 2 of 164 problems (162 deselected) (selected by --codex-tasks=HumanEval/2,HumanEval/7)",
        ]
    )


@pytest.mark.parametrize(
    "value, named",
    [("HumanEval/2,HumanEval/999", "'HumanEval/999'"), ("HumanEval/160-170", "'HumanEval/164'"), ("HE/1", "'HE/1'")],
)
def test_an_unknown_task_id_is_a_usage_error_naming_it(pytester, value, named):
    line = usage_error(pytester.runpytest_subprocess("--model=reference", f"--codex-tasks={value}"))
    assert line.startswith(f"ERROR: --codex-tasks={value!r}: {named} is not a task of humaneval (164 problems")
    assert "give task ids such as HumanEval/0,HumanEval/1 or a range such as HumanEval/0-9" in line


def test_codex_limit_takes_the_first_n_or_a_seeded_random_n(pytester):
    def ids(*args: str) -> list[str]:
        out = pytester.runpytest_subprocess("--model=reference", "--collect-only", "-q", *args).stdout.lines
        return [m.group(1) for line in out if (m := re.search(r"reference-(HumanEval/\d+)\]$", line))]

    assert ids("--codex-limit=3") == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert ids("--codex-tasks=HumanEval/10-19", "--codex-limit=2") == ["HumanEval/10", "HumanEval/11"]
    drawn = ids("--codex-limit=5", "--codex-limit-seed=7")
    assert len(drawn) == 5 and drawn == ids("--codex-limit=5", "--codex-limit-seed=7")
    assert drawn != ids("--codex-limit=5") and drawn != ids("--codex-limit=5", "--codex-limit-seed=8")
    assert drawn == sorted(drawn, key=lambda t: int(t.split("/")[1]))  # suite order
    line = usage_error(pytester.runpytest_subprocess("--model=reference", "--codex-limit-seed=7"))
    assert "--codex-limit-seed=7: draws --codex-limit problems at random, but no --codex-limit is given" in line


# -- 5. JUnit ------------------------------------------------------------------------------


def junit_cases(path) -> dict[str, dict[str, str]]:
    """Every item's properties, as junitparser (a JUnit consumer) reads them."""
    xml = xunit2.JUnitXml.fromfile(str(path))
    return {case.name: {p.name: p.value for p in case.properties()} for suite in xml for case in suite}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_junit_properties_are_a_few_json_scalars(pytester, workers):
    write_jsonl(
        pytester.path / "s.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": CANONICAL["HumanEval/0"]},
            {"task_id": "HumanEval/0", "completion": "    return 1 / 0\n"},
            {"task_id": "HumanEval/1", "completion": "    return []\n"},
        ],
    )
    xml = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--model=samples:s.jsonl", "-n", workers, "--codex-tasks=HumanEval/0-2", f"--junitxml={xml}"
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    cases = junit_cases(xml)
    assert cases["test_humaneval[samples:s-HumanEval/0]"] == {
        "model": "samples:s",
        "task_id": "HumanEval/0",
        "attempted": "true",
        "n": "2",
        "c": "1",
        "pass@1": "0.5",
        "first_failing_verdict": "error",
    }
    assert cases["test_humaneval[samples:s-HumanEval/1]"]["first_failing_verdict"] == "failed"
    assert cases["test_humaneval[samples:s-HumanEval/2]"] == {
        "model": "samples:s",
        "task_id": "HumanEval/2",
        "attempted": "false",
        "n": "0",
        "c": "0",
    }
    for props in cases.values():
        for name, value in props.items():
            if name not in ("model", "task_id", "first_failing_verdict"):
                json.loads(value)  # numbers and booleans as JSON: never a Python repr
    assert "return 1 / 0" not in xml.read_text()  # completions only with the opt-in


def test_junit_of_1640_samples_is_small_and_samples_are_opt_in(pytester):
    samples = [{"task_id": t, "completion": c} for t, c in CANONICAL.items() for _ in range(10)]
    write_jsonl(pytester.path / "s.jsonl", samples)
    small, full = pytester.path / "small.xml", pytester.path / "full.xml"
    result = pytester.runpytest_subprocess("--model=samples:s.jsonl", "-n", "2", f"--junitxml={small}")
    result.assert_outcomes(passed=164)
    assert small.stat().st_size < 100_000, small.stat().st_size
    cases = junit_cases(small)
    assert len(cases) == 164 and all(p["n"] == "10" and p["c"] == "10" for p in cases.values())
    result = pytester.runpytest_subprocess(
        "--model=samples:s.jsonl", "--codex-tasks=HumanEval/0-1", f"--junitxml={full}", "--codex-junit-samples"
    )
    result.assert_outcomes(passed=2)
    shown = json.loads(junit_cases(full)["test_humaneval[samples:s-HumanEval/1]"]["samples"])
    assert [s["index"] for s in shown] == list(range(10))
    assert {s["verdict"] for s in shown} == {"passed"} and shown[0]["completion"] == CANONICAL["HumanEval/1"]


# -- 6. readable failures ------------------------------------------------------------------


def restating(task_id: str, body: str) -> str:
    """A completion that restates the prompt's function (as Qwen's base models do)."""
    prompt = next(p.prompt for p in HUMANEVAL.problems if p.task_id == task_id)
    header = prompt[prompt.index("def ") :]
    return "\n" + header + body


def test_failure_shows_the_whole_assertion_the_call_and_the_completions_own_lines_first(pytester):
    body = "    groups = []\n    for g in paren_string.split(')'):\n        groups.append(g)\n    return groups\n"
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "HumanEval/1", "completion": restating("HumanEval/1", body)}])
    result = pytester.runpytest_subprocess("--model=samples:s.jsonl", "--codex-tasks=HumanEval/1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "0/1 samples passed for HumanEval/1 (samples:s); first failing sample #0: failed",
            "  candidate('(()()) ((())) () ((())()())') returned ['((', '(', '', *",
            "  assert candidate('(()()) ((())) () ((())()())') == [",
            "      '(()())', '((()))', '()', '((())()())'",
            "  ]",
            "completion (13 lines, 9 of them repeat the prompt):",
            "  : (9 lines as in the prompt)",
            "  |     groups = []",
            "  |     for g in paren_string.split(')'):",
            "  |         groups.append(g)",
            "  |     return groups",
        ]
    )
    full = pytester.runpytest_subprocess("--model=samples:s.jsonl", "--codex-tasks=HumanEval/1", "-vv")
    full.stdout.fnmatch_lines(["completion (13 lines):", "  | ", "  | def separate_paren_groups(*"])


def test_verbosity_raises_the_completion_limit(pytester):
    body = "".join(f"    x{i} = {i}\n" for i in range(150)) + "    return []\n"
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "HumanEval/1", "completion": body}])

    def shown(*args: str) -> tuple[int, str]:
        out = pytester.runpytest_subprocess("--model=samples:s.jsonl", "--codex-tasks=HumanEval/1", *args).stdout
        failure = out.lines[: next(i for i, line in enumerate(out.lines) if "short test summary" in line)]
        lines = [line for line in failure if line.startswith("  |     x")]
        more = next((line for line in failure if line.startswith("  | ... (")), "")
        return len(lines), more

    assert shown() == (30, "  | ... (121 more lines; -v or -vv shows more)")
    assert shown("-v") == (120, "  | ... (31 more lines; -v or -vv shows more)")
    assert shown("-vv") == (150, "")


# -- 8. terminal conventions ---------------------------------------------------------------


def summary(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "pytest-codex: humaneval" in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("time "))
    return lines[start + 1 : end]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_tables_fit_60_columns(pytester, monkeypatch, workers):
    write_jsonl(
        pytester.path / "s.jsonl",
        [{"task_id": f"HumanEval/{i}", "completion": CANONICAL[f"HumanEval/{i}"]} for i in range(4) for _ in range(3)],
    )
    args = ["--model=reference", "--model=samples:s.jsonl", "--codex-tasks=HumanEval/0-3", "-n", workers]
    monkeypatch.setenv("COLUMNS", "60")
    narrow = pytester.runpytest_subprocess(*args, "--codex-k=1,2,3")
    table = [line for line in summary(narrow) if not line.startswith("[")]  # notes wrap in the terminal
    assert all(len(line) <= 60 for line in table[1:]), table
    assert sum(line.startswith("model ") for line in table) >= 2  # the ks split, each beside the model column
    assert sum(line.startswith("verdicts ") for line in table) == 2
    paired = narrow.stdout.lines[narrow.stdout.lines.index("paired differences (each model against the first):") + 1 :]
    assert all(len(line) <= 60 for line in paired[:7]), paired
    monkeypatch.setenv("COLUMNS", "200")
    wide = summary(pytester.runpytest_subprocess(*args, "--codex-k=1,2,3"))
    assert sum(line.startswith("model ") for line in wide) == 1 and "crashed" in wide[1]


def test_gate_lines_are_coloured_with_color_yes(pytester):
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "HumanEval/1", "completion": "    return []\n"}])
    common = ["--codex-tasks=HumanEval/1", "--color=yes"]
    good = pytester.runpytest_subprocess("--model=reference", "--codex-fail-under=1", *common)
    assert "\x1b[32m--codex-fail-under=1: reference pass@1 1.0: ok" in good.stdout.str()
    bad = pytester.runpytest_subprocess("--model=samples:s.jsonl", "--codex-fail-under=0.5", *common)
    assert "\x1b[31m--codex-fail-under=0.5: samples:s pass@1 0.0: FAILED" in bad.stdout.str()
    plain = pytester.runpytest_subprocess("--model=reference", "--codex-fail-under=1", "--codex-tasks=HumanEval/1")
    assert "\x1b[" not in plain.stdout.str() and "--codex-fail-under=1: reference pass@1 1.0: ok" in plain.stdout.str()
