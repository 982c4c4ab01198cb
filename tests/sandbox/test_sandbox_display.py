"""Displays never decide: every value, message and output a verdict shows goes through the one
safe renderer (``core.text``), so a huge int, deep nesting, a repr that raises, a lone
surrogate or an escape sequence gives the right verdict and a readable one-line detail, and
reaches neither the terminal nor a report raw."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from pytest_codex.core.problems import Problem
from pytest_codex.sandbox.executor import make_executor

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    yield ex
    ex.close()


def readable(detail: str | None) -> bool:
    assert detail is not None
    detail.encode("utf-8")  # valid UTF-8: no lone surrogate
    # a few lines (the call and its value, the failing statement), each free of control characters
    return detail.count("\n") <= 30 and not UNSAFE.search(detail.replace("\n", " ")) and len(detail) < 2200


def problem(name: str, canonical: str, test: str) -> Problem:
    return Problem(
        task_id=f"test/{name}",
        prompt=f"def {name}(x):\n",
        canonical_solution=canonical,
        test=test,
        entry_point=name,
    )


BIG = problem("big", "    return 10 ** x\n", "def check(candidate):\n    assert candidate(5000) == 10 ** 5000\n")
ARG = problem(
    "bits",
    "    return x.bit_length()\n",
    "def check(candidate):\n    assert candidate(10 ** 5000) == (10 ** 5000).bit_length()\n",
)
BAD_MESSAGE = problem(
    "one",
    "    return 1\n",
    "class Bad:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n    __str__ = __repr__\n\n"
    "def check(candidate):\n    assert candidate(0) == 1, Bad()\n",
)
DEEP = problem(
    "deep",
    "    out = []\n    for _ in range(x):\n        out = [out]\n    return out\n",
    "def check(candidate):\n    v = []\n    for _ in range(90):\n        v = [v]\n    assert candidate(90) == v\n",
)


def test_a_correct_candidate_returning_an_int_of_5001_digits_passes(executor):
    assert executor.run(BIG, BIG.canonical_solution, 5.0).passed
    r = executor.run(BIG, "    return 10 ** x + 1\n", 5.0)
    assert r.verdict == "failed" and readable(r.detail), r
    assert r.detail.startswith(
        "candidate(5000) returned <int of about 5001 digits>\nassert candidate(5000) == 10 ** 5000"
    )


def test_a_test_passing_an_int_of_5001_digits_gets_the_right_verdicts(executor):
    assert executor.run(ARG, ARG.canonical_solution, 5.0).passed
    r = executor.run(ARG, "    return 0\n", 5.0)
    assert r.verdict == "failed" and readable(r.detail), r
    assert r.detail.startswith("candidate(<int of about 5001 digits>) returned 0\n")


def test_an_assertion_message_whose_repr_raises(executor):
    assert executor.run(BAD_MESSAGE, BAD_MESSAGE.canonical_solution, 5.0).passed
    r = executor.run(BAD_MESSAGE, "    return 2\n", 5.0)
    assert r.verdict == "failed" and readable(r.detail), r
    assert "message: <Bad object (its repr failed)>" in r.detail


def test_deep_nesting(executor):
    assert executor.run(DEEP, DEEP.canonical_solution, 5.0).passed
    r = executor.run(DEEP, "    return [[]]\n", 5.0)
    assert r.verdict == "failed" and readable(r.detail) and "returned [[]]" in r.detail, r


# CPython refuses a type name with a lone surrogate, but a sample can write its answer frame
# itself: ["raise", type name, message] with any JSON string in them.
FORGED_RAISE = """\
    import os, struct
    body = b'["raise","\\\\udcff\\\\u001b[2J","x\\\\udcff"]'
    os.write(3, struct.pack('>I', len(body)) + body)
    import time
    time.sleep(60)
"""


@pytest.mark.parametrize(
    "body,error_type,shown",
    [
        ("    raise ValueError('\\udcff')\n", "ValueError", "\\udcff"),
        (FORGED_RAISE, "\\udcff\\x1b[2J", "x\\udcff"),
        ("    raise ValueError('\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\r1 passed')\n", "ValueError", "\\x1b[2J\\x1b]52;c;"),
        ("    raise ValueError('x' * 100000)\n", "ValueError", "xxxx"),
    ],
)
def test_what_a_sample_says_is_made_safe_where_it_enters(executor, body, error_type, shown):
    from sandbox_support import ADD

    r = executor.run(ADD, body, 5.0)
    assert r.verdict == "error" and r.error_type == error_type and readable(r.detail), r
    assert shown in r.detail
    out = executor.run(ADD, "    print('\\x1b[2J\\udcff\\u202e', flush=True)\n    return a + b\n", 5.0)
    # (the sample's stdout writes the surrogate as the byte it escapes: shown as U+FFFD)
    assert out.passed and not UNSAFE.search(out.output) and "\\x1b[2J\ufffd\\u202e" in out.output, out


SAMPLES = [
    ("HumanEval/0", "    raise ValueError('\\udcff')\n"),
    ("HumanEval/0", "    raise type('\\udcff', (Exception,), {})('x')\n"),
    (
        "HumanEval/0",
        "    print('\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07')\n    raise ValueError('\\x1b[31mred\\r===== 164 passed')\n",
    ),
    ("HumanEval/1", "    # \x1b[2J\udcff a comment\n    return [] \n"),
    ("HumanEval/2", "    return number % 1.0\n"),  # correct
]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hostile_text_neither_aborts_the_session_nor_reaches_the_terminal_or_the_reports(project, tmp_path, workers):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in SAMPLES))
    assert "\\u001b" in samples.read_text() and "\\udcff" in samples.read_text()  # negative control
    report, junit = tmp_path / "r.json", tmp_path / "junit.xml"
    result = project.runpytest_subprocess(
        f"--model=samples:{samples}",
        "-n",
        workers,
        "-k",
        "HumanEval/0] or HumanEval/1] or HumanEval/2]",
        f"--codex-report={report}",
        f"--junitxml={junit}",
    )
    assert result.ret == 1, result.stdout.str()  # failures, not an INTERNALERROR (3)
    result.assert_outcomes(passed=1, failed=2)
    shown = result.stdout.str() + result.stderr.str()
    assert "\x1b" not in shown and "\\x1b[2J" in shown and "INTERNALERROR" not in shown
    raw = report.read_text()
    run = json.loads(raw)["runs"][0]
    samples_out = [s for p in run["problems"] for s in p["samples"]]
    details = [s["detail"] for s in samples_out if s["detail"]]
    assert details and all(readable(d) for d in details)
    assert all(not UNSAFE.search(s["output"] or "") for s in samples_out)
    # The completion is kept as it came (JSON-escaped: no raw control byte in the file), with
    # its lone surrogates escaped so that every encoder downstream succeeds.
    assert b"\x1b" not in report.read_bytes()
    json.dumps(json.loads(raw), ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    assert ET.parse(junit).getroot() is not None and b"\x1b" not in junit.read_bytes()
