"""Under ``-n``, the items that took longest last time start first (``reports.durations``),
and hypothesis's terminal summary is skipped when hypothesis was never imported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.reports import durations

TASKS = [f"HumanEval/{i}" for i in range(8)]
SELECT = " or ".join(f"{t}]" for t in TASKS)
NODE = "test_humaneval.py::test_humaneval[reference-{}]"
STARTED = """
def pytest_runtest_setup(item):
    workerinput = getattr(item.config, "workerinput", None)  # not the environment: pytest may run under xdist
    if workerinput is not None:
        with open(f"started-{workerinput['workerid']}.txt", "a") as fh:
            fh.write(item.nodeid + "\\n")
"""


@given(st.lists(st.text(min_size=1, max_size=3), unique=True), st.data())
def test_longest_first_is_a_permutation_with_the_known_ones_first_longest_first(nodeids, data):
    known = {n: data.draw(st.floats(0, 100)) for n in nodeids if data.draw(st.booleans())}
    order = durations.longest_first(nodeids, known)
    assert sorted(order) == list(range(len(nodeids)))
    timed = [nodeids[i] for i in order[: len(known)]]
    assert set(timed) == set(known)
    assert [known[n] for n in timed] == sorted(known.values(), reverse=True)
    assert order[len(known) :] == [i for i, n in enumerate(nodeids) if n not in known]  # the rest as collected


def test_durations_are_merged_and_a_damaged_file_is_ignored(tmp_path):
    path = tmp_path / "d.json"
    durations.save(path, {"a": 1.0, "b": 2.0})
    durations.save(path, {"b": 3.0, "c": 0.5})
    assert durations.load(path) == {"a": 1.0, "b": 3.0, "c": 0.5}
    path.write_text('{"schema": 1, "items": {"a": ')
    assert durations.load(path) == {}


def first_started(pytester: pytest.Pytester) -> set[str]:
    return {
        (pytester.path / f"started-{w}.txt").read_text().splitlines()[0].rsplit("-", 1)[1].rstrip("]")
        for w in ("gw0", "gw1")
    }  # (the conftest's hooks apply to the project's module: it is named on the command line)


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(STARTED)
    return project


def test_a_single_run_records_each_items_duration(project):
    project.runpytest_subprocess("--model=reference", "-k", SELECT).assert_outcomes(passed=8)
    recorded = durations.load(project.path / durations.FILE)
    assert set(recorded) == {NODE.format(t) for t in TASKS}


def test_negative_control_without_durations_xdist_starts_the_first_items(project):
    project.runpytest_subprocess("test_humaneval.py", "--model=reference", "-n", "2", "-k", SELECT).assert_outcomes(
        passed=8
    )
    assert first_started(project) == {"HumanEval/0", "HumanEval/2"}  # xdist's first chunks: items 0-1 and 2-3
    assert (project.path / durations.FILE).is_file()  # the controller recorded this run


def test_the_items_that_took_longest_last_time_start_first(project):
    recorded = {NODE.format(t): 0.01 * i for i, t in enumerate(TASKS)}
    recorded[NODE.format("HumanEval/5")] = 5.0
    recorded[NODE.format("HumanEval/3")] = 4.0
    durations.save(project.path / durations.FILE, recorded)
    result = project.runpytest_subprocess("test_humaneval.py", "--model=reference", "-n", "2", "-k", SELECT)
    result.assert_outcomes(passed=8)  # every item runs, each once
    assert first_started(project) == {"HumanEval/5", "HumanEval/3"}
    started = [line for w in ("gw0", "gw1") for line in (project.path / f"started-{w}.txt").read_text().splitlines()]
    assert sorted(started) == sorted(NODE.format(t) for t in TASKS)


IMPORTED = """
import pathlib
import sys


def pytest_unconfigure(config):
    pathlib.Path("hypothesis-imported.txt").write_text(str("hypothesis" in sys.modules))
"""
PROPERTY = """
from hypothesis import given, strategies as st


@given(st.integers())
def test_property(x):
    assert x == x
"""


def test_hypothesis_is_not_imported_for_its_summary_when_no_hypothesis_test_ran(project):
    project.makeconftest(IMPORTED)
    project.runpytest_subprocess("--model=reference", "-k", "HumanEval/0]").assert_outcomes(passed=1)
    assert (project.path / "hypothesis-imported.txt").read_text() == "False"


def test_negative_control_without_a_model_hypothesis_imports_itself_for_its_summary(pytester):
    pytester.makeconftest(IMPORTED)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert (pytester.path / "hypothesis-imported.txt").read_text() == "True"


def test_hypothesis_tests_beside_a_benchmark_keep_their_statistics(project):
    project.makeconftest(IMPORTED)
    project.makepyfile(test_property=PROPERTY)
    result = project.runpytest_subprocess(
        "test_humaneval.py",
        "test_property.py",
        "--model=reference",
        "-k",
        "HumanEval/0] or test_property",
        "--hypothesis-show-statistics",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*Hypothesis Statistics*", "*test_property*"])
    assert (project.path / "hypothesis-imported.txt").read_text() == "True"
