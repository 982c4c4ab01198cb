"""How the transformers backend uses a GPU: pure functions, no torch.

Each decision of the GPU path is a function of a few numbers, so it is tested on any machine:

* ``auto_batch_size``: how many rows decode together, from the GPU memory left once the
  weights are loaded and the key/value cache one sequence needs;
* ``device_map_for``: where ``from_pretrained(..., device_map=...)`` puts the weights (one GPU,
  or spread over several when one cannot hold them and leave room for the cache);
* ``choose_attention``: the attention kernel of one loaded model (never by changing
  transformers' process-wide table);
* ``KVShape`` and ``safetensors_parameters``: what a model's cache and weights weigh.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GIB = 1 << 30

# -- batch size ------------------------------------------------------------------------------
RESERVE_FRACTION = 0.10  # of the free memory: allocator fragmentation, kernels' workspaces
RESERVE_BYTES = 1 * GIB  # fixed: the prefill of one prompt, cuBLAS/cuDNN workspaces, the CUDA context's growth
SLAB_CHUNK = 128  # tokens of room a cache slab keeps ahead of its rows (decoding.SlabLayer grows by this)
KV_SLACK = 1.10  # a rebuild of the batch (rows leave or join) holds one layer twice for a moment
# Bytes per row and vocabulary entry while a token is chosen: float32 logits, log-softmax and
# probabilities (4 + 4 + 4), the top-p order (int64, 8), the sorted probabilities (4), their
# float64 cumulative sum (8), masks and temporaries (~8).
SAMPLING_BYTES_PER_LOGIT = 40
MAX_AUTO_BATCH = 1024  # beyond this the per-row Python work of a step outgrows the GPU's
CPU_BATCH = 32


@dataclass(frozen=True)
class KVShape:
    """What one token costs in the key/value cache of a model."""

    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int

    @classmethod
    def of(cls, config, dtype_bytes: int) -> KVShape:
        """From a transformers config (any object with the usual attribute names)."""
        text = getattr(config, "text_config", None) or config
        heads = int(text.num_attention_heads)
        kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
        return cls(int(text.num_hidden_layers), kv_heads, head_dim, dtype_bytes)

    @property
    def bytes_per_token(self) -> int:
        """Keys and values, every layer: ``2 * layers * kv_heads * head_dim * dtype_bytes``."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


def row_bytes(*, kv_bytes_per_token: int, tokens_per_sequence: int, vocab_size: int, share: float = 1.0) -> int:
    """GPU memory one decoding row needs: its ``share`` of the key/value cache (the fraction of
    the layers on that GPU) for ``tokens_per_sequence`` tokens plus a slab's room, and the
    working memory of choosing its next token."""
    kv = share * kv_bytes_per_token * (tokens_per_sequence + SLAB_CHUNK) * KV_SLACK
    return int(kv + vocab_size * SAMPLING_BYTES_PER_LOGIT)


