"""The one object that holds a pytest-codex session's state (under a ``StashKey``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from .execution import Executor
from .models.base import ModelError, ModelSource, PrepareStats
from .options import CodexOptions
from .problems import Problem, Suite
from .results import Collector

SINGLE, CONTROLLER, WORKER = "single", "controller", "worker"


@dataclass(frozen=True)
class Case:
    """One problem item: a model and a problem."""

    model: ModelSource
    problem: Problem

    @property
    def id(self) -> str:
        return f"{self.model.spec.label}-{self.problem.task_id}"


@dataclass
class CodexState:
    options: CodexOptions
    role: str
    command: list[str]
    suite: Suite | None = None
    models: list[ModelSource] = field(default_factory=list)
    executor: Executor | None = None
    executor_info: dict | None = None
    collector: Collector = field(default_factory=Collector)
    prepared: dict[str, PrepareStats] = field(default_factory=dict)
    generation_done: bool = False
    exec_started: float | None = None
    baseline: object | None = None  # runs.LoadedRun of --codex-compare (controller / single only)
    experiments: dict = field(default_factory=dict)  # the experiments' records for the results file
    plus: dict | None = None  # task_id -> plus.PlusProblem (--codex-plus)
    time_limits: object | None = None  # sandbox.timelimits.TimeLimits (processes that execute)
    config: pytest.Config | None = None  # for terminal output during generation (progress)

    def cases(self) -> list[Case]:
        return [Case(m, p) for m in self.models for p in self.suite.problems]

    def model(self, label: str) -> ModelSource:
        return next(m for m in self.models if m.spec.label == label)

    def ks_for_display(self, max_n: int) -> tuple[int, ...]:
        if self.options.ks_explicit:
            return self.options.ks
        return tuple(k for k in self.options.ks if k == 1 or k <= max_n)

    def prepare(self, cases: list[Case]) -> None:
        """Generation phase: make completions available for the selected cases."""
        if self.generation_done:
            return
        self.generation_done = True
        by_model: dict[str, list[Problem]] = {}
        for case in cases:
            by_model.setdefault(case.model.spec.label, []).append(case.problem)
        for model in self.models:
            problems = by_model.get(model.spec.label, [])
            start = time.perf_counter()
            try:
                stats = model.prepare(problems) if problems else PrepareStats()
            except ModelError as exc:  # e.g. a server that is down: one line, what to fix
                raise pytest.UsageError(str(exc).replace("\n", " ")) from None
            stats.seconds = stats.seconds or (time.perf_counter() - start)
            self.prepared[model.spec.label] = stats
        if self.options.experiments.plus:
            from .plus import prepare_plus

            prepare_plus(self, [case.problem for case in cases])


STATE_KEY = pytest.StashKey[CodexState]()


def get_state(config: pytest.Config) -> CodexState | None:
    return config.stash.get(STATE_KEY, None)
