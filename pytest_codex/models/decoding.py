"""Batched decoding for causal language models in transformers (continuous batching).

Every prompt is read once (one forward pass over its tokens); its ``n`` samples start as
copies of that key/value cache.  Up to ``batch_size`` rows decode together, left-padded to
a common cache length, each with its own position ids.  A row stops at a stop rule, an
end-of-sequence token or its token budget; waiting samples take the free places once an
eighth of the batch is free.  With ``compact_at=1`` (the CPU) a stopped row leaves the batch
at once and costs no more compute; with a larger ``compact_at`` (the GPU) stopped rows stay,
fed but ignored, until that many have stopped, and the batch is rebuilt once for all of them
(and for the rows that join): a rebuild copies the whole cache, a step of a stopped row costs
far less.  The cache is transformers' ``DynamicCache`` (``cache="dynamic"``) or
``decode_kernels.SlabLayer`` buffers written in place (``cache="slab"``).

Per row: its own random stream seeded from (seed, prompt, sample index), so a sample does
not depend on which other rows share its batch; greedy decoding when the temperature is
0; nucleus (top-p) sampling; the log-probability of every chosen token under the model
(temperature 1); text decoded incrementally with the last prompt token as an anchor, so
leading spaces survive tokenizers that drop them at the start of a decode.
"""

from __future__ import annotations

import inspect
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from pytest_codex.models.decode_kernels import (
    SLABS,
    SlabLayer,
    kv_of,
    pad_left,
    plain_layers,
    set_kv,
)
from pytest_codex.models.gpu import SLAB_CHUNK

StopRule = Callable[[str, int], "int | None"]  # (text, first new char) -> cut index or None


@dataclass
class Job:
    key: int  # the caller's id for the prompt
    input_ids: list[int]
    indices: list[int]  # sample indices still to start
    seeds: dict[int, int]  # sample index -> seed
    max_new_tokens: int
    kv: list | None = None  # the prompt's cache tensors once read
    logits: torch.Tensor | None = None  # next-token logits after the prompt


@dataclass
class Finished:
    key: int
    index: int
    text: str  # cut at the stop
    raw: str  # everything decoded
    token_ids: list[int]
    num_tokens: int  # tokens that begin before the cut
    sum_logprob: float
    reason: str  # stop, eos, length
    generated: int  # tokens chosen, an end-of-sequence token included


@dataclass
class _Row:
    job: Job
    index: int
    rng: random.Random
    pos: int  # position id of the next token fed
    budget: int
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    text: str = ""
    window: list[int] = field(default_factory=list)  # anchor + ids, for incremental decoding
    prefix_offset: int = 0
    read_offset: int = 1
    done: bool = False  # finished; its place in the batch is freed at the next rebuild


def text_decoder(tok) -> Callable[[list[list[int]]], list[str]]:
    """Token-id lists to texts (special tokens skipped), all in one call: the Rust tokenizer's
    ``decode_batch`` where it gives what ``tok.decode`` gives (a fast tokenizer without
    transformers' clean-up of spaces), else ``tok.decode`` one by one."""
    batch = getattr(getattr(tok, "_tokenizer", None), "decode_batch", None)
    if batch is not None and not getattr(tok, "clean_up_tokenization_spaces", False):
        return lambda seqs: batch(seqs, skip_special_tokens=True)
    return lambda seqs: [tok.decode(s, skip_special_tokens=True) for s in seqs]


