"""Tiny real models for the model tests: random weights from a small config, saved to a
directory and loaded through ``--model=hf:<dir>`` (no hub, no download).

The tokenizer is a byte-level BPE trained here on HumanEval's prompts (a few hundred
tokens), so generated text is code-like and stop sequences do occur.
"""

from __future__ import annotations

import os

# Imported when this module is (at collection), never first inside a test: pytester drops the
# modules a test imported from sys.modules when the test ends, and torch.distributed (which
# building, saving and loading a model import on first use) cannot be imported twice into one
# process.  A test that imports them first under pytester breaks every later model test of
# its xdist worker.
try:
    import torch.distributed.fsdp  # noqa: F401  (transformers' save_pretrained, through accelerate)
    import transformers.modeling_utils  # noqa: F401
except ImportError:  # no transformers: the model tests skip themselves
    pass

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def humaneval_prompts() -> list[str]:
    from pytest_codex.core.problems import load_suite

    return [p.prompt for p in load_suite("humaneval").problems]


def build_tokenizer(vocab_size: int = 400, chat: bool = False, metaspace: bool = False):
    """Byte-level BPE (GPT-2 style); ``metaspace=True``: SentencePiece style, whose decoder
    drops the space at the start of a decode (the leading-space pitfall)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>" if metaspace else None))
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        alphabet = sorted(set("".join(humaneval_prompts())) | {"\u2581"})
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=alphabet)
    tok.train_from_iterator(humaneval_prompts(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    if chat:
        fast.chat_template = CHATML
        fast.eos_token = "<|im_end|>"
    return fast


def build_model(
    path: str,
    *,
    chat: bool = False,
    metaspace: bool = False,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 64,
    init: float = 0.2,
    vocab_size: int = 400,
) -> str:
    """Save a random tiny Llama (and its tokenizer) to ``path``; return ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(vocab_size, chat, metaspace)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        initializer_range=init,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_model(tmp_path_factory, **kwargs) -> str:
    """A tiny model directory, built once per session (per xdist worker) for these settings."""
    name = "-".join(["tiny"] + [f"{k}{v}" for k, v in sorted(kwargs.items())])
    path = tmp_path_factory.getbasetemp() / name
    if not (path / "config.json").exists():
        build_model(str(path), **kwargs)
    return str(path)
