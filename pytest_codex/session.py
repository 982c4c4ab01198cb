"""The pytest-codex session: its state object (under a ``StashKey``), its process role, the
item runner, and what the controller does at the end of the run.

Process roles: *single* (no xdist) generates, executes and reports; under xdist the
*controller* generates and reports, *workers* only execute.  ``plugin.py`` holds the pytest
hooks and delegates here.  Nothing here imports torch or model code: backends load lazily
when a model is created.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_codex.core.errors import CodexUsageError, UnknownModelError
from pytest_codex.core.generation import ModelSource, PrepareStats
from pytest_codex.core.problems import Problem, Suite
from pytest_codex.core.records import ProblemPayload, SampleRecord
from pytest_codex.core.roles import Role
from pytest_codex.core.verdicts import Executor, Verdict
from pytest_codex.experiments.plus import prepare_plus, run_plus
from pytest_codex.experiments.recipe import expand_models
from pytest_codex.experiments.suites import load_suite
from pytest_codex.models import create_model, parse_model_spec
from pytest_codex.models.threads import header_lines as thread_lines
from pytest_codex.options import CodexOptions
from pytest_codex.reports import reporting
from pytest_codex.reports.outputs import write_samples_out
from pytest_codex.reports.reporting import load_baseline, summary_lines
from pytest_codex.reports.results import PAYLOAD_KEY, Collector, ModelResult
from pytest_codex.reports.stats import pass_at_k_intervals
from pytest_codex.reports.tables import fmt_rate, render_table, scope_line
from pytest_codex.sandbox.executor import SandboxUnavailable, make_executor, worker_cpu
from pytest_codex.sandbox.timelimits import TimeLimits

if TYPE_CHECKING:
    from pytest_codex.experiments.plus import PlusProblem
    from pytest_codex.reports.reporting import SessionReports
    from pytest_codex.reports.runs import LoadedRun

FIXTURE = "codex_case"
SHOW_LINES = 12  # completion lines shown in a failure


def role_of(config: pytest.Config) -> Role:
    if hasattr(config, "workerinput"):
        return Role.WORKER
    # xdist distributes only with a --dist mode *and* nodes (-n N sets both; --tx needs --dist):
    # `--dist=load` alone, or `--tx` alone, runs everything in this process.
    distributing = config.getoption("dist", "no") not in (None, "no") and bool(config.getoption("tx", None))
    if distributing and not config.getoption("collectonly", False):
        return Role.CONTROLLER
    return Role.SINGLE


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
    role: Role
    command: list[str]
    suite: Suite = field(default_factory=lambda: Suite("", "", "", ()))
    models: list[ModelSource] = field(default_factory=list)
    executor: Executor | None = None
    executor_info: dict | None = None
    collector: Collector = field(default_factory=Collector)
    prepared: dict[str, PrepareStats] = field(default_factory=dict)
    generation_done: bool = False
    exec_started: float | None = None
    baseline: LoadedRun | None = None  # the run of --codex-compare (controller / single only)
    experiments: dict = field(default_factory=dict)  # the experiments' records for the results file
    plus: dict[str, PlusProblem] | None = None  # task_id -> plus tests (--codex-plus)
    time_limits: TimeLimits | None = None  # processes that execute
    config: pytest.Config | None = None  # for terminal output during generation (progress)

    def cases(self) -> list[Case]:
        return [Case(m, p) for m in self.models for p in self.suite.problems]

    def model(self, label: str) -> ModelSource:
        return next(m for m in self.models if m.spec.label == label)

    def ks_for_display(self, max_n: int) -> tuple[int, ...]:
        if self.options.ks_explicit:
            return self.options.ks
        return tuple(k for k in self.options.ks if k == 1 or k <= max_n)

    def time_limit(self, problem: Problem) -> float:
        """The time limit of one sample of ``problem`` (seconds)."""
        if self.time_limits is not None and self.executor is not None:
            return self.time_limits.limit(problem, self.executor)
        return self.options.timeout

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
            except CodexUsageError as exc:  # e.g. a server that is down: one line, what to fix
                raise pytest.UsageError(exc.one_line()) from None
            stats.seconds = stats.seconds or (time.perf_counter() - start)
            self.prepared[model.spec.label] = stats
        if self.options.experiments.plus:
            prepare_plus(self, [case.problem for case in cases])

    def shutdown(self) -> None:
        if self.time_limits is not None:
            self.time_limits.save()
        if self.executor is not None:
            self.executor.close()
            self.executor = None


STATE_KEY = pytest.StashKey[CodexState]()


def get_state(config: pytest.Config) -> CodexState | None:
    return config.stash.get(STATE_KEY, None)


def start(config: pytest.Config) -> CodexState | None:
    """``pytest_configure``: validate every option, start the sandbox, load the suite and the
    models; None when no model is asked for.  Bad input is a ``pytest.UsageError``."""
    try:
        options = CodexOptions.from_config(config)  # validates even without --model
    except CodexUsageError as exc:
        raise pytest.UsageError(exc.one_line()) from None
    if not options.models:
        return None
    role = role_of(config)
    if options.server.generate_only and role is not Role.SINGLE:
        raise pytest.UsageError(
            "--codex-generate-only with -n/--tx: generation runs in one process; "
            "drop -n/--tx for the generating run, then execute with them"
        )
    state = CodexState(options=options, role=role, command=list(sys.argv), config=config)
    # The executor (the sandbox's fork helper) starts before any problem, test or
    # canonical solution is loaded into this process; it boots while they load.
    if role is not Role.CONTROLLER:
        workerinput = getattr(config, "workerinput", None)
        try:
            state.executor = make_executor(options.sandbox.mode, cpu=worker_cpu(workerinput), wait=False)
        except SandboxUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    try:
        state.suite = load_suite(options.suite, options.experiments)
        specs = [parse_model_spec(m) for m in options.models]
        labels = [s.label for s in specs]
        for s in specs:
            if labels.count(s.label) > 1:
                raise UnknownModelError(f"--model={s.raw!r} is given twice (or two models share the label {s.label!r})")
        state.models = [create_model(s, state) for s in specs]
        state.models = expand_models(state.models, options)  # --codex-recipe / --codex-temperatures
        if state.executor is not None:
            state.executor_info = state.executor.describe()  # waits for the fork server's hello
            if role is Role.WORKER:  # the controller's manifest records what isolation the workers had
                config.workeroutput["codex_executor"] = state.executor_info  # type: ignore[attr-defined]
            state.time_limits = TimeLimits(
                floor=options.sandbox.time_floor,
                factor=options.sandbox.time_factor,
                override=options.sandbox.timeout,
                cache_dir=config.rootpath / ".codex",
                suite_sha256=state.suite.sha256,
            )
            assert state.executor_info is not None
            state.executor_info["time_limits"] = state.time_limits.describe()
        if role is not Role.WORKER:
            state.baseline = load_baseline(state)
    except CodexUsageError as exc:
        state.shutdown()
        raise pytest.UsageError(exc.one_line()) from None
    return state


def header_lines(state: CodexState) -> list[str]:
    s = state.suite
    lines = [
        f"codex: suite {s.name} ({len(s.problems)} problems, sha256 {s.sha256[:12]}), "
        f"models: {', '.join(m.spec.raw for m in state.models)}"
    ]
    info = state.executor_info
    if info:
        layers = info.get("layers") or {}
        line = f"codex: executor {info.get('executor')}, isolation: " + ", ".join(k for k, v in layers.items() if v)
        missing = info.get("missing") or {}
        if missing:
            line += "; MISSING: " + ", ".join(f"{k} ({v})" for k, v in missing.items())
        lines.append(line)
    return lines + thread_lines(state.models)


def item_timeout(state: CodexState, case: Case) -> float:
    """pytest-timeout's bound for one item: every sample at the largest time limit."""
    limit = state.time_limits.upper_bound() if state.time_limits else state.options.timeout
    return 60 + case.model.max_samples * (limit + 5)