class Decoder:
    """Decodes jobs with a transformers causal LM; ``run`` yields rows as they finish."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        device,
        batch_size: int,
        eos_ids: Sequence[int],
        stop_rule: StopRule,
        temperature: float,
        top_p: float,
        max_positions: int | None = None,
        admit_fraction: float = 0.125,
        cache: str = "dynamic",
        compact_at: int = 1,
    ) -> None:
        """``cache``: ``dynamic`` (transformers' cache: every step concatenates) or ``slab``
        (``SlabLayer``: steps write in place; the batch is rebuilt only when rows join or
        leave).  ``compact_at``: finished rows that stay in the batch (fed, their output
        ignored) until it is rebuilt without them; 1 = at once.  ``admit_fraction``: waiting
        samples join once that fraction of the batch is free."""
        from transformers import (
            DynamicCache,  # lazy: transformers loads only in the generating process, when a model runs
        )

        self.model, self.tok, self.device = model, tokenizer, device
        self.batch_size = max(1, batch_size)
        self.eos = set(int(i) for i in eos_ids)
        self.stop_rule, self.temperature, self.top_p = stop_rule, temperature, top_p
        self.max_positions = max_positions
        self.admit_at = max(1, int(self.batch_size * admit_fraction))
        self._cache_cls = DynamicCache
        self._decode = text_decoder(tokenizer)
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
        if cache not in ("dynamic", "slab"):
            raise ValueError(f"cache={cache!r}: use 'dynamic' or 'slab'")
        self.cache_mode = cache
        self.compact_at = max(1, compact_at)
        self.computed_tokens = 0  # tokens of running rows fed to the model while decoding (not prompts)
        self.idle_tokens = 0  # tokens fed for finished rows still in the batch (compact_at > 1)
        self.rebuilds = 0  # times the batch's cache was rebuilt (rows joined or left)
        self._shell: DynamicCache | None = None  # the first prompt's cache object, reused to hold the batch's tensors
        self._mergeable = True  # False for caches that cannot be left-padded (sliding windows)

    # -- model calls --------------------------------------------------------------------------
    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, cache, mask: torch.Tensor | None):
        kwargs = {self._cache_kw: cache, "use_cache": True, "position_ids": positions}
        if mask is not None:
            kwargs["attention_mask"] = mask
        if self._keep_kw:
            kwargs[self._keep_kw] = 1
        return self.model(input_ids=ids, **kwargs).logits[:, -1, :].float()

    def _read_prompt(self, job: Job) -> None:
        ids = torch.tensor([job.input_ids], device=self.device)
        positions = torch.arange(ids.shape[1], device=self.device)[None]
        cache = self._cache_cls()
        job.logits = self._forward(ids, positions, cache, None)[0]
        job.kv = kv_of(cache)
        self._shell = self._shell if self._shell is not None else cache
        self._mergeable = self._mergeable and plain_layers(cache)

    # -- sampling -------------------------------------------------------------------------------
    def _choose(self, logits: torch.Tensor, rows: Sequence[_Row]) -> tuple[list[int], list[float]]:
        logp = torch.log_softmax(logits, dim=-1)
        if self.temperature == 0:
            chosen = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            if self.top_p < 1.0:  # sorted by logit: ties in probability keep argmax's order
                order = logits.argsort(dim=-1, descending=True, stable=True)
                probs = probs.gather(-1, order)
                before = probs.cumsum(dim=-1) - probs
                probs = probs.masked_fill(before >= self.top_p, 0.0)
            cdf = probs.double().cumsum(dim=-1)
            u = torch.tensor([r.rng.random() for r in rows], dtype=cdf.dtype, device=cdf.device)[:, None]
            picks = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=cdf.shape[-1] - 1)
            while True:  # rounding at the top of the cdf: step back to a token that can be chosen
                zero = probs.gather(-1, picks) == 0
                if not bool(zero.any()):
                    break
                picks = torch.where(zero, (picks - 1).clamp(min=0), picks)
            chosen = (order.gather(-1, picks) if self.top_p < 1.0 else picks)[:, 0]
        lp = logp.gather(-1, chosen[:, None])[:, 0]
        return chosen.tolist(), lp.tolist()

    # -- rows -----------------------------------------------------------------------------------
    def _new_row(self, job: Job, index: int) -> _Row:
        budget = job.max_new_tokens
        if self.max_positions:
            budget = max(0, min(budget, self.max_positions - len(job.input_ids)))
        anchor = job.input_ids[-1:]
        return _Row(
            job=job,
            index=index,
            rng=random.Random(job.seeds[index]),
            pos=len(job.input_ids),
            budget=budget,
            window=list(anchor),
            read_offset=len(anchor),
        )

    def _advance(self, rows: Sequence[_Row], tokens: Sequence[int], logprobs: Sequence[float]) -> list[Finished | None]:
        """Append one token to each row; per row, a Finished when it is done.  The rows' new
        text comes from two batched decodes (one for all windows' read parts, one for the
        whole windows) instead of two decodes per row."""
        out: list[Finished | None] = [None] * len(rows)
        active = []
        for i, (row, token, logprob) in enumerate(zip(rows, tokens, logprobs)):
            if token in self.eos:
                out[i] = self._finish(row, None, "eos")
                continue
            row.ids.append(token)
            row.logprobs.append(logprob)
            row.window.append(token)
            active.append(i)
        if not active:
            return out
        prefixes = self._decode([rows[i].window[rows[i].prefix_offset : rows[i].read_offset] for i in active])
        fulls = self._decode([rows[i].window[rows[i].prefix_offset :] for i in active])
        for i, prefix, full in zip(active, prefixes, fulls):
            row = rows[i]
            before = len(row.text)
            if len(full) > len(prefix) and not full.endswith("\ufffd"):
                row.text += full[len(prefix) :]
                row.prefix_offset, row.read_offset = row.read_offset, len(row.window)
                if row.prefix_offset > 8:  # keep the window short
                    row.window = row.window[row.prefix_offset - 4 :]
                    row.read_offset -= row.prefix_offset - 4
                    row.prefix_offset = 4
            cut = self.stop_rule(row.text, before) if len(row.text) > before else None
            if cut is not None:
                out[i] = self._finish(row, cut, "stop")
            elif len(row.ids) >= row.budget:
                out[i] = self._finish(row, None, "length")
        return out

    def _finish(self, row: _Row, cut: int | None, reason: str) -> Finished:
        text = row.text if cut is None else row.text[:cut]
        kept = len(row.ids) if cut is None else self._tokens_for(row, cut)
        return Finished(
            key=row.job.key,
            index=row.index,
            text=text,
            raw=row.text,
            token_ids=row.ids[:kept],
            num_tokens=kept,
            sum_logprob=float(sum(row.logprobs[:kept])),
            reason=reason,
            generated=len(row.ids) + (reason == "eos"),
        )

    def _tokens_for(self, row: _Row, chars: int) -> int:
        """The fewest leading tokens whose text covers ``chars`` characters (binary search)."""
        anchor = row.job.input_ids[-1:]
        base = len(self.tok.decode(anchor, skip_special_tokens=True))
        lo, hi = 0, len(row.ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if len(self.tok.decode(anchor + row.ids[:mid], skip_special_tokens=True)) - base >= chars:
                hi = mid
            else:
                lo = mid + 1
        return lo

    # -- the loop -------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> Iterator[Finished]:
        queue = deque(sorted(jobs, key=lambda j: len(j.input_ids)))
        rows: list[_Row] = []  # a finished row keeps its place (done) until the batch is rebuilt
        last: list[int] = []  # the token each row feeds next
        mask: torch.Tensor | None
        cache, mask, live = None, None, 0
        with torch.inference_mode():
            while queue or live:
                dead = len(rows) - live
                free = self.batch_size - live
                new_rows: list[_Row] = []
                new_kv: list[tuple[list, int]] = []
                if queue and (not live or (free >= self.admit_at and self._can_merge())):
                    new_rows, new_kv, done = self._admit(queue, free)
                    yield from done
                if new_rows or (dead and (dead >= self.compact_at or not live)):
                    keep = [i for i, r in enumerate(rows) if not r.done]
                    cache, mask = self._regroup(cache, mask, keep, len(rows), new_rows, new_kv)
                    rows = [rows[i] for i in keep] + new_rows
                    last = [last[i] for i in keep] + [r.ids[-1] for r in new_rows]
                    live = len(rows)
                if not rows:
                    continue
                assert mask is not None  # set by _regroup together with the first rows
                mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
                ids = torch.tensor(last, device=self.device)[:, None]
                positions = torch.tensor([r.pos for r in rows], device=self.device)[:, None]
                logits = self._forward(ids, positions, cache, mask)
                self.computed_tokens += live
                self.idle_tokens += len(rows) - live
                running = [i for i, r in enumerate(rows) if not r.done]
                if len(running) < len(rows):
                    logits = logits.index_select(0, torch.tensor(running, device=logits.device))
                tokens, lps = self._choose(logits, [rows[i] for i in running])
                for r in rows:
                    r.pos += 1
                finished = self._advance([rows[i] for i in running], tokens, lps)
                for i, token, fin in zip(running, tokens, finished):
                    if fin is None:
                        last[i] = token
                    else:
                        rows[i].done = True
                        live -= 1
                        yield fin

    def _slabs(self) -> bool:
        return self.cache_mode == "slab" and SLABS and self._mergeable and hasattr(self._shell, "layers")

    def _regroup(self, cache, mask, keep: list[int], count: int, new_rows, new_kv):
        """The batch's cache and mask for the running rows ``keep`` (of ``count``) followed by
        ``new_rows`` (whose prompts' caches are ``new_kv``)."""
        self.rebuilds += 1
        if self._slabs():
            return self._rebuild(cache, mask, keep if count else [], new_kv)
        if len(keep) < count:
            cache, mask = self._select(cache, mask, keep)
        if new_rows:
            cache, mask = self._merge(cache, mask, keep, new_rows, new_kv)
        return cache, mask

    def _can_merge(self) -> bool:
        return self._mergeable

    def _admit(self, queue: deque, free: int):
        """Start samples of waiting prompts; returns (rows, their cache tensors, finished).
        A model whose cache cannot be left-padded (sliding-window layers) gets one prompt's
        samples at a time."""
        new_kv: list[tuple[list, int]]  # (a prompt's cache tensors, rows that start from them)
        new_rows, new_kv, done = [], [], []
        while queue and free > 0:
            job = queue[0]
            if new_kv and not self._can_merge():
                break
            if job.kv is None:
                self._read_prompt(job)
                if new_kv and not self._can_merge():
                    break
            take = job.indices[:free]
            del job.indices[: len(take)]
            starting = [self._new_row(job, i) for i in take]
            alive = []
            if starting:
                logits = job.logits[None].expand(len(starting), -1)
                tokens, lps = self._choose(logits, starting)
                can = [i for i, row in enumerate(starting) if row.budget > 0]
                first = self._advance([starting[i] for i in can], [tokens[i] for i in can], [lps[i] for i in can])
                fins = [None if row.budget > 0 else self._finish(row, None, "length") for row in starting]
                for i, fin in zip(can, first):
                    fins[i] = fin
                for row, fin in zip(starting, fins):
                    (done.append(fin) if fin is not None else alive.append(row))
            if alive:
                new_rows += alive
                new_kv.append((job.kv, len(alive)))
                free -= len(alive)
            if not job.indices:
                queue.popleft()
                job.kv = job.logits = None
        return new_rows, new_kv, done

    def _merge(self, cache, mask, rows, new_rows, new_kv):
        """Left-pad the running batch and the new rows to one cache length and stack them."""
        if not self._can_merge():  # one prompt's rows, nothing to pad
            ((kv, count),) = new_kv
            cache = cache if cache is not None else self._shell
            set_kv(
                cache,
                [(k.expand(count, -1, -1, -1).contiguous(), v.expand(count, -1, -1, -1).contiguous()) for k, v in kv],
            )
            return cache, torch.ones((count, len(new_rows[0].job.input_ids)), dtype=torch.long, device=self.device)
        lengths = [kv[0][0].shape[2] for kv, _ in new_kv] + ([mask.shape[1]] if rows else [])
        length = max(lengths)
        layers = len(new_kv[0][0])
        old = kv_of(cache) if rows else None
        merged = []
        for li in range(layers):
            ks, vs = (
                ([pad_left(old[li][0], length, 2)], [pad_left(old[li][1], length, 2)]) if old is not None else ([], [])
            )
            for kv, count in new_kv:
                k, v = kv[li]
                ks.append(pad_left(k, length, 2).expand(count, -1, -1, -1))
                vs.append(pad_left(v, length, 2).expand(count, -1, -1, -1))
            merged.append((torch.cat(ks, dim=0), torch.cat(vs, dim=0)))
        masks = [pad_left(mask, length, 1)] if rows else []
        for kv, count in new_kv:
            m = torch.ones((count, kv[0][0].shape[2]), dtype=torch.long, device=self.device)
            masks.append(pad_left(m, length, 1))
        if cache is None:
            cache = self._shell
        set_kv(cache, merged)
        return cache, torch.cat(masks, dim=0)

    def _rebuild(self, cache, mask, keep: list[int], new_kv):
        """Slab mode: fresh slabs holding the kept rows, then the new rows, left-padded with
        zeros to one length (leading columns no kept row attends to are dropped), with room
        for ``SLAB_CHUNK`` more tokens.  Layer by layer, so that the old and the new cache
        coexist for one layer at a time."""
        old: list | None = kv_of(cache) if keep else None
        index: torch.Tensor | None = None
        start = old_len = 0
        masks = []
        if old is not None:
            index = torch.tensor(keep, device=mask.device)
            mask = mask.index_select(0, index)
            start = int(mask.any(dim=0).nonzero()[0, 0])
            mask = mask[:, start:]
            old_len = mask.shape[1]
        length = max([old_len] + [kv[0][0].shape[2] for kv, _ in new_kv])
        total = len(keep) + sum(n for _, n in new_kv)
        if not total:
            return cache, None
        if old is not None:
            masks.append(pad_left(mask, length, 1))
        for kv, n in new_kv:
            masks.append(pad_left(torch.ones((n, kv[0][0].shape[2]), dtype=torch.long, device=self.device), length, 1))
        if cache is None or not isinstance(cache.layers[0], SlabLayer):
            cache = self._cache_cls()
        layers = len(old) if old is not None else len(new_kv[0][0])
        for li in range(layers):
            bufs = []
            for j in (0, 1):  # keys, values
                like = old[li][j] if old is not None else new_kv[0][0][li][j]
                buf = like.new_zeros((total, like.shape[1], length + SLAB_CHUNK, like.shape[3]))
                row = 0
                if old is not None:
                    assert index is not None
                    src = old[li][j][:, :, start:]
                    buf[: len(keep), :, length - old_len : length] = src.index_select(0, index.to(src.device))
                    row = len(keep)
                for kv, n in new_kv:
                    t = kv[li][j]
                    buf[row : row + n, :, length - t.shape[2] : length] = t  # the prompt's one row, n times
                    row += n
                bufs.append(buf)
            if old is not None:
                old[li] = None  # the old layer can go now
            layer = SlabLayer(bufs[0], bufs[1], length)
            if li < len(cache.layers):
                cache.layers[li] = layer
            else:
                cache.layers.append(layer)
        return cache, torch.cat(masks, dim=0)

    def _select(self, cache, mask, keep: list[int]):
        """Drop finished rows, and the leading columns no remaining row attends to."""
        if not keep:
            return cache, None
        index = torch.tensor(keep, device=self.device)
        mask = mask.index_select(0, index)
        start = int(mask.any(dim=0).nonzero()[0, 0])
        kv = [(k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:]) for k, v in kv_of(cache)]
        set_kv(cache, kv)
        return cache, mask[:, start:]
