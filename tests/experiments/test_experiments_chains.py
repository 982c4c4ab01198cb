"""The chained-operations suite: deterministic per seed, canonical chains pass, the by-length table."""

from __future__ import annotations

import json
import string
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.experiments.chains import BLOCKS, FIXED_STRINGS, apply_chain, chain_length, suite_for
from pytest_codex.options.experiment import ChainConfig

from support import printed_elsewhere


def test_the_thirteen_building_blocks_of_the_paper():
    assert len(BLOCKS) == 13
    s = "Hello there. How are you?"
    got = {b.key: b.apply(s) for b in BLOCKS}
    assert got == {
        "remove_e": "Hllo thr. How ar you?",
        "spaces_to_bang": "Hello!there.!How!are!you?",
        "lowercase": "hello there. how are you?",
        "trim_two": "llo there. How are yo",
        "remove_vowels": "Hll thr. Hw r y?",
        "drop_third": "Helothre Hw reyo?",
        "first_half_chars": "Hello there.",
        "triple_spaces": "Hello   there.   How   are   you?",
        "reverse_words": "you? are How there. Hello",
        "drop_first_half_words": "How are you?",
        "apples": "Hello apples there. apples How apples are apples you? apples",
        "every_other_upper": "HeLlO ThErE. HOw aRe yOu?",
        "delete_punct": "Hello there How are you",
    }


def test_same_seed_same_suite_other_seed_other_problems():
    a, b = suite_for(ChainConfig(seed=3, per_length=2)), suite_for(ChainConfig(seed=3, per_length=2))
    assert a == b
    c = suite_for(ChainConfig(seed=4, per_length=2))
    assert c.sha256 != a.sha256
    assert [p.prompt for p in c.problems] != [p.prompt for p in a.problems]


def test_the_suite_is_the_same_in_another_process():
    code = (
        "from pytest_codex.options.experiment import ChainConfig; from pytest_codex.experiments.chains import suite_for; "
        "print(suite_for(ChainConfig(seed=5, per_length=2, lengths=(1, 4, 7))).sha256)"
    )
    other = printed_elsewhere(code)
    assert other == suite_for(ChainConfig(seed=5, per_length=2, lengths=(1, 4, 7))).sha256


def test_docstring_solution_and_tests_are_composed_from_the_blocks():
    suite = suite_for(ChainConfig(lengths=(3,), per_length=4, seed=1))
    assert [p.task_id for p in suite.problems] == [f"chains/L3/{i}" for i in range(4)]
    for p in suite.problems:
        assert chain_length(p.task_id) == 3
        doc = " ".join(p.prompt.split())
        used = sorted((b for b in BLOCKS if b.phrase in doc), key=lambda b: doc.index(b.phrase))
        assert len(used) == 3 and doc.count(", then ") == 2
        assert p.canonical_solution == "".join(f"    {b.code}\n" for b in used) + "    return s\n"
        for fixed in (string.punctuation, string.hexdigits, string.whitespace):
            assert f"candidate({fixed!r})" in p.test
        assert p.test.count("assert candidate(") > len(FIXED_STRINGS)  # plus the drawn strings


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(13)).map(lambda p: p[:4]), st.text(max_size=30))
def test_apply_chain_is_the_blocks_in_order(order, s):
    blocks = [BLOCKS[i] for i in order]
    expected = s
    for b in blocks:
        expected = b.apply(expected)
    assert apply_chain(blocks, s) == expected


@pytest.mark.parametrize("workers", ["0", "2"])
def test_every_canonical_chain_passes_and_the_table_shows_each_length(project, workers, tmp_path):
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=reference",
        "--codex-suite=chains",
        "--codex-chain-per-length=3",
        "--codex-chain-seed=11",
        "-n",
        workers,
        f"--codex-report={report}",
        f"--codex-plots={tmp_path / 'plots'}",
    )
    result.assert_outcomes(passed=21)
    result.stdout.fnmatch_lines(
        [
            "*pytest-codex: chained operations (seed 11, 3 per length)*",
            "model * L1 * L7*fall/step",
            "reference * 1.0 (3) * 1.0 (3) *1.00x",
        ]
    )
    doc = json.loads(report.read_text())
    assert doc["runs"][0]["manifest"]["dataset"]["name"] == "chains"
    rec = doc["experiments"]["chains"]["models"]["reference"]
    assert rec["pass_at_1_by_length"] == {str(L): 1.0 for L in range(1, 8)}
    plot = Path(doc["experiments"]["chains"]["plots"][0])
    assert plot.parent == tmp_path / "plots"
    assert ElementTree.parse(plot).getroot().tag.endswith("svg")


def test_wrong_answers_fail_and_the_rate_falls_with_length(project, tmp_path):
    # a "model" that knows only the first operation of each chain: right at length 1 only
    suite = suite_for(ChainConfig(lengths=(1, 2), per_length=3, seed=0))

    def first_op(code: str) -> str:
        lines = code.splitlines(keepends=True)
        upto = next(i for i, line in enumerate(lines) if line.startswith("    s = "))
        return "".join(lines[: upto + 1]) + "    return s\n"

    first_op = {p.task_id: first_op(p.canonical_solution) for p in suite.problems}
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in first_op.items()))
    result = project.runpytest_subprocess(
        f"--model=samples:{samples}",
        "--codex-suite=chains",
        "--codex-chain-lengths=1,2",
        "--codex-chain-per-length=3",
        "--codex-plots=none",
    )
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(["samples:s * 1.0 (3) * 0.0 (3) *—"])
    assert "plot:" not in result.stdout.str()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--codex-chain-lengths=0-3"], "--codex-chain-lengths='0-3': '0-3' is outside 1..13 or reversed"),
        (["--codex-chain-lengths=x"], "--codex-chain-lengths='x': 'x' is not a length or a range"),
        (["--codex-chain-seed=-1"], "--codex-chain-seed='-1': must be at least 0"),
        (["--codex-chain-per-length=zero"], "--codex-chain-per-length='zero': not an integer"),
    ],
)
def test_bad_chain_options_are_one_line_usage_errors(project, args, message):
    result = project.runpytest_subprocess("--model=reference", "--codex-suite=chains", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()
