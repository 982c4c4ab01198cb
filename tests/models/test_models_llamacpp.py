"""The optional llama.cpp backend (``llamacpp:<file.gguf>``) on the embedded SmolLM2 GGUF."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.problems import load_suite

from support import SUITE_FILE, run_report

np = pytest.importorskip("numpy")

TASKS = ("HumanEval/0", "HumanEval/23", "HumanEval/53")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=2, max_size=30), st.integers(0, 2**31))
def test_choose_greedy_log_probability_and_nucleus(values, seed):
    from pytest_codex.models.llamacpp import choose

    logits = np.array(values, dtype=np.float32)
    token, lp = choose(logits, random.Random(seed), 0.0, 1.0)
    assert token == int(np.argmax(logits))
    expected = float(logits[token]) - math.log(np.exp(logits.astype(np.float64)).sum())
    assert lp == pytest.approx(expected, abs=1e-6)
    # a tiny nucleus keeps only the most likely token, whatever the temperature and the seed
    assert choose(logits, random.Random(seed), 1.5, 1e-9)[0] == int(np.argmax(logits))
    # sampling follows the seed
    assert choose(logits, random.Random(seed), 1.0, 1.0) == choose(logits, random.Random(seed), 1.0, 1.0)
    sampled, lp2 = choose(logits, random.Random(seed), 1.0, 0.9)
    assert 0 <= sampled < len(values) and lp2 <= 0


@pytest.fixture(scope="module")
def gguf_file() -> str:
    pytest.importorskip("llama_cpp")
    from pytest_codex.core.errors import ModelError
    from pytest_codex.models.sources import smollm2_gguf

    try:
        return smollm2_gguf()
    except ModelError as exc:
        pytest.skip(str(exc))


def test_llamacpp_end_to_end_store_and_samples(pytester: pytest.Pytester, monkeypatch, gguf_file):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pytester.makepyfile(test_humaneval=SUITE_FILE)
    by_id = load_suite("humaneval").by_id()
    suite = pytester.path / "suite.jsonl"
    suite.write_text("".join(json.dumps(by_id[t].__dict__) + "\n" for t in TASKS))
    common = [
        "-p",
        "no:cacheprovider",
        f"--model=llamacpp:{gguf_file}",
        f"--codex-suite={suite}",
        f"--codex-cache-dir={pytester.path / 'cache'}",
        "--codex-max-new-tokens=96",
    ]

    def run(name: str, *extra: str) -> dict:
        return run_report(pytester, [*common, *extra], name)

    def generated(run_: dict) -> list:
        return [[(s["index"], s["completion"], s["num_tokens"]) for s in p["samples"]] for p in run_["problems"]]

    chat = run("chat.json")
    assert chat["params"]["prompt_style"] == "chat" and chat["manifest"]["model"]["backend"] == "llama.cpp"
    samples = [p["samples"][0] for p in chat["problems"]]
    assert any("```" in s.get("raw", "") for s in samples)
    assert all(s["num_tokens"] > 0 and s["sum_logprob"] < 0 for s in samples)

    sampled = run(
        "sampled.json",
        "--codex-prompt-style=completion",
        "--codex-n=4",
        "--codex-temperature=0.8",
        "--codex-batch-size=5",
    )
    assert sampled["manifest"]["model"]["store"] == {**sampled["manifest"]["model"]["store"], "generated": 12}
    stop = sampled["params"]["stop"]
    for p in sampled["problems"]:
        for s in p["samples"]:
            assert not any(x in s["completion"] for x in stop)  # cut at the first stop sequence
            raw = s.get("raw", s["completion"])
            assert raw.startswith(s["completion"])
    again = run(
        "again.json",
        "--codex-prompt-style=completion",
        "--codex-n=4",
        "--codex-temperature=0.8",
        "--codex-batch-size=5",
    )
    assert again["manifest"]["model"]["store"]["from_store"] == 12
    assert generated(again) == generated(sampled)
