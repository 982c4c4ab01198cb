"""``GeneratedModel``: any text generator as a model source, through the completion store.

A backend supplies a generator object with

* ``fingerprint() -> dict`` (required): what identifies its outputs -- model name or
  files' hashes, endpoint, requested settings.  Called in every process, xdist workers
  included: it must be cheap and must not load the model.
* ``iter_generate(prompts, params, first_index=0)`` (preferred): yields
  ``(prompt index, [Completion, ...])`` as samples finish, for the sample indices
  ``first_index .. first_index + params.n - 1`` of every prompt (``Completion.index`` set);
  or ``generate(prompts, params) -> list[list[Completion]]`` (samples ``0 .. n-1``, stored
  when the call returns).  ``prompts`` are the problems' prompt texts; a chat backend turns
  them into messages with ``pytest_codex.prompts.chat_messages`` and back with
  ``pytest_codex.prompts.extract_completion``.  Seeds derive from (seed, prompt, index).
* optional ``check()``: validate settings early (called at start-up in the generating
  process; raise ``pytest_codex.models.ModelError`` with the fix);
  ``resolve() -> dict``: settings only known once looked at (device, dtype, prompt style,
  chat-template hash), called in the generating process before anything is generated and
  recorded in the store so that workers find the same samples; ``load()``: load the model,
  called at most once and only when something is missing from the store;
  ``describe() -> dict``: extra manifest entries (device, dtype, batch size, ...).

``prepare()`` runs only in the generating process (single process or xdist controller):
it generates what the store lacks and writes every sample the moment it arrives.
``completions()`` only reads the store, so xdist workers never load a model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Callable, Iterable, Sequence

from ..problems import Problem
from ..store import CompletionStore, StoreError, digest
from .base import Completion, GenParams, ModelSpec, PrepareStats


def params_key(params: GenParams) -> str:
    """The store key of the sampling parameters: not ``n`` (the sample index is in the key);
    greedy decoding ignores ``top_p`` and ``seed``."""
    data = asdict(params)
    data.pop("n")
    data["stop"] = list(params.stop)
    if params.temperature == 0:
        data.pop("top_p"), data.pop("seed")
    return digest(data)


def index_runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted indices as (first, count) runs of consecutive values."""
    runs: list[list[int]] = []
    for i in sorted(set(indices)):
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1][1] += 1
        else:
            runs.append([i, 1])
    return [(a, b) for a, b in runs]


