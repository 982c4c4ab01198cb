"""The continuous-batching decoder, on real tiny transformers models (random weights)."""

from __future__ import annotations

import pytest

from pytest_codex.models import prompts
from pytest_codex.models.prompts import find_stop

from models_support import humaneval_prompts, tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pytest_codex.models.decoding import Decoder, Job  # noqa: E402  (imports torch: after importorskip)

PROMPTS = humaneval_prompts()[:10]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: torch's threads only add waiting on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tiny_model(tmp_path_factory)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    return model, tok


def stop_rule(stops):
    return prompts.stop_rule(prompts.COMPLETION, stops)


def decode(
    model,
    tok,
    *,
    batch_size=4,
    temperature=0.0,
    top_p=1.0,
    n=1,
    stops=("\n\n",),
    max_new=24,
    prompts=PROMPTS,
    reverse=False,
    cache="dynamic",
    compact_at=1,
):
    dec = Decoder(
        model,
        tok,
        device="cpu",
        batch_size=batch_size,
        eos_ids=[tok.eos_token_id],
        stop_rule=stop_rule(stops),
        temperature=temperature,
        top_p=top_p,
        cache=cache,
        compact_at=compact_at,
    )
    jobs = [
        Job(
            key=i,
            input_ids=tok(p)["input_ids"],
            indices=list(range(n)),
            seeds={j: 7919 * i + j for j in range(n)},
            max_new_tokens=max_new,
        )
        for i, p in enumerate(prompts)
    ]
    out = {(f.key, f.index): f for f in dec.run(jobs[::-1] if reverse else jobs)}
    assert len(out) == len(prompts) * n
    return dec, out


def test_greedy_matches_transformers_generate_one_prompt_at_a_time(tiny):
    model, tok = tiny
    _, out = decode(model, tok, batch_size=4, stops=("\x00never",), max_new=20)
    for (key, _), fin in out.items():
        ids = tok(PROMPTS[key], return_tensors="pt")["input_ids"]
        ref = model.generate(
            ids, max_new_tokens=20, do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id
        )[0, ids.shape[1] :].tolist()
        ref = [t for t in ref if t != tok.eos_token_id]
        assert fin.token_ids == ref[: len(fin.token_ids)] and len(fin.token_ids) == len(ref)


def test_samples_do_not_depend_on_batch_size_or_order(tiny):
    model, tok = tiny
    _, small = decode(model, tok, batch_size=2, temperature=0.8, n=3)
    _, large = decode(model, tok, batch_size=16, temperature=0.8, n=3, reverse=True)
    assert {k: f.text for k, f in small.items()} == {k: f.text for k, f in large.items()}
    texts = {f.text for (key, _), f in small.items() if key == 0}
    assert len(texts) > 1  # the three samples of a prompt differ: their seeds differ


def test_a_tiny_top_p_keeps_only_the_most_likely_token(tiny):
    model, tok = tiny
    _, greedy = decode(model, tok)
    _, nucleus = decode(model, tok, temperature=1.5, top_p=1e-9, n=2)
    assert all(nucleus[(k, i)].text == greedy[(k, 0)].text for k, i in nucleus)


