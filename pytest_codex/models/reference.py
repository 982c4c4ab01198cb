"""The ``reference`` model: each problem's canonical solution, one sample per problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_codex.core.generation import Completion, ModelSource, ModelSpec
from pytest_codex.core.problems import Problem

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


class ReferenceModel(ModelSource):
    def __init__(self, spec: ModelSpec, context: CodexState) -> None:
        self.spec = spec

    def completions(self, problem: Problem) -> list[Completion]:
        return [Completion(text=problem.canonical_solution, index=0)]

    def manifest(self) -> dict:
        return {"name": "reference", "kind": "reference", "fingerprint": "canonical solutions of the suite"}
