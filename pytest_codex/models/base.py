"""What a text-generating backend provides: the ``Generator`` protocol.

``pytest_codex.models.generated.GeneratedModel`` turns a generator into a ``ModelSource``
backed by the completion store.  A backend subclasses ``Generator`` and overrides
``fingerprint`` and one of ``iter_generate`` / ``generate``; the other members have
defaults that do nothing.  The generator is created in every process (xdist workers
included) but only the generating process calls anything beyond ``fingerprint``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion, GenParams, Scorer

if TYPE_CHECKING:
    from pytest_codex.models.store import CompletionStore


class Generator(Protocol):
    def fingerprint(self) -> dict:
        """What identifies its outputs (model name or files' hashes, endpoint, requested
        settings).  Called in every process: cheap, and never loads the model."""
        ...

    def check(self) -> None:
        """Validate settings at start-up (generating process); raise ``ModelError`` with the fix."""
        return None

    def use_store(self, store: CompletionStore) -> None:
        """The completion store this generator's samples go to (e.g. to remember weights' hashes)."""
        return None

    def resolve(self) -> dict:
        """Settings known only once looked at (device, dtype, prompt style, chat-template hash);
        recorded in the store so that workers find the same samples."""
        return {}

    def load(self) -> None:
        """Load the model: called at most once, and only when the store lacks samples."""
        return None

    def describe(self) -> dict:
        """Extra manifest entries (device, dtype, batch size, threads, ...)."""
        return {}

    def iter_generate(
        self, prompts: Sequence[str], params: GenParams, first_index: int = 0
    ) -> Iterator[tuple[int, list[Completion]]]:
        """Yield ``(prompt index, [Completion, ...])`` as samples finish, for the sample indices
        ``first_index .. first_index + params.n - 1`` of every prompt.  The default calls
        ``generate``, which makes samples ``0 .. n-1`` only."""
        if first_index != 0:
            raise ModelError(
                f"{type(self).__name__} can only make samples 0..n-1 (it has no iter_generate), "
                f"but samples from {first_index} are missing; rerun with --codex-regenerate"
            )
        yield from enumerate(self.generate(prompts, params))

    def generate(self, prompts: Sequence[str], params: GenParams) -> list[list[Completion]]:
        """``params.n`` completions per prompt (samples ``0 .. n-1``).  The default collects
        ``iter_generate``."""
        out: list[list[Completion]] = [[] for _ in prompts]
        for i, comps in self.iter_generate(prompts, params):
            out[i] += comps
        return out

    def scorer(self) -> Scorer | None:
        """A log-likelihood scorer of text (back-translation ranking), or None."""
        return None