def selected_cases(state: CodexState, nodeids: list[str]) -> list[Case]:
    """The cases of the collected node ids (the xdist controller sees ids only)."""
    by_suffix = {f"[{c.id}]": c for c in state.cases()}
    selected = []
    for nodeid in nodeids:
        for i, ch in enumerate(nodeid):
            if ch == "[" and nodeid[i:] in by_suffix:
                selected.append(by_suffix[nodeid[i:]])
                break
    return selected


# -- the item runner (wherever items execute) ---------------------------------------------


def failure_text(case: Case, samples: list[SampleRecord]) -> str:
    n = len(samples)
    first = next(s for s in samples if s.verdict is not Verdict.PASSED)
    head = f"0/{n} samples passed for {case.problem.task_id} ({case.model.spec.label}); "
    head += f"first failing sample #{first.index}: {first.verdict}"
    if first.error_type and first.verdict is not Verdict.FAILED:
        head += f" ({first.error_type})"
    lines = [head]
    if first.detail:
        lines.append("  " + first.detail.replace("\n", "\n  "))
    completion = first.completion.splitlines()
    if completion:
        lines.append("completion:")
        lines += ["  | " + line for line in completion[:SHOW_LINES]]
        if len(completion) > SHOW_LINES:
            lines.append(f"  | ... ({len(completion) - SHOW_LINES} more lines)")
    if first.output:
        lines.append("output (tail):")
        lines += ["  > " + line for line in first.output.splitlines()[-5:]]
    return "\n".join(lines)


