"""Key/value-cache plumbing for the decoder, a faster attention for one-token steps on the
CPU, and the slab cache layer of the GPU path.

In transformers before the ``pack_gqa`` path of its ``sdpa`` attention, a one-token decoding
step repeats every key/value head for its query heads before attention (a copy of the whole
cache per layer and step).  ``decode_attention`` computes grouped-query attention for
one-token queries as two batched matrix products on the cache as it is; anything else goes to
the stock ``sdpa``.  It is registered under a name of its own (``gpu.CODEX_ATTENTION``) and a
model uses it only when ``use_attention`` switches that model to it: transformers'
process-wide ``sdpa`` entry is never replaced.  Measured with SmolLM2-135M (bfloat16, 1
thread, 6 prompts x 5 samples of 48 tokens, one process, A/B twice): 1.33-1.36x the stock
decoding rate.

``SlabLayer`` keeps a layer's keys and values in buffers with room ahead, so that a step
writes in place instead of concatenating.  Measured on the CPU, pre-allocated buffers were
slower than concatenation, so the CPU keeps transformers' ``DynamicLayer``; the GPU path uses
slabs (see ``gpu.py`` and ``hf.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pytest_codex.models.gpu import CODEX_ATTENTION, SLAB_CHUNK


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
        return _stock_sdpa()(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else dim**-0.5
    q = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale  # (batch, kv_heads, group, length)
    if mask is not None:
        mask = mask.reshape(batch, 1, 1, length)
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (batch, kv_heads, group, dim)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def _stock_sdpa():
    from transformers.modeling_utils import (
        ALL_ATTENTION_FUNCTIONS,  # lazy: transformers loads only in the generating process, when a model runs
    )

    return ALL_ATTENTION_FUNCTIONS["sdpa"]


def register_decode_attention() -> bool:
    """Make ``decode_attention`` available under its own name, ``gpu.CODEX_ATTENTION``, in
    transformers' attention and mask interfaces (the mask is the stock ``sdpa`` one).  A model
    uses it only when asked (``use_attention``); the stock ``sdpa`` entry stays as it is.  False
    when this transformers has no such interfaces."""
    try:
        from transformers.masking_utils import (  # lazy: transformers loads only in the generating process, when a model runs
            AttentionMaskInterface,
            sdpa_mask,
        )
        from transformers.modeling_utils import (
            AttentionInterface,  # lazy: transformers loads only in the generating process, when a model runs
        )
    except ImportError:
        return False
    AttentionInterface.register(CODEX_ATTENTION, decode_attention)
    AttentionMaskInterface.register(CODEX_ATTENTION, sdpa_mask)
    return True


def use_attention(model, name: str) -> str:
    """Switch one loaded model to the attention implementation ``name`` (its own config only;
    no process-wide table changes); returns the implementation it uses afterwards."""
    current = getattr(model.config, "_attn_implementation", None)
    if name == current:
        return name
    setter = getattr(model, "set_attn_implementation", None)
    if setter is None:  # older transformers: the config is read at every forward
        model.config._attn_implementation = name
    else:
        setter(name)
    return model.config._attn_implementation


# -- slabs: a cache layer written in place ---------------------------------------------------
try:
    from transformers.cache_utils import DynamicLayer as _LayerBase
except ImportError:  # transformers before per-layer caches (< 4.56): no slabs
    _LayerBase = object  # type: ignore[misc,assignment]

SLABS = _LayerBase is not object


class SlabLayer(_LayerBase):
    """A full-attention cache layer whose keys and values live in buffers with room ahead of
    the rows: a decoding step writes its token in place.  (``DynamicLayer`` concatenates: a
    copy of the whole layer at every step, which on a GPU costs more memory traffic than the
    attention itself.)  The buffer grows by ``gpu.SLAB_CHUNK`` tokens when full; the rows are
    left-padded with zeros to one length (the attention mask hides the padding)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        super().__init__()
        self.adopt(keys, values, length)

    def adopt(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        self._kbuf, self._vbuf, self._length = keys, values, length
        self.keys, self.values = keys[:, :, :length], values[:, :, :length]
        self.device, self.dtype, self.is_initialized = keys.device, keys.dtype, True

    @property
    def capacity(self) -> int:
        return self._kbuf.shape[2]

    def lazy_initialization(self, key_states, value_states) -> None:  # never empty: built from tensors
        return None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n, q = self._length, key_states.shape[-2]
        if n + q > self.capacity:
            self._kbuf, self._vbuf = (
                _grown(self._kbuf, n, n + q + SLAB_CHUNK),
                _grown(self._vbuf, n, n + q + SLAB_CHUNK),
            )
        self._kbuf[:, :, n : n + q] = key_states
        self._vbuf[:, :, n : n + q] = value_states
        self.adopt(self._kbuf, self._vbuf, n + q)
        return self.keys, self.values


def _grown(buf: torch.Tensor, used: int, capacity: int) -> torch.Tensor:
    out = buf.new_empty((buf.shape[0], buf.shape[1], capacity, buf.shape[3]))
    out[:, :, :used] = buf[:, :, :used]
    return out
