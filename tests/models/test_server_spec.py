"""``openai:<model>@<base url>`` parsing, seeds and stop sequences (no server needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core.generation import derive_seed
from pytest_codex.models import parse_model_spec
from pytest_codex.models.openai_api import OpenAISpecError, cut_at_stop, endpoint_for, parse_target

from support import SUITE_FILE


@pytest.mark.parametrize(
    "target, expected",
    [
        ("smollm2@http://127.0.0.1:8000/v1", ("smollm2", "http://127.0.0.1:8000/v1")),
        ("smollm2@http://127.0.0.1:8000/v1/", ("smollm2", "http://127.0.0.1:8000/v1")),
        ("smollm2@http://127.0.0.1:8000", ("smollm2", "http://127.0.0.1:8000/v1")),
        (
            "Qwen/Qwen2.5-Coder-7B@https://api.example.com/openai/v1",
            ("Qwen/Qwen2.5-Coder-7B", "https://api.example.com/openai/v1"),
        ),
        ("org/model@rev2@http://host:1/v1", ("org/model@rev2", "http://host:1/v1")),
    ],
)
def test_parse_target(target, expected):
    assert parse_target(f"openai:{target}", target) == expected


@pytest.mark.parametrize(
    "target, message",
    [
        ("smollm2", r"expected <model>@<base url>"),
        ("@http://127.0.0.1:8000/v1", r"expected <model>@<base url>"),
        ("smollm2@localhost:8000", r"the base URL 'localhost:8000' is not an http\(s\) URL"),
        ("smollm2@ftp://host/v1", r"is not an http\(s\) URL"),
        ("smollm2@http://127.0.0.1:99999/v1", r"has a bad port"),
        ("smollm2@http://user:sk-1@host/v1", r"do not put credentials in the URL"),
        ("smollm2@http://host/v1?x=1", r"has a query or fragment"),
    ],
)
def test_bad_targets_say_what_and_how_to_fix(target, message):
    with pytest.raises(OpenAISpecError, match=message) as info:
        parse_target(f"openai:{target}", target)
    assert "--model='openai:" in str(info.value) and "\n" not in str(info.value)
    assert "sk-1" not in str(info.value)


@given(st.integers(0, 2**31), st.text(max_size=50), st.integers(0, 1000))
def test_seed_is_a_positive_int32_and_depends_on_every_part(seed, prompt, index):
    s = derive_seed(seed, prompt, index)
    assert 0 <= s < 2**31 and s == derive_seed(seed, prompt, index)
    assert len({s, derive_seed(seed, prompt, index + 1), derive_seed(seed + 1, prompt, index)}) == 3


@given(st.text(alphabet="ab\n#", max_size=40), st.lists(st.sampled_from(["\n#", "\nb", "a\n"]), max_size=3))
def test_cut_at_stop_keeps_the_longest_prefix_without_a_stop(text, stop):
    kept = cut_at_stop(text, stop)
    assert text.startswith(kept)
    assert not any(s in kept for s in stop)
    if kept != text:
        assert any(text[len(kept) :].startswith(s) for s in stop)


@pytest.mark.parametrize(
    "prefix, style, endpoint",
    [
        ("openai", "auto", "completions"),
        ("openai", "completion", "completions"),
        ("openai", "chat", "chat"),
        ("openai-chat", "auto", "chat"),
        ("openai-chat", "chat", "chat"),
    ],
)
def test_endpoint_follows_the_prefix_and_the_prompt_style(prefix, style, endpoint):
    spec = parse_model_spec(f"{prefix}:org/m@http://127.0.0.1:1/v1")
    assert spec.label == f"{prefix}:m"
    assert endpoint_for(spec, style) == endpoint


def test_the_chat_prefix_refuses_the_completion_style(pytester):
    pytester.makepyfile(test_humaneval=SUITE_FILE)
    result = pytester.runpytest_subprocess(
        "--model=openai-chat:m@http://127.0.0.1:1/v1", "--codex-prompt-style=completion"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --model='openai-chat:m@http://127.0.0.1:1/v1' with "
            "--codex-prompt-style=completion: the chat endpoint always uses the chat style; "
            "use --model=openai:m@http://127.0.0.1:1/v1 for the completions endpoint"
        ]
    )