def run_case(state: CodexState, case: Case, node: pytest.Item) -> None:
    """Execute one item: every completion of the case in the sandbox; record the payload."""
    if state.exec_started is None:
        state.exec_started = time.perf_counter()
    start = time.perf_counter()
    completions = case.model.completions(case.problem)
    label, task_id = case.model.spec.label, case.problem.task_id
    if not completions:
        node.user_properties.append((PAYLOAD_KEY, ProblemPayload(label, task_id, attempted=False).to_json()))
        pytest.skip(f"not attempted: {label} has no samples for {task_id}")
    assert state.executor is not None
    limit = state.time_limit(case.problem)
    samples = [SampleRecord.of(comp, state.executor.run(case.problem, comp.text, limit)) for comp in completions]
    plus = None
    if state.options.experiments.plus:
        plus = run_plus(state, case.problem, completions, samples)
    payload = ProblemPayload.scored(label, task_id, samples, plus=plus, exec_seconds=time.perf_counter() - start)
    node.user_properties.append((PAYLOAD_KEY, payload.to_json()))
    if payload.c == 0:
        pytest.fail(failure_text(case, samples), pytrace=False)


# -- the end of the run (controller / single process) -------------------------------------


class Summary:
    """Collects reports, prints the pass@k summary, writes the files, sets the exit status."""

    def __init__(self, state: CodexState) -> None:
        self.state = state
        self._cache: tuple[list[ModelResult], tuple[int, ...]] | None = None
        self.reports: SessionReports | None = None  # built in finish()

    def add_report(self, report: pytest.TestReport) -> None:
        if self.state.exec_started is None:
            self.state.exec_started = time.perf_counter()
        self.state.collector.add_report(report)

    def worker_done(self, node: Any) -> None:
        info = getattr(node, "workeroutput", {}).get("codex_executor")
        if info and self.state.executor_info is None:
            self.state.executor_info = info

    def results(self) -> tuple[list[ModelResult], tuple[int, ...]]:
        if self._cache is None:  # called after the last report only
            state = self.state
            all_n = [p.n for p in state.collector.payloads.values()]
            ks = state.ks_for_display(max(all_n, default=1))
            self._cache = state.collector.results(state.models, state.suite, ks), ks
        return self._cache

    def precompute(self) -> None:
        """The results and their intervals (numpy, bootstrap), computed as soon as the last
        report is in: under xdist this overlaps with the workers' shutdown, which the
        controller waits for before ``pytest_sessionfinish`` reaches ``finish``."""
        if self.state.collector.payloads:
            results, ks = self.results()
            for r in results:
                pass_at_k_intervals(r.problems, ks)  # cached for the table and the results file

    def terminal_summary(self, tr: Any) -> None:
        state = self.state
        if not state.collector.payloads:
            return
        results, ks = self.results()
        tr.section(f"pytest-codex: {state.suite.name}")
        tr.line(scope_line(results, state.suite.name))
        for line in render_table(results, ks, width=tr._tw.fullwidth):
            tr.line(line)
        exec_wall = (time.perf_counter() - state.exec_started) if state.exec_started else 0.0
        for r in results:
            st = state.prepared.get(r.label)
            exec_s = sum(p.exec_seconds for p in r.problems)
            gen = (
                f"generate {st.seconds:.1f} s ({st.generated} generated, {st.from_store} from store); "
                if st and (st.generated or st.from_store)
                else ""
            )
            tr.line(f"time {r.label}: {gen}execute {exec_s:.1f} s in items ({exec_wall:.1f} s wall)")
        if state.collector.harness_errors:
            tr.line(
                f"harness errors: {len(state.collector.harness_errors)} item(s) failed outside the "
                f"benchmark, e.g. {state.collector.harness_errors[0]}",
                red=True,
            )
        if state.options.fail_under is not None:
            tr.line(
                f"--codex-fail-under={state.options.fail_under:g}: "
                + ", ".join(f"{r.label} pass@1 {fmt_rate(r.pass_at_k.get(1))}" for r in results)
            )
        if self.reports is not None:
            for line, markup in summary_lines(self.reports):
                tr.line(line, **markup)

    def finish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        results, ks = self.results()
        if state.collector.payloads:
            self.reports = reporting.build(state, results, ks)
            document = reporting.results_doc(state, results)
            if state.experiments:
                document["experiments"] = state.experiments
            reporting.write_files(state, results, ks, self.reports, document)
        if state.options.samples_out and state.collector.payloads:
            write_samples_out(state.options.samples_out, results)
        gated = state.options.fail_under is not None or state.options.reports.fail_regression is not None
        if gated and exitstatus in (0, 1):
            ok = bool(results) and not state.collector.harness_errors
            threshold = state.options.fail_under
            if threshold is not None:
                ok = ok and all((x := r.pass_at_k.get(1)) is not None and x >= threshold for r in results)
            if state.options.reports.fail_regression is not None:
                ok = ok and self.reports is not None and not self.reports.regressed
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED
        if self.reports is not None and self.reports.errors:  # a file asked for was not written
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