def test_stops_cut_exactly_and_log_probabilities_cover_the_kept_tokens(tiny):
    model, tok = tiny
    stops = ("e", "\n")  # frequent in this tokenizer's output: many rows stop early, at different steps
    _, out = decode(model, tok, temperature=1.0, n=2, stops=stops)
    reasons = {f.reason for f in out.values()}
    assert "stop" in reasons
    for (key, _), fin in out.items():
        cut = find_stop(fin.raw, stops)
        assert fin.text == (fin.raw if cut is None else fin.raw[:cut])
        assert fin.reason != "stop" or cut is not None
        # the kept tokens decode to the kept text (and not much more), with the prompt's last token as anchor
        prompt_ids = tok(PROMPTS[key])["input_ids"]
        anchor = tok.decode(prompt_ids[-1:], skip_special_tokens=True)
        kept_text = tok.decode(prompt_ids[-1:] + fin.token_ids, skip_special_tokens=True)[len(anchor) :]
        assert kept_text.startswith(fin.text)
        if fin.token_ids:
            shorter = tok.decode(prompt_ids[-1:] + fin.token_ids[:-1], skip_special_tokens=True)[len(anchor) :]
            assert len(shorter) < len(fin.text) or not fin.text
        # log-probabilities recomputed in one forward pass over prompt + kept tokens
        ids = torch.tensor([prompt_ids + fin.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float(), -1)
        expected = sum(float(logp[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(fin.token_ids))
        assert fin.sum_logprob == pytest.approx(expected, abs=1e-3)
        assert fin.num_tokens == len(fin.token_ids)


def test_stopped_rows_cost_no_more_compute(tiny):
    """Every decoding step feeds only rows still running: the tokens computed are exactly
    the tokens chosen after each row's first (which comes from reading the prompt)."""
    model, tok = tiny
    dec, out = decode(model, tok, batch_size=8, temperature=1.0, n=3, stops=("e",), max_new=30)
    assert dec.computed_tokens == sum(f.generated - 1 for f in out.values())
    lengths = sorted(f.generated for f in out.values())
    assert lengths[0] < lengths[-1]  # rows stopped at different steps
    static = len(lengths) * lengths[-1]  # what a static batch would have computed
    assert dec.computed_tokens < static


def test_leading_spaces_survive_a_tokenizer_that_drops_them(tmp_path_factory):
    """SentencePiece-style decoders drop the space of the first token of a decode; the
    decoder anchors on the prompt's last token, so code keeps its indentation."""
    path = tiny_model(tmp_path_factory, metaspace=True)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    prompts = humaneval_prompts()[:30]
    _, out = decode(model, tok, temperature=1.0, n=2, stops=("\x00never",), max_new=6, prompts=prompts)
    pitfalls = 0
    for (key, _), fin in out.items():
        prompt_ids = tok(prompts[key])["input_ids"]
        whole = tok.decode(prompt_ids + fin.token_ids, skip_special_tokens=True)
        truth = whole[len(tok.decode(prompt_ids, skip_special_tokens=True)) :]
        assert fin.text == truth
        pitfalls += truth.startswith(" ") and not tok.decode(fin.token_ids).startswith(" ")
    assert pitfalls > 0  # the pitfall really occurred in this test


def test_token_budget_and_context_length(tiny):
    model, tok = tiny
    _, out = decode(model, tok, stops=("\x00never",), max_new=5)
    assert all(f.generated <= 5 for f in out.values())
    dec = Decoder(
        model,
        tok,
        device="cpu",
        batch_size=2,
        eos_ids=[tok.eos_token_id],
        stop_rule=stop_rule(("\x00never",)),
        temperature=0.0,
        top_p=1.0,
        max_positions=len(tok(PROMPTS[0])["input_ids"]) + 3,
    )
    (fin,) = dec.run([Job(key=0, input_ids=tok(PROMPTS[0])["input_ids"], indices=[0], seeds={0: 1}, max_new_tokens=50)])
    assert fin.generated <= 3 and fin.reason == "length"


# -- slabs (the GPU path's cache, tested here on the CPU) ---------------------------------------
def test_slab_cache_and_late_compaction_give_the_same_samples(tiny):
    """The slab cache (steps write in place, the batch is rebuilt only when rows join or
    leave) with finished rows left in the batch until 3 have finished: the same samples, the
    same log-probabilities and the same running-row compute as the dynamic cache."""
    model, tok = tiny
    common = dict(batch_size=8, temperature=1.0, n=3, stops=("e", "\n"), max_new=30)
    dyn, ref = decode(model, tok, **common)
    slab, out = decode(model, tok, cache="slab", compact_at=3, **common)
    assert {k: (f.text, f.token_ids) for k, f in out.items()} == {k: (f.text, f.token_ids) for k, f in ref.items()}
    assert all(out[k].sum_logprob == pytest.approx(ref[k].sum_logprob, abs=1e-4) for k in ref)
    assert slab.computed_tokens == dyn.computed_tokens == sum(f.generated - 1 for f in out.values())
    assert dyn.idle_tokens == 0 < slab.idle_tokens  # finished rows waited for a rebuild ...
    assert slab.rebuilds < dyn.rebuilds  # ... so the batch was rebuilt less often
    _, greedy_ref = decode(model, tok, stops=("\x00never",), max_new=20)
    _, greedy = decode(model, tok, stops=("\x00never",), max_new=20, cache="slab", compact_at=2)
    assert {k: f.token_ids for k, f in greedy.items()} == {k: f.token_ids for k, f in greedy_ref.items()}


def test_a_slab_layer_grows_in_place_and_matches_concatenation():
    from pytest_codex.models.decode_kernels import SlabLayer
    from pytest_codex.models.gpu import SLAB_CHUNK

    gen = torch.Generator().manual_seed(0)
    keys, values = torch.randn(3, 2, 5, 4, generator=gen), torch.randn(3, 2, 5, 4, generator=gen)
    kbuf, vbuf = torch.zeros(3, 2, 7, 4), torch.zeros(3, 2, 7, 4)
    kbuf[:, :, :5], vbuf[:, :, :5] = keys, values
    layer = SlabLayer(kbuf, vbuf, 5)
    for step in range(4):  # the third step outgrows the 7 places
        k, v = torch.randn(3, 2, 1, 4, generator=gen), torch.randn(3, 2, 1, 4, generator=gen)
        got_k, got_v = layer.update(k, v, 0)
        keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
        assert torch.equal(got_k, keys) and torch.equal(got_v, values)
        assert layer.get_seq_length() == 6 + step
    assert layer.capacity == 8 + SLAB_CHUNK  # grown once, with room for SLAB_CHUNK more tokens
    assert layer._kbuf.data_ptr() == layer.keys.data_ptr()  # the keys are a view of the slab


def test_the_codex_attention_kernel_is_chosen_per_model_and_decodes_like_sdpa(tmp_path_factory, monkeypatch):
    """decode_attention, registered under its own name, used by one model only: the stock
    ``sdpa`` entry of transformers' table is untouched and another model keeps it."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from pytest_codex.models import decode_kernels
    from pytest_codex.models.decode_kernels import decode_attention, register_decode_attention, use_attention
    from pytest_codex.models.gpu import CODEX_ATTENTION

    handed_over = []  # query lengths decode_attention handed to the stock sdpa
    stock_sdpa = decode_kernels._stock_sdpa
    monkeypatch.setattr(
        decode_kernels,
        "_stock_sdpa",
        lambda: lambda m, q, *a, **kw: handed_over.append(q.shape[2]) or stock_sdpa()(m, q, *a, **kw),
    )

    path = tiny_model(tmp_path_factory)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    stock = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    fast = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    sdpa_before = ALL_ATTENTION_FUNCTIONS["sdpa"]
    assert register_decode_attention()
    assert use_attention(fast, CODEX_ATTENTION) == CODEX_ATTENTION
    assert ALL_ATTENTION_FUNCTIONS["sdpa"] is sdpa_before is not decode_attention
    assert stock.config._attn_implementation == "sdpa"
    _, ref = decode(stock, tok, temperature=0.8, n=2, stops=("\x00never",), max_new=16)
    assert not handed_over  # the stock model never went through decode_attention
    _, out = decode(fast, tok, temperature=0.8, n=2, stops=("\x00never",), max_new=16)
    assert handed_over and all(q > 1 for q in handed_over)  # prompts only: every step ran the kernel
    assert {k: f.token_ids for k, f in out.items()} == {k: f.token_ids for k, f in ref.items()}
    assert all(out[k].sum_logprob == pytest.approx(ref[k].sum_logprob, abs=1e-3) for k in ref)


@pytest.mark.parametrize("metaspace", [False, True], ids=["bytelevel", "metaspace"])
def test_batched_text_decoding_gives_what_decode_gives(tmp_path_factory, metaspace):
    """The decoder turns every row's window into text with one batched call per step; it must
    give exactly ``tokenizer.decode`` (special tokens skipped, partial UTF-8 as U+FFFD)."""
    from pytest_codex.models.decoding import text_decoder

    tok = transformers.AutoTokenizer.from_pretrained(tiny_model(tmp_path_factory, metaspace=metaspace))
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, len(tok), (int(n),), generator=gen).tolist() for n in torch.randint(0, 9, (300,))]
    seqs += [tok(p)["input_ids"][:k] for p in PROMPTS for k in (1, 5, 12)]
    assert text_decoder(tok)(seqs) == [tok.decode(s, skip_special_tokens=True) for s in seqs]
    assert any("\ufffd" in t for t in text_decoder(tok)(seqs)) or metaspace  # byte-level: partial characters