def auto_batch_size(
    *,
    free_bytes: Sequence[int],
    kv_bytes_per_token: int,
    tokens_per_sequence: int,
    vocab_size: int,
    layer_shares: Sequence[float] | None = None,
    cap: int = MAX_AUTO_BATCH,
) -> int:
    """Rows that fit in the GPU memory left after loading the weights.

    ``free_bytes``: per GPU holding the model, the bytes free after loading (free plus what
    torch's allocator holds unused); ``layer_shares``: the fraction of the layers (hence of
    the cache) on each GPU (default: all on one).  Per GPU, the usable memory is
    ``free * (1 - RESERVE_FRACTION) - RESERVE_BYTES``; the batch is the smallest
    ``usable // row_bytes`` over the GPUs (every GPU counts the sampling memory:
    conservative), at least 1 and at most ``cap``.  ``tokens_per_sequence`` is the longest
    prompt plus the token budget: rows are left-padded to the longest row of the batch.
    """
    shares = list(layer_shares) if layer_shares is not None else [1.0] * len(free_bytes)
    if len(shares) != len(free_bytes) or not shares:
        raise ValueError("auto_batch_size: give one layer share per GPU")
    best = cap
    for free, share in zip(free_bytes, shares):
        usable = free * (1 - RESERVE_FRACTION) - RESERVE_BYTES
        per_row = row_bytes(
            kv_bytes_per_token=kv_bytes_per_token,
            tokens_per_sequence=tokens_per_sequence,
            vocab_size=vocab_size,
            share=share,
        )
        best = min(best, int(usable // per_row) if usable > 0 else 0)
    return max(1, best)


def gpu_layer_shares(placement: Mapping[str, object]) -> dict[str, float]:
    """Each GPU's share of the decoder layers, from a model's ``hf_device_map`` (module name ->
    device: an int, ``"cuda:N"``, a ``torch.device``; ``"cpu"`` and ``"disk"`` are not GPUs).
    A whole model on one device (``{"": device}``) is all of its layers; a GPU holding only,
    say, the embeddings gets a share of 0 (its memory still bounds the batch: sampling)."""
    counts: dict[str, int] = {}
    for name, where in placement.items():
        device = f"cuda:{where}" if isinstance(where, int) else str(where)
        if device == "cuda":
            device = "cuda:0"
        if not device.startswith("cuda"):
            continue
        counts[device] = counts.get(device, 0) + (name == "" or ".layers." in f".{name}.")
    total = sum(counts.values()) or 1
    return {device: count / total for device, count in counts.items()}


# -- where the weights go --------------------------------------------------------------------
ONE_GPU_FRACTION = 0.5  # weights up to this fraction of a GPU's free memory stay on that GPU


def device_map_for(device: str, free_bytes: Sequence[int], weight_bytes: int) -> str | dict | None:
    """The ``device_map`` for ``from_pretrained``: None on the CPU; ``{"": "cuda:N"}`` for an
    explicit GPU; for ``cuda`` (any GPU), the GPU with the most free memory when the weights
    take at most ``ONE_GPU_FRACTION`` of it (the rest holds the cache: layers spread over
    GPUs run one after the other, so spreading buys memory, not speed), else ``"auto"``
    (accelerate spreads the layers over every GPU)."""
    if not device.startswith("cuda"):
        return None
    if device != "cuda":
        return {"": device}
    if not free_bytes:
        raise ValueError("device_map_for: no GPU")
    best = max(range(len(free_bytes)), key=lambda i: (free_bytes[i], -i))
    if len(free_bytes) == 1 or weight_bytes <= ONE_GPU_FRACTION * free_bytes[best]:
        return {"": f"cuda:{best}"}
    return "auto"


# -- attention -------------------------------------------------------------------------------
CODEX_ATTENTION = "pytest_codex_sdpa"  # decode_kernels.decode_attention, registered under its own name


def choose_attention(device_type: str, loaded: str, codex_available: bool) -> str:
    """The attention implementation for one loaded model.

    ``loaded`` is what transformers chose when loading it (``sdpa`` where the model supports it,
    else ``eager``, or what its config asks for); a model not on ``sdpa`` keeps its choice.  On
    the CPU, this package's one-token kernel (``decode_kernels.decode_attention``: grouped-query
    attention as two matrix products on the cache as it is, measured 1.33-1.36x the stock
    decoding rate on CPU; prompts still go to the stock ``sdpa``), when this transformers can
    register it.  On a GPU, ``sdpa``: PyTorch dispatches it to its FlashAttention kernel for a
    prompt (causal, no mask) and to its memory-efficient kernel for the padded one-token steps.
    """
    if loaded != "sdpa":
        return loaded
    if device_type == "cpu" and codex_available:
        return CODEX_ATTENTION
    return "sdpa"


# -- weights ---------------------------------------------------------------------------------
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}


def safetensors_parameters(path: str) -> int:
    """Parameters in one ``.safetensors`` file, from its JSON header (nothing else is read)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    count = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        n = 1
        for dim in info["shape"]:
            n *= int(dim)
        count += n
    return count


def weight_bytes(model_dir: str, dtype_bytes: int) -> int:
    """What the weights of a model directory weigh once loaded in a ``dtype_bytes`` dtype:
    parameters from the safetensors headers; other formats by file size (an upper bound)."""
    total = 0
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if name.endswith(".safetensors"):
            total += safetensors_parameters(path) * dtype_bytes
        elif name.endswith((".bin", ".pt", ".pth")):
            total += os.path.getsize(path)
    return total
