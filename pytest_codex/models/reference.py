"""The ``reference`` model: each problem's canonical solution, one sample per problem."""

from __future__ import annotations

from typing import Sequence

from ..problems import Problem
from .base import Completion, ModelSpec, PrepareStats


class ReferenceModel:
    max_samples = 1

    def __init__(self, spec: ModelSpec, context) -> None:
        self.spec = spec

    def prepare(self, problems: Sequence[Problem]) -> PrepareStats:
        return PrepareStats()

    def completions(self, problem: Problem) -> list[Completion]:
        return [Completion(text=problem.canonical_solution, index=0)]

    def manifest(self) -> dict:
        return {"name": "reference", "kind": "reference", "fingerprint": "canonical solutions of the suite"}
