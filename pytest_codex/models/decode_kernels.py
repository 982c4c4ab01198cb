"""Key/value-cache plumbing for the decoder, and a faster attention for one-token steps.

In stock transformers a one-token decoding step on CPU repeats every key/value head for
its query heads before attention (a copy of the whole cache per layer and step).
``decode_attention`` (installed by ``fast_attention()`` for the duration of a decode)
computes grouped-query attention for one-token queries as two batched matrix products on
the cache as it is; anything else goes to the stock implementation.  Measured with
SmolLM2-135M (bfloat16, 1 thread, 6 prompts x 5 samples of 48 tokens, one process, A/B
twice): 1.33-1.36x the stock decoding rate.  Pre-allocated cache buffers written in place,
tried as well, were slower there and are not used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch


def kv_of(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def set_kv(cache, kv: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Give the cache these keys/values (one (keys, values) pair per layer)."""
    if hasattr(cache, "layers"):
        for layer, (k, v) in zip(cache.layers, kv):
            layer.keys, layer.values = k, v
    else:  # older transformers
        cache.key_cache[:] = [k for k, _ in kv]
        cache.value_cache[:] = [v for _, v in kv]


def plain_layers(cache) -> bool:
    """True when every layer is a full-attention cache (left padding and merging are safe)."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        return type(cache).__name__ == "DynamicCache"
    return all(type(layer).__name__ == "DynamicLayer" for layer in layers)


def pad_left(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def decode_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Attention for a one-token query: queries grouped by their key/value head."""
    batch, heads, q_len, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    unsupported = (
        q_len != 1
        or dropout
        or heads % kv_heads
        or any(kwargs.get(k) is not None for k in ("softcap", "sliding_window", "s_aux", "position_bias"))
    )
    mask = attention_mask
    if mask is not None and (mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-1] != length):
        unsupported = True
    if unsupported:
        return _STOCK["sdpa"](module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else dim**-0.5
    q = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale  # (batch, kv_heads, group, length)
    if mask is not None:
        mask = mask.reshape(batch, 1, 1, length)
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (batch, kv_heads, group, dim)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


_STOCK: dict = {}


@contextlib.contextmanager
def fast_attention():
    """``decode_attention`` in place of transformers' sdpa attention, restored afterwards."""
    try:
        from transformers.modeling_utils import (
            ALL_ATTENTION_FUNCTIONS as functions,  # lazy: transformers loads only in the generating process, when a model runs
        )

        stock = functions["sdpa"]
    except (ImportError, KeyError):  # too old to have the interface: stock attention
        yield
        return
    if stock is decode_attention:  # already installed (nested decode)
        yield
        return
    _STOCK["sdpa"] = stock
    functions["sdpa"] = decode_attention  # the interface's own (local) override
    try:
        yield
    finally:
        functions["sdpa"] = stock
