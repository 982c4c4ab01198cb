"""The experiments on a real (tiny, random) transformers model: the sweep runs it once per
temperature, the ranking uses its log-probs, back-translation scores with it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_codex.models.hf import causal_lm_loglikelihoods

from models_support import tiny_model
from support import SUITE_FILE


@pytest.fixture
def tiny(tmp_path_factory) -> str:
    return tiny_model(tmp_path_factory)


def test_loglikelihood_equals_the_sum_of_next_token_log_probs(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(tiny), AutoModelForCausalLM.from_pretrained(tiny).eval()
    gen = SimpleNamespace(load=lambda: None, model=model, tokenizer=tok)
    pairs = [
        ('def add(a, b):\n    return a + b\n\n# The docstring:\n"""', 'Add two numbers."""'),
        ("x = 1\n", " and then some"),
    ]
    got = causal_lm_loglikelihoods(gen, pairs)
    for (context, continuation), value in zip(pairs, got):
        ctx = tok(context)["input_ids"]
        cont = tok(continuation, add_special_tokens=False)["input_ids"]
        expected = 0.0
        with torch.inference_mode():
            for j, token in enumerate(cont):  # one forward pass per prefix
                logits = model(torch.tensor([ctx + cont[:j]])).logits[0, -1].float()
                expected += float(torch.log_softmax(logits, -1)[token])
        assert value == pytest.approx(expected, abs=1e-3)
    assert all(v < 0 for v in got)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sweep_ranking_and_backtranslation_on_a_tiny_model(pytester, tiny, tmp_path, workers):
    pytester.makepyfile(test_humaneval=SUITE_FILE)
    report = tmp_path / "r.json"
    result = pytester.runpytest_subprocess(
        f"--model=hf:{tiny}",
        "--codex-temperatures=0.2,0.8",
        "--codex-n=3",
        "--codex-k=1,3",
        "--codex-max-new-tokens=12",
        "--codex-backtranslate",
        "-k",
        "HumanEval/0] or HumanEval/2]",
        "-n",
        workers,
        f"--codex-report={report}",
        "--codex-plots=none",
        "-q",
    )
    assert result.ret in (0, 1), result.stdout.str()[-2000:]
    label = Path(tiny).name
    result.stdout.re_match_lines(
        [
            r".*temperature sweep",
            rf"hf:{label}: pass@k per temperature.*",
            r"0\.2\s+3\s+\S+\s+\S+$",
            r"0\.8\s+3\s+\S+\s+\S+$",
        ]
    )
    doc = json.loads(report.read_text())
    assert {r["label"] for r in doc["runs"]} == {f"hf:{label}@T0.2", f"hf:{label}@T0.8"}
    assert {r["params"]["temperature"] for r in doc["runs"]} == {0.2, 0.8}
    ranking = doc["experiments"]["ranking"]["models"]
    for run in doc["runs"]:
        curves = ranking[run["label"]]["curves"]
        assert all(
            curves[h] is not None for h in ("random", "mean_logprob", "sum_logprob", "backtranslation", "oracle")
        )
        samples = [s for p in run["problems"] for s in p["samples"]]
        assert len(samples) == 6
        assert all(s["mean_logprob"] <= 0 and "backtranslation" in s for s in samples)
