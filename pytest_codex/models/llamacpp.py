"""``llamacpp:<file.gguf>``: llama.cpp (through ``llama-cpp-python``) on a GGUF file.

llama.cpp reads the quantized weights as they are (4-bit for the embedded SmolLM2), which on
a CPU is several times faster than any transformers setting.  Each prompt is evaluated once
into a holder sequence of llama.cpp's unified key/value cache and copied to the sequences
of its samples; up to ``--codex-batch-size`` sequences (default 16) decode together, one
``llama_decode`` per step, and a sequence that stops leaves at once for a waiting sample
(continuous batching).  Sampling happens here, per sample, with its own random stream
seeded from (seed, prompt, sample index); stop sequences, log-probabilities, prompt styles
and the completion store are those of the transformers backend.  Optional: install
``llama-cpp-python`` (it builds from source).
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import os
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion, GenParams, ModelSpec, derive_seed
from pytest_codex.models import prompts as styles
from pytest_codex.models import threads
from pytest_codex.models.base import Generator
from pytest_codex.models.generated import GeneratedModel
from pytest_codex.models.sources import Source, gguf_architecture
from pytest_codex.models.store import sha256_file
from pytest_codex.options.generation import GenerationOptions

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

ENGINE = "pytest-codex llama.cpp decoding 1"


def _llama():
    try:
        import llama_cpp  # lazy: llama-cpp-python is optional (the 'server' extra)
    except ImportError:
        raise ModelError(
            "--model=llamacpp:...: the package 'llama-cpp-python' is not installed; install it with "
            "`pip install llama-cpp-python` (it builds llama.cpp from source, several minutes), or "
            "use --model=gguf:<file> (transformers)"
        ) from None
    return llama_cpp


def choose(logits, rng: random.Random, temperature: float, top_p: float) -> tuple[int, float]:
    """(token, its log-probability at temperature 1) from one row of logits (numpy)."""
    import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

    logits = logits.astype(np.float64)
    top = logits.max()
    logsum = top + np.log(np.exp(logits - top).sum())
    if temperature == 0:
        token = int(logits.argmax())
    else:
        # a nucleus needs the tokens by logit (ties in probability keep argmax's order); the
        # whole distribution can be sampled in vocabulary order
        order = np.argsort(-logits, kind="stable") if top_p < 1.0 else None
        probs = np.exp(((logits if order is None else logits[order]) - top) / temperature)
        probs /= probs.sum()
        if order is not None:
            probs = np.where(np.cumsum(probs) - probs < top_p, probs, 0.0)
        cdf = np.cumsum(probs)
        pick = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)
        while probs[pick] == 0 and pick > 0:
            pick -= 1
        token = int(pick if order is None else order[pick])
    return token, float(logits[token] - logsum)


@dataclass
class _Row:
    key: int
    index: int
    slot: int
    pos: int
    budget: int
    rng: random.Random
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    byte_ends: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )


class LlamaCppGenerator(Generator):
    def __init__(self, source: Source, options: GenerationOptions) -> None:
        self.source, self.options = source, options
        self._store = None
        self._sha: str | None = None
        self.style: str | None = None
        self.chat_template: str | None = None
        self.model = self.ctx = self.vocab = None
        self.n_ctx = 0
        self.thread_choice: threads.ThreadChoice | None = None

    def use_store(self, store) -> None:
        self._store = store

    def fingerprint(self) -> dict:
        if self._sha is None:
            path = self.source.target
            self._sha = self._store.file_sha256(path) if self._store is not None else sha256_file(path)
        return {
            "backend": "llama.cpp",
            "engine": ENGINE,
            "gguf_sha256": self._sha,
            "prompt_style": self.options.prompt_style,
            "chat_version": styles.CHAT_VERSION,
        }

    def check(self) -> None:
        try:  # the wait policy is read when llama.cpp's OpenMP runtime loads
            choice = threads.choose(self.options.threads)
            _, self.thread_choice = threads.load_library("llama_cpp", choice, "llama.cpp")
        except ImportError:
            pass  # _llama() says how to install it
        llama_cpp = _llama()
        if self.options.device.startswith("cuda") and not llama_cpp.llama_supports_gpu_offload():
            raise ModelError(
                f"--codex-device={self.options.device}: this llama-cpp-python is built without GPU "
                "support; use --codex-device=cpu, or rebuild it with CUDA (CMAKE_ARGS=-DGGML_CUDA=on)"
            )
        if self.options.dtype != "auto":
            raise ModelError(
                f"--codex-dtype={self.options.dtype}: {self.source.option} computes in the GGUF's own "
                "types; leave --codex-dtype=auto for llamacpp: models"
            )

    @property
    def batch_size(self) -> int:
        return self.options.batch_size or 16

    def _ensure_model(self) -> None:
        if self.model is not None:
            return
        llama_cpp = _llama()
        llama_cpp.llama_backend_init()
        _quiet(llama_cpp)
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = -1 if self.options.device.startswith("cuda") else 0
        self.model = llama_cpp.llama_model_load_from_file(self.source.target.encode(), params)
        if not self.model:
            raise ModelError(f"{self.source.option}: llama.cpp cannot load {self.source.target}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)

    def resolve(self) -> dict:
        self.check()
        self._ensure_model()
        llama_cpp = _llama()
        buf = ctypes.create_string_buffer(1 << 16)
        n = llama_cpp.llama_model_meta_val_str(self.model, b"tokenizer.chat_template", buf, len(buf))
        self.chat_template = buf.value.decode("utf-8", "replace") if n > 0 else None
        self.style = styles.resolve_style(self.options.prompt_style, bool(self.chat_template))
        if self.style == styles.CHAT and not self.chat_template:
            raise ModelError(
                f"--codex-prompt-style=chat: {self.source.option} has no chat template; "
                "use --codex-prompt-style=completion (or auto)"
            )
        sha = None
        if self.style == styles.CHAT:
            assert self.chat_template is not None  # a chat style without a template raised above
            sha = hashlib.sha256(self.chat_template.encode()).hexdigest()
        return {
            "device": "cuda" if self.options.device.startswith("cuda") else "cpu",
            "dtype": "gguf",
            "prompt_style": self.style,
            "chat_template_sha256": sha,
        }

    def load(self) -> None:
        if self.style is None:
            self.resolve()

    def describe(self) -> dict:
        out = {
            "backend": "llama.cpp",
            "source": "gguf",
            "weights": self.source.target,
            "gguf_sha256": self._sha,
            "batch_size": self.batch_size,
            "engine": ENGINE,
            "n_ctx": self.n_ctx or None,
        }
        if self.thread_choice is not None:
            out.update(self.thread_choice.to_json())
        if self.style:
            out.update(prompt_style=self.style, device="cpu", dtype="gguf")
        return out

    # -- tokens ---------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool) -> list[int]:
        llama_cpp = _llama()
        data = text.encode("utf-8")
        size = len(data) + 16
        out = (llama_cpp.llama_token * size)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), out, size, add_special, True)
        return list(out[:n])

    def piece(self, token: int) -> bytes:
        llama_cpp = _llama()
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[: max(n, 0)]

    def render(self, prompt: str) -> list[int]:
        if self.style == styles.CHAT:
            assert self.chat_template is not None  # resolve() refuses the chat style without one
            from llama_cpp.llama_chat_format import (
                Jinja2ChatFormatter,  # lazy: llama-cpp-python is optional (the 'server' extra)
            )

            eos = self.piece(_llama().llama_vocab_eos(self.vocab)).decode("utf-8", "replace")
            bos = self.piece(_llama().llama_vocab_bos(self.vocab)).decode("utf-8", "replace")
            text = Jinja2ChatFormatter(self.chat_template, eos_token=eos, bos_token=bos)(
                messages=cast("list[Any]", styles.chat_messages(prompt))
            ).prompt  # dicts of its messages' shape
            return self.tokenize(text, add_special=False)
        return self.tokenize(prompt, add_special=True)

    # -- decoding -------------------------------------------------------------------------------
    def _context(self, longest: int, params: GenParams):
        llama_cpp = _llama()
        need = (self.batch_size + 1) * (longest + params.max_new_tokens)
        if self.ctx is not None and self.n_ctx >= need:
            return
        if self.ctx is not None:
            llama_cpp.llama_free(self.ctx)
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = need
        cp.n_batch = cp.n_ubatch = 512
        cp.n_seq_max = self.batch_size + 1
        cp.kv_unified = True
        if self.thread_choice is None:
            self.thread_choice = threads.choose(self.options.threads)
        cp.n_threads = cp.n_threads_batch = self.thread_choice.threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise ModelError(
                f"{self.source.option}: llama.cpp cannot make a context of {need} positions; "
                "lower --codex-batch-size or --codex-max-new-tokens"
            )
        self.n_ctx = need

    def iter_generate(
        self, prompts: Sequence[str], params: GenParams, first_index: int = 0
    ) -> Iterator[tuple[int, list[Completion]]]:
        self.load()
        greedy = params.temperature == 0
        wanted = list(range(first_index, first_index + params.n))
        jobs = [(key, self.render(p), deque(wanted[:1] if greedy else wanted)) for key, p in enumerate(prompts)]
        jobs.sort(key=lambda j: len(j[1]))
        self._context(max(len(ids) for _, ids, _ in jobs), params)
        self._stop = styles.stop_rule(self.style, params.stop)
        for key, index, text, raw, kept, logprob in self._decode(deque(jobs), prompts, params):
            prompt = prompts[key]
            completion = styles.extract_completion(prompt, text) if self.style == styles.CHAT else text
            comp = Completion(
                text=completion,
                index=index,
                raw=raw if raw != completion else None,
                sum_logprob=logprob,
                num_tokens=kept,
                mean_logprob=logprob / kept if kept else None,
            )
            indices = wanted if greedy else [index]
            yield key, [Completion(**{**comp.__dict__, "index": i}) for i in indices]

    def _decode(self, queue: deque, prompts, params: GenParams):
        import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

        llama_cpp = _llama()
        memory = llama_cpp.llama_get_memory(self.ctx)
        llama_cpp.llama_memory_clear(memory, True)
        n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        # positions one sequence may use: llama_n_ctx_seq where the binding has it (>= 0.3.17); with the
        # unified KV cache set in _context that is the whole context, which older bindings report
        n_ctx_seq = getattr(llama_cpp, "llama_n_ctx_seq", llama_cpp.llama_n_ctx)
        context_limit = min(n_ctx_seq(self.ctx), llama_cpp.llama_model_n_ctx_train(self.model))
        holder = self.batch_size  # the sequence that holds the prompt of the job being started
        free = list(range(self.batch_size))
        rows: list[_Row] = []
        batch = llama_cpp.llama_batch_init(512, 0, 1)

        def submit(entries) -> None:  # entries: (token, pos, seq, wants logits)
            for start in range(0, len(entries), 512):
                chunk = entries[start : start + 512]
                batch.n_tokens = len(chunk)
                for i, (tok, pos, seq, out) in enumerate(chunk):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = tok, pos, 1, out
                    batch.seq_id[i][0] = seq
                if llama_cpp.llama_decode(self.ctx, batch) != 0:
                    raise ModelError(f"{self.source.option}: llama_decode failed (context of {self.n_ctx} positions)")

        def logits(i: int):
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, i), shape=(n_vocab,)).copy()

        try:
            prompt_logits = None
            while queue or rows:
                while queue and free:  # start samples while there is room
                    key, ids, pending = queue[0]
                    if prompt_logits is None:
                        llama_cpp.llama_memory_seq_rm(memory, holder, -1, -1)
                        submit([(t, p, holder, p == len(ids) - 1) for p, t in enumerate(ids)])
                        prompt_logits = logits(-1)
                    index = pending.popleft()
                    slot = free.pop()
                    llama_cpp.llama_memory_seq_rm(memory, slot, -1, -1)
                    llama_cpp.llama_memory_seq_cp(memory, holder, slot, -1, -1)
                    row = _Row(
                        key=key,
                        index=index,
                        slot=slot,
                        pos=len(ids),
                        rng=random.Random(derive_seed(params.seed, prompts[key], index)),
                        budget=min(params.max_new_tokens, max(0, context_limit - len(ids))),
                    )
                    result = (
                        self._advance(row, *choose(prompt_logits, row.rng, params.temperature, params.top_p))
                        if row.budget
                        else self._finish(row, None)
                    )
                    if result is None:
                        rows.append(row)
                    else:
                        free.append(slot)
                        yield result
                    if not pending:
                        queue.popleft()
                        prompt_logits = None
                if not rows:
                    continue
                submit([(r.ids[-1], r.pos, r.slot, True) for r in rows])
                still = []
                for i, row in enumerate(rows):
                    row.pos += 1
                    result = self._advance(row, *choose(logits(i), row.rng, params.temperature, params.top_p))
                    if result is None:
                        still.append(row)
                    else:
                        llama_cpp.llama_memory_seq_rm(memory, row.slot, -1, -1)
                        free.append(row.slot)
                        yield result
                rows = still
        finally:
            llama_cpp.llama_batch_free(batch)

    def _advance(self, row: _Row, token: int, logprob: float):
        if _llama().llama_vocab_is_eog(self.vocab, token):
            return self._finish(row, None)
        row.ids.append(token)
        row.logprobs.append(logprob)
        piece = self.piece(token)
        row.raw += piece
        row.byte_ends.append(len(row.raw))
        before = len(row.text)
        row.text += row.decoder.decode(piece)
        if len(row.text) > before:
            cut = self._stop(row.text, before)
            if cut is not None:
                return self._finish(row, cut)
        if len(row.ids) >= row.budget:
            return self._finish(row, None)
        return None

    def _finish(self, row: _Row, cut: int | None):
        text = row.text if cut is None else row.text[:cut]
        if cut is None:
            kept = len(row.ids)
        else:
            need = len(text.encode("utf-8"))
            kept = next((k + 1 for k, end in enumerate(row.byte_ends) if end >= need), len(row.ids)) if need else 0
        return row.key, row.index, text, row.text, kept, float(sum(row.logprobs[:kept]))

    def close(self) -> None:
        llama_cpp = _llama()
        if self.ctx is not None:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            llama_cpp.llama_model_free(self.model)
            self.model = None


_LOG_CALLBACK = None


def _quiet(llama_cpp) -> None:
    """llama.cpp logs every load to stderr; keep only errors."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is None:

        @llama_cpp.llama_log_callback
        def callback(level, text, user_data):  # pragma: no cover - called from C
            if level >= 4:  # GGML_LOG_LEVEL_ERROR
                os.write(2, text)

        _LOG_CALLBACK = callback
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


def llamacpp(spec: ModelSpec, context: CodexState) -> GeneratedModel:
    target = os.path.expanduser(spec.target)
    option = f"--model={spec.raw}"
    if not os.path.isfile(target):
        raise ModelError(f"{option}: GGUF file {target!r} does not exist; give the path of a .gguf file")
    gguf_architecture(target, option)
    generator = LlamaCppGenerator(Source("gguf", os.path.abspath(target), option), context.options.generation)
    return GeneratedModel(spec, context, generator)
