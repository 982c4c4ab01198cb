"""``GeneratedModel``: any text generator as a model source, through the completion store.

A backend supplies a ``pytest_codex.models.base.Generator`` (its docstrings are the
contract).  ``prompts`` are the problems' prompt texts; a chat backend turns them into
messages with ``pytest_codex.models.prompts.chat_messages`` and back with
``pytest_codex.models.prompts.extract_completion``.  Seeds derive from (seed, prompt, index).

``prepare()`` runs only in the generating process (single process or xdist controller):
it generates what the store lacks and writes every sample the moment it arrives.
``completions()`` only reads the store, so xdist workers never load a model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from pytest_codex.core.generation import (
    Completion,
    GenParams,
    ModelSource,
    ModelSpec,
    PrepareStats,
    Scorer,
)
from pytest_codex.core.problems import Problem
from pytest_codex.core.roles import Role
from pytest_codex.models.base import Generator
from pytest_codex.models.progress import terminal_progress
from pytest_codex.models.store import CompletionStore, StoreError, digest

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


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


class GeneratedModel(ModelSource):
    """A ``ModelSource`` whose completions a generator makes and the store keeps."""

    def __init__(
        self,
        spec: ModelSpec,
        context: CodexState,
        generator: Generator,
        *,
        params: GenParams | None = None,
        on_progress: Callable | None = None,
    ) -> None:
        gen_opts = context.options.generation
        self.spec = spec
        self.generator = generator
        self._params = params or gen_opts.params()
        self.cache_dir = gen_opts.cache_dir
        self.regenerate = gen_opts.regenerate
        self.role = context.role
        self._context = context
        if on_progress is None and context.role is not Role.WORKER:
            on_progress = terminal_progress(context.config)
        self._on_progress = on_progress
        self._store: CompletionStore | None = None
        self._resolved: dict | None = None
        self._model_key: str | None = None
        self.stats = PrepareStats()
        if context.role is not Role.WORKER:
            self.store(check=True)  # a damaged or foreign store is refused at start-up
            generator.check()

    # -- ModelSource --------------------------------------------------------------------------
    @property
    def max_samples(self) -> int:
        return self._params.n

    @property
    def params(self) -> GenParams:
        return self._params

    def scorer(self) -> Scorer | None:
        return self.generator.scorer()

    def with_params(self, spec: ModelSpec, **changes) -> GeneratedModel:
        """The same generator (loaded at most once) with other sampling parameters, e.g. for a
        temperature sweep: ``model.with_params(spec, temperature=0.8, n=20)``."""
        other = GeneratedModel.__new__(GeneratedModel)
        other.__dict__.update(self.__dict__)
        other.spec, other._params, other.stats = spec, replace(self._params, **changes), PrepareStats()
        return other

    def store(self, check: bool = False) -> CompletionStore:
        if self._store is None:
            self._store = CompletionStore.in_dir(self.cache_dir, check=check)
            self.generator.use_store(self._store)  # e.g. to remember weights' hashes
        return self._store

    def _request_key(self) -> str:
        return digest({"fingerprint": self.generator.fingerprint()})

    def _resolve(self) -> None:
        """Generating process: settle the settings and tell the workers through the store."""
        if self._resolved is not None:
            return
        resolved = self.generator.resolve()
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
        assert self._model_key is not None  # _resolve settles it
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
            self.generator.load()
            progress = self._on_progress(self.spec.label, total) if self._on_progress else None
            try:
                for prompt, comps in self._generate(missing):
                    store.put(self._model_key, prompt, pkey, comps, task_id=task_of[prompt], info=self._row_info())
                    self.stats.generated += len(comps)
                    if progress:
                        progress.update(comps)
            finally:
                if progress:
                    progress.close()
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    def _row_info(self) -> dict:
        info = self.generator.describe()
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
            for i, comps in self.generator.iter_generate(prompts, params, first):
                yield prompts[i], comps

    def completions(self, problem: Problem) -> list[Completion] | None:
        if not self._lookup():
            return None
        assert self._model_key is not None  # _lookup found it
        have = self.store().get(self._model_key, problem.prompt, params_key(self.params))
        comps = [have[i] for i in range(self.params.n) if i in have]
        if not comps:
            return None
        if len(comps) < self.params.n:
            raise StoreError(
                f"{self.spec.raw}: {problem.task_id} has {len(comps)} of {self.params.n} samples in "
                f"the store {self.store().path}; generation stopped early: run again to complete it"
            )
        return comps

    # -- results file ---------------------------------------------------------------------------
    def _style(self) -> str | None:
        resolved = self._resolved or {}
        return resolved.get("prompt_style") or self.generator.fingerprint().get("prompt_style")

    def params_json(self) -> dict:
        style = self._style()
        info = self.generator.describe()
        out = {
            "n": self.params.n,
            "temperature": self.params.temperature,
            "top_p": self.params.top_p,
            "max_new_tokens": self.params.max_new_tokens,
            "seed": self.params.seed,
            "stop": list(self.params.stop) if style != "chat" else [],
            "prompt_style": style,
        }
        for key in ("batch_size", "dtype", "device"):
            if key in info or key in (self._resolved or {}):
                out[key] = (self._resolved or {}).get(key, info.get(key))
        return out

    def manifest(self) -> dict:
        return {
            "name": self.spec.raw,
            "kind": self.spec.kind,
            "fingerprint": self.generator.fingerprint(),
            "resolved": self._resolved,
            "model_key": self._model_key,
            **self.generator.describe(),
            "store": {
                "path": self.store().path,
                "generated": self.stats.generated,
                "from_store": self.stats.from_store,
            },
        }