class GeneratedModel:
    """A ``ModelSource`` whose completions a generator makes and the store keeps."""

    def __init__(self, spec: ModelSpec, context, generator, *, params: GenParams | None = None,
                 on_progress: Callable | None = None) -> None:
        gen_opts = context.options.generation
        self.spec = spec
        self.generator = generator
        self.params = params or gen_opts.params()
        self.cache_dir = gen_opts.cache_dir
        self.regenerate = gen_opts.regenerate
        self.role = context.role
        self._context = context
        if on_progress is None and context.role != "worker":
            from ..progress import terminal_progress

            on_progress = terminal_progress(getattr(context, "config", None))
        self._on_progress = on_progress
        self._store: CompletionStore | None = None
        self._resolved: dict | None = None
        self._model_key: str | None = None
        self.stats = PrepareStats()
        if context.role != "worker":
            self.store(check=True)  # a damaged or foreign store is refused at start-up
            if hasattr(generator, "check"):
                generator.check()

    # -- ModelSource --------------------------------------------------------------------------
    @property
    def max_samples(self) -> int:
        return self.params.n

    def with_params(self, spec: ModelSpec, **changes) -> "GeneratedModel":
        """The same generator (loaded at most once) with other sampling parameters, e.g. for a
        temperature sweep: ``model.with_params(spec, temperature=0.8, n=20)``."""
        other = GeneratedModel.__new__(GeneratedModel)
        other.__dict__.update(self.__dict__)
        other.spec, other.params, other.stats = spec, replace(self.params, **changes), PrepareStats()
        return other

    def store(self, check: bool = False) -> CompletionStore:
        if self._store is None:
            self._store = CompletionStore.in_dir(self.cache_dir, check=check)
            if hasattr(self.generator, "use_store"):
                self.generator.use_store(self._store)  # e.g. to remember weights' hashes
        return self._store

    def _request_key(self) -> str:
        return digest({"fingerprint": self.generator.fingerprint()})

    def _resolve(self) -> None:
        """Generating process: settle the settings and tell the workers through the store."""
        if self._resolved is not None:
            return
        resolved = self.generator.resolve() if hasattr(self.generator, "resolve") else {}
        fp = self.generator.fingerprint()
        self._model_key = digest({"fingerprint": fp, "resolved": resolved})
        self.store().put_resolution(self._request_key(), {"model_key": self._model_key, "resolved": resolved})
        self._resolved = resolved

    def _lookup(self) -> bool:
        """Worker: the settings the generating process settled; False if it never did."""
        if self._model_key is None:
            found = self.store().get_resolution(self._request_key())
            if found is None:
                return False
            self._model_key, self._resolved = found["model_key"], found["resolved"]
        return True

    def prepare(self, problems: Sequence[Problem]) -> PrepareStats:
        start = time.perf_counter()
        self._resolve()
        store, pkey, n = self.store(), params_key(self.params), self.params.n
        prompts = list(dict.fromkeys(p.prompt for p in problems))
        task_of = {p.prompt: p.task_id for p in problems}
        missing: dict[str, list[int]] = {}
        for prompt in prompts:
            have = {} if self.regenerate else store.get(self._model_key, prompt, pkey)
            need = [i for i in range(n) if i not in have]
            self.stats.from_store += n - len(need)
            if need:
                missing[prompt] = need
        total = sum(len(v) for v in missing.values())
        if total:
            if hasattr(self.generator, "load"):
                self.generator.load()
            progress = self._on_progress(self.spec.label, total) if self._on_progress else None
            try:
                for prompt, comps in self._generate(missing):
                    store.put(self._model_key, prompt, pkey, comps, task_id=task_of[prompt],
                              info=self._row_info())
                    self.stats.generated += len(comps)
                    if progress:
                        progress.update(comps)
            finally:
                if progress:
                    progress.close()
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    def _row_info(self) -> dict:
        describe = getattr(self.generator, "describe", None)
        info = describe() if describe else {}
        return {k: info[k] for k in ("batch_size", "device", "dtype") if k in info}

    def _generate(self, missing: dict[str, list[int]]):
        """Yield (prompt, completions) for every missing sample, grouping prompts that miss
        the same run of indices into one generator call."""
        groups: dict[tuple[int, int], list[str]] = {}
        for prompt, need in missing.items():
            for run in index_runs(need):
                groups.setdefault(run, []).append(prompt)
        for (first, count), prompts in groups.items():
            params = replace(self.params, n=count)
            if hasattr(self.generator, "iter_generate"):
                for i, comps in self.generator.iter_generate(prompts, params, first):
                    yield prompts[i], comps
            else:
                if first != 0:
                    raise StoreError(f"{self.spec.raw}: its generator can only make samples 0..n-1 "
                                     f"(no iter_generate), but samples {first}..{first + count - 1} are missing; "
                                     "rerun with --codex-regenerate")
                for prompt, comps in zip(prompts, self.generator.generate(prompts, params)):
                    yield prompt, comps

    def completions(self, problem: Problem) -> list[Completion] | None:
        if not self._lookup():
            return None
        have = self.store().get(self._model_key, problem.prompt, params_key(self.params))
        comps = [have[i] for i in range(self.params.n) if i in have]
        if not comps:
            return None
        if len(comps) < self.params.n:
            raise StoreError(f"{self.spec.raw}: {problem.task_id} has {len(comps)} of {self.params.n} samples in "
                             f"the store {self.store().path}; generation stopped early: run again to complete it")
        return comps

    # -- results file ---------------------------------------------------------------------------
    def _style(self) -> str | None:
        resolved = self._resolved or {}
        return resolved.get("prompt_style") or self.generator.fingerprint().get("prompt_style")

    def params_json(self) -> dict:
        style = self._style()
        describe = getattr(self.generator, "describe", None)
        info = describe() if describe else {}
        out = {"n": self.params.n, "temperature": self.params.temperature, "top_p": self.params.top_p,
               "max_new_tokens": self.params.max_new_tokens, "seed": self.params.seed,
               "stop": list(self.params.stop) if style != "chat" else [],
               "prompt_style": style}
        for key in ("batch_size", "dtype", "device"):
            if key in info or key in (self._resolved or {}):
                out[key] = (self._resolved or {}).get(key, info.get(key))
        return out

    def manifest(self) -> dict:
        describe = getattr(self.generator, "describe", None)
        return {"name": self.spec.raw, "kind": self.spec.kind, "fingerprint": self.generator.fingerprint(),
                "resolved": self._resolved, "model_key": self._model_key,
                **(describe() if describe else {}),
                "store": {"path": self.store().path, "generated": self.stats.generated,
                          "from_store": self.stats.from_store}}
