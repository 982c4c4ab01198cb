"""The openai backend against a real llama-cpp-python server serving SmolLM2 on 127.0.0.1."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'pytest-codex[server]'")

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import GenParams
from pytest_codex.models.local_server import LlamaServer, free_port
from pytest_codex.models.openai_api import OpenAIGenerator, ServerFailed
from pytest_codex.models.openai_http import RetryPolicy, ServerRefused, ServerUnavailable

PROMPTS = ['def add(a, b):\n    """Return a + b."""\n', 'def is_even(n):\n    """True if n is even."""\n']
FAST = RetryPolicy(retries=2, backoff_s=0.05, timeout_s=120)
GREEDY = GenParams(n=1, temperature=0.0, max_new_tokens=16, stop=())


@pytest.fixture(scope="module")
def llama():
    with LlamaServer(logits_all=True) as server:
        yield server


@pytest.fixture(scope="module")
def llama_without_logprobs():
    with LlamaServer(logits_all=False) as server:
        yield server


def gen(server: LlamaServer, **kw) -> OpenAIGenerator:
    return OpenAIGenerator(server.alias, server.base_url, policy=FAST, **kw)


def test_completions_with_log_probabilities_and_greedy_repeatability(llama):
    g = gen(llama, concurrency=2)
    first = g.generate(PROMPTS, GREEDY)
    again = g.generate(PROMPTS, GREEDY)
    assert [[c.text for c in row] for row in first] == [[c.text for c in row] for row in again]
    for row in first:
        (c,) = row
        assert c.text and c.num_tokens == 16  # no stop: the whole budget
        assert c.sum_logprob < 0 and c.mean_logprob == pytest.approx(c.sum_logprob / c.num_tokens)
    assert g.logprobs_supported is True


def test_stop_sequences_stop_the_server_and_cut_the_text(llama):
    g = gen(llama)
    ((full,),) = g.generate(PROMPTS[:1], GREEDY)
    stop = full.text[6:9]  # something the model is known to write next
    assert stop and full.text.find(stop) > 0
    ((cut,),) = g.generate(PROMPTS[:1], GenParams(n=1, temperature=0.0, max_new_tokens=16, stop=(stop,)))
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.num_tokens < full.num_tokens  # the server stopped early, not just our cut
    assert cut.sum_logprob > full.sum_logprob


def test_sampling_seeds_are_per_sample_so_a_resumed_run_gets_the_same_samples(llama):
    g = gen(llama, concurrency=3)
    params = GenParams(n=3, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=7, stop=())
    (row,) = g.generate(PROMPTS[:1], params)
    assert [c.index for c in row] == [0, 1, 2]
    assert len({c.text for c in row}) > 1  # real sampling
    resumed = [
        c
        for _, comps in g.iter_generate(PROMPTS[:1], GenParams(**{**params.__dict__, "n": 2}), first_index=1)
        for c in comps
    ]
    assert sorted((c.index, c.text) for c in resumed) == [(c.index, c.text) for c in row[1:]]


def test_chat_endpoint_streams_concurrently_and_stops_at_the_closed_code_block(llama):
    g = gen(llama, endpoint="chat", concurrency=2)
    rows = g.generate(PROMPTS, GenParams(n=1, temperature=0.0, max_new_tokens=120))
    for prompt, (c,) in zip(PROMPTS, rows):
        assert c.raw and c.raw.rstrip().endswith("```"), c.raw  # read up to the block's end, not beyond
        assert c.text.startswith("    ") and "```" not in c.text  # the function body, re-indented
        compile(prompt + c.text, "<completion>", "exec")
        assert c.num_tokens >= 3 and c.mean_logprob == pytest.approx(c.sum_logprob / c.num_tokens)


def test_a_server_that_ignores_n_is_named(llama):
    g = gen(llama, samples_per_request=2)
    with pytest.raises(
        ModelError,
        match=r"asked for n=2 samples, the server returned 1: it ignores 'n'.*"
        r"--codex-samples-per-request=1",
    ):
        g.generate(PROMPTS[:1], GenParams(n=2, temperature=0.8, max_new_tokens=4))


def test_wrong_model_name_and_wrong_port(llama):
    with pytest.raises(
        ServerRefused,
        match=rf"does not serve model 'gpt-4'; it serves 'smollm2': use e\.g\. "
        rf"--model=openai:smollm2@{llama.base_url}$",
    ):
        OpenAIGenerator("gpt-4", llama.base_url, policy=FAST).check_server()
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnavailable, match=r"cannot reach .*/v1/models: .*refused.*\(after 3 attempts\)"):
        OpenAIGenerator("smollm2", url, policy=FAST).check_server()


def test_a_server_without_log_probabilities(llama_without_logprobs):
    g = gen(llama_without_logprobs)
    ((c,),) = g.generate(PROMPTS[:1], GREEDY)
    assert c.text and c.sum_logprob is None and g.logprobs_supported is False
    strict = gen(llama_without_logprobs, need_logprobs=True)
    with pytest.raises(
        ModelError,
        match=r"gives no log-probabilities \(logprobs is not supported .*\); "
        r"ranking by log-probability needs them: .*--logits_all true",
    ):
        strict.generate(PROMPTS[:1], GREEDY)


def test_a_server_that_dies_mid_run_keeps_what_finished():
    server = LlamaServer().start()
    got = []
    try:
        g = gen(server, concurrency=1)
        with pytest.raises(
            ServerFailed,
            match=r"cannot reach .*/v1/completions.*\(after 3 attempts\); what "
            r"finished is kept in the completion store",
        ):
            for i, _comps in g.iter_generate(PROMPTS * 2, GenParams(n=1, max_new_tokens=4)):
                got.append(i)
                server.kill()
    finally:
        server.stop()
    # the finished request(s) came out before the error; the run did not get through
    assert got[0] == 0 and len(got) < 4
