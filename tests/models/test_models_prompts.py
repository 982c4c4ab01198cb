"""Prompt styles: stops cut exactly, and code from a chat reply re-assembled into a program.

Programs made from HumanEval's canonical solutions are executed in a child interpreter
(never in this process) to show that ``prompt + completion`` really runs and passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.generation import GenParams
from pytest_codex.core.problems import load_suite
from pytest_codex.models import prompts

PROBLEMS = load_suite("humaneval").problems
STOPS = GenParams().stop


@given(st.text(alphabet="ab \n#defiprntcls", max_size=60), st.integers(0, 60))
def test_find_stop_cuts_at_the_earliest_stop(text, start):
    cut = prompts.find_stop(text, STOPS, start)
    if cut is None:
        assert not any(s in text[start:] for s in STOPS)
    else:
        assert cut >= start and any(text.startswith(s, cut) for s in STOPS)
        assert not any(s in text[start : cut + len(s) - 1] for s in STOPS)


def test_closed_fence_end():
    assert prompts.closed_fence_end("Sure:\n```python\nx = 1\n```\nmore") == len("Sure:\n```python\nx = 1\n```\n")
    assert prompts.closed_fence_end("```python\nx = 1\n") is None
    assert prompts.closed_fence_end("```python\nx = 1\n```") is None  # closing line not finished yet


def test_resolve_style():
    assert prompts.resolve_style("auto", True) == "chat"
    assert prompts.resolve_style("auto", False) == "completion"
    assert prompts.resolve_style("completion", True) == "completion"


def test_chat_messages_hold_the_prompt_in_a_fence():
    (msg,) = prompts.chat_messages(PROBLEMS[0].prompt)
    assert msg["role"] == "user" and "```python\n" + PROBLEMS[0].prompt.rstrip() + "\n```" in msg["content"]


def _passes(problem, completion: str) -> tuple[bool, str]:
    program = problem.prompt + completion + "\n\n" + problem.test + f"\ncheck({problem.entry_point})\n"
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0, proc.stderr[-300:]


def _whole_function(problem, indent: str = "    ") -> str:
    """The prompt + canonical solution, re-indented with ``indent``: what an instruct model writes."""
    code = problem.prompt + problem.canonical_solution
    return "\n".join(line.replace("    ", indent) for line in code.splitlines())


def test_every_canonical_solution_survives_a_chat_reply_round_trip():
    """For all 164 problems: a reply that restates the whole function (with prose around it)
    gives back a completion whose program passes; checked in one child process."""
    completions = {}
    for p in PROBLEMS:
        reply = f"Here is the function:\n\n```python\n{_whole_function(p)}\n```\n\nIt works."
        completions[p.task_id] = prompts.extract_completion(p.prompt, reply)
    script = textwrap.dedent("""
        import json, sys, subprocess
        failures = []
        for item in json.load(sys.stdin):
            prog = item["program"]
            r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
            if r.returncode:
                failures.append([item["task_id"], r.stderr[-200:]])
        print(json.dumps(failures))
    """)
    items = [
        {
            "task_id": p.task_id,
            "program": p.prompt + completions[p.task_id] + "\n\n" + p.test + f"\ncheck({p.entry_point})\n",
        }
        for p in PROBLEMS
    ]
    proc = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(items), capture_output=True, text=True, timeout=600
    )
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize("indent", ["  ", "\t", "        "])
def test_other_indentation_is_re_indented(indent):
    p = next(p for p in PROBLEMS if p.task_id == "HumanEval/12")  # nested blocks
    body_only = textwrap.indent(textwrap.dedent(p.canonical_solution), indent)
    for reply in (f"```python\n{_whole_function(p, indent)}\n```", f"```\n{body_only}```"):
        ok, err = _passes(p, prompts.extract_completion(p.prompt, reply))
        assert ok, err


def test_helpers_and_imports_beside_the_function_are_kept():
    p = next(p for p in PROBLEMS if p.task_id == "HumanEval/0")
    reply = (
        "```python\nimport itertools\n\ndef close(a, b, t):\n    return abs(a - b) < t\n\n"
        "def has_close_elements(numbers, threshold):\n"
        "    return any(close(a, b, threshold) for a, b in itertools.combinations(numbers, 2))\n\n"
        "print(has_close_elements([1.0, 2.0], 0.5))\n```"
    )
    completion = prompts.extract_completion(p.prompt, reply)
    assert "print(" not in completion  # top-level statements of the reply are not part of the program
    ok, err = _passes(p, completion)
    assert ok, err


def test_one_line_function_and_unfenced_reply():
    p = next(p for p in PROBLEMS if p.task_id == "HumanEval/23")  # strlen
    assert _passes(p, prompts.extract_completion(p.prompt, "```python\ndef strlen(string): return len(string)\n```"))[0]
    assert _passes(
        p, prompts.extract_completion(p.prompt, "def strlen(string: str) -> int:\n    return len(string)\n")
    )[0]


def test_code_that_does_not_parse_still_yields_the_function_body():
    p = next(p for p in PROBLEMS if p.task_id == "HumanEval/23")
    reply = "```python\ndef strlen(string):\n    return len(string)\n\nthis line is not python(\n```"
    assert prompts.extract_completion(p.prompt, reply) == "    return len(string)\n"


def test_the_block_defining_the_entry_point_is_chosen():
    p = next(p for p in PROBLEMS if p.task_id == "HumanEval/23")
    reply = "```text\nusage: strlen('abc')\n```\n```python\nprint(1)\n```\n```python\ndef strlen(s):\n    return len(s)\n```"
    assert prompts.extract_completion(p.prompt, reply) == "    return len(s)\n"


@settings(max_examples=30, deadline=None)
@given(prose=st.text(alphabet="abc .,\n", max_size=40), indent=st.sampled_from(["  ", "    ", "\t"]))
def test_extraction_property_body_is_indented_like_the_prompt(prose, indent):
    p = PROBLEMS[2]  # truncate_number
    reply = (
        f"{prose}\n```python\ndef truncate_number(number):\n{indent}x = number % 1.0\n{indent}return x\n```\n{prose}"
    )
    completion = prompts.extract_completion(p.prompt, reply)
    assert completion == "    x = number % 1.0\n    return x\n"
    compile(p.prompt + completion, "<program>", "exec")
