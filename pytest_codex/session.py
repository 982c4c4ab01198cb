"""The pytest-codex session: its state object (under a ``StashKey``), its process role, the
item runner, and what the controller does at the end of the run.

Process roles: *single* (no xdist) generates, executes and reports; under xdist the
*controller* generates and reports, *workers* only execute.  ``plugin.py`` holds the pytest
hooks and delegates here.  Nothing here imports torch or model code: backends load lazily
when a model is created.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_codex.core import text
from pytest_codex.core.errors import CodexUsageError, UnknownModelError
from pytest_codex.core.generation import Completion, ModelSource, PrepareStats
from pytest_codex.core.problems import Problem, Suite
from pytest_codex.core.records import ProblemPayload, SampleRecord
from pytest_codex.core.roles import Role
from pytest_codex.core.selection import Selection, select
from pytest_codex.core.verdicts import Executor, Verdict
from pytest_codex.experiments.recipe import expand_models
from pytest_codex.experiments.suites import load_suite
from pytest_codex.models import create_model, parse_model_spec
from pytest_codex.models.threads import header_lines as thread_lines
from pytest_codex.options import CodexOptions, generation
from pytest_codex.reports.results import Collector, Ending, Gap, ModelResult, junit_properties
from pytest_codex.reports.stats import pass_at_k_intervals
from pytest_codex.reports.tables import fmt_rate, render_table, scope_line
from pytest_codex.sandbox.executor import SandboxExecutor, SandboxUnavailable, make_executor, worker_cpu
from pytest_codex.sandbox.lanes import Lanes
from pytest_codex.sandbox.replays import ReplayStore
from pytest_codex.sandbox.timelimits import TimeLimits

if TYPE_CHECKING:
    from pytest_codex.experiments import humanevalplus
    from pytest_codex.experiments.plus import PlusProblem
    from pytest_codex.reports.reporting import SessionReports
    from pytest_codex.reports.runs import LoadedRun

FIXTURE = "codex_case"
PAYLOAD = pytest.StashKey[dict]()  # the item's payload (JSON), put on its call report by the plugin


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
    selection: Selection = field(default_factory=lambda: Selection(()))  # --codex-tasks / --codex-limit
    models: list[ModelSource] = field(default_factory=list)
    executor: Executor | None = None
    executor_info: dict | None = None
    lanes: Lanes | None = None  # single process: samples run ahead of their items (--codex-lanes)
    planned: dict[str, list[Completion]] = field(default_factory=dict)  # case id -> what the lanes run
    collector: Collector = field(default_factory=Collector)
    prepared: dict[str, PrepareStats] = field(default_factory=dict)
    generation_done: bool = False
    selected: set[tuple[str, str]] | None = None  # (label, task id) of the selected items
    exec_started: float | None = None
    baseline: LoadedRun | None = None  # the run of --codex-compare (controller / single only)
    experiments: dict = field(default_factory=dict)  # the experiments' records for the results file
    plus: dict[str, PlusProblem] | None = None  # task_id -> plus tests (--codex-plus)
    time_limits: TimeLimits | None = None  # processes that execute
    humanevalplus: humanevalplus.HumanEvalPlus | None = None  # a suite in EvalPlus's format (processes that execute)
    config: pytest.Config | None = None  # for terminal output during generation (progress)
    notes: list[str] = field(default_factory=list)  # summary lines: settings that do not apply

    def cases(self) -> list[Case]:
        return [Case(m, p) for m in self.models for p in self.selection.problems]

    def model(self, label: str) -> ModelSource:
        return next(m for m in self.models if m.spec.label == label)

    def ks_for_display(self, max_n: int) -> tuple[int, ...]:
        if self.options.ks_explicit:
            return self.options.ks
        return tuple(k for k in self.options.ks if k == 1 or k <= max_n)

    def time_limit(self, problem: Problem) -> float:
        """The time limit of one sample of ``problem`` (seconds)."""
        if self.time_limits is not None and self.executor is not None:
            if self.lanes is not None:  # one measurement at a time
                return self.lanes.limit(problem, self.executor)
            return self.time_limits.limit(problem, self.executor)
        return self.options.timeout

    def prepare(self, cases: list[Case]) -> None:
        """Generation phase: make completions available for the selected cases."""
        if self.generation_done:
            return
        self.generation_done = True
        self.selected = {(c.model.spec.label, c.problem.task_id) for c in cases}
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
        if self.options.experiments.plus and self.suite.inputs is None:  # (EvalPlus's format: drawn where run)
            from pytest_codex.experiments.plus import prepare_plus  # lazy: --codex-plus only

            prepare_plus(self, [case.problem for case in cases])

    def start_lanes(self, cases: list[Case]) -> None:
        """Plan the samples of ``cases`` (in run order) on the lanes and start them."""
        if self.lanes is None:
            return
        assert self.time_limits is not None  # lanes run only where samples execute
        plan = []
        for case in cases:
            try:
                completions = case.model.completions(case.problem)
            except Exception:  # not planned: its item meets the same error and reports it
                continue
            if completions:
                self.planned[case.id] = completions  # the item takes them: the store is read once
                plan.append((case.id, case.problem, [c.text for c in completions]))
        self.lanes.start(plan, self.time_limits.limit)

    def stop_lanes(self) -> None:
        if self.lanes is not None:
            self.lanes.close()
            self.lanes = None

    def shutdown(self) -> None:
        self.stop_lanes()
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
    replays = ReplayStore(config.rootpath / ".codex")  # one per process: the lanes share it
    if role is not Role.CONTROLLER:
        workerinput = getattr(config, "workerinput", None)
        try:
            state.executor = make_executor(
                options.sandbox.mode,
                cpu=worker_cpu(workerinput),
                wall_factor=options.sandbox.time_guard,
                wait=False,
                replays=replays,
            )
        except SandboxUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
    state.lanes = _lanes(state, config, replays)
    config.stash[STATE_KEY] = state
    try:
        state.suite = load_suite(options.suite, options.experiments, config.rootpath / ".codex")
        state.selection = select(state.suite, options.tasks, options.limit, options.limit_seed)
        specs = [parse_model_spec(m) for m in options.models]
        labels = [s.label for s in specs]
        for s in specs:
            if labels.count(s.label) > 1:
                raise UnknownModelError(
                    f"--model={s.raw!r}: {labels.count(s.label)} models share the label {s.label!r}; "
                    "name them apart with LABEL=MODEL, e.g. --model=a=samples:x/out.jsonl "
                    "--model=b=samples:y/out.jsonl"
                )
        state.models = [create_model(s, state) for s in specs]
        state.models = expand_models(state.models, options)  # --codex-recipe / --codex-temperatures
        state.notes += inapplicable_generation_options(state, config)
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
                wall_factor=options.sandbox.time_guard,
            )
            assert state.executor_info is not None
            state.executor_info["time_limits"] = state.time_limits.describe()
            if state.lanes is not None and state.suite.inputs is None:
                for executor in state.lanes.executors():
                    executor.describe()  # its hello: strict mode refuses missing layers here too
                state.executor_info["lanes"] = len(state.lanes)
            elif state.lanes is not None:
                state.stop_lanes()
                if state.options.sandbox.lanes is not None:
                    state.notes.append(
                        _lanes_note(state, "an EvalPlus-format suite runs its samples in the main thread")
                    )
            if state.suite.inputs is not None:  # EvalPlus's format: per-input limits instead
                from pytest_codex.experiments import humanevalplus  # lazy: EvalPlus-format suites only

                rule = humanevalplus.limit_rule(options)
                state.humanevalplus = humanevalplus.HumanEvalPlus(
                    state.suite,
                    state.executor,
                    rule,
                    config.rootpath / ".codex",
                    humanevalplus.generation(options.experiments),
                )
                state.executor_info["time_limits"] = rule.describe()
        if role is not Role.WORKER:
            from pytest_codex.reports.reporting import load_baseline  # lazy: not in xdist workers

            state.baseline = load_baseline(state)
    except CodexUsageError as exc:
        state.shutdown()
        raise pytest.UsageError(exc.one_line()) from None
    return state


def _lanes(state: CodexState, config: pytest.Config, replays: ReplayStore) -> Lanes | None:
    """The lanes (``sandbox.lanes``), their executors started with the main one, before any
    problem is loaded: a single process that executes, unless --codex-lanes is 1.  Under
    xdist the workers are the lanes: an explicit --codex-lanes above 1 is a usage error on
    the command line, a note from the ini file."""
    box = state.options.sandbox
    if state.role is not Role.SINGLE:
        if box.lanes is not None and box.lanes > 1 and box.lanes_source == "command line":
            state.shutdown()
            raise pytest.UsageError(
                f"--codex-lanes={box.lanes} with -n/--tx: each xdist worker runs its samples one at a time "
                "(the workers are the lanes); drop --codex-lanes, or drop -n to run lanes in one process"
            )
        if box.lanes is not None and box.lanes > 1 and state.role is Role.CONTROLLER:
            state.notes.append(_lanes_note(state, "each xdist worker is one lane"))
        return None
    skip = config.getoption("collectonly") or state.options.server.generate_only
    count = box.lane_count(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if skip or count < 2 or state.executor is None:
        return None

    def open_executor(cpu: int | None) -> SandboxExecutor:
        return make_executor(box.mode, cpu=cpu, wall_factor=box.time_guard, wait=False, replays=replays)

    lanes = Lanes(open_executor, count)
    try:
        lanes.executors()  # spawned now, before any problem or model is loaded into this process
    except SandboxUnavailable as exc:
        lanes.close()
        state.shutdown()
        raise pytest.UsageError(str(exc)) from None
    return lanes


def _lanes_note(state: CodexState, why: str) -> str:
    box = state.options.sandbox
    return f"codex: --codex-lanes={box.lanes} ({box.lanes_source}) does not apply: {why}"


def inapplicable_generation_options(state: CodexState, config: pytest.Config) -> list[str]:
    """Generation options for a run whose models generate nothing (``reference``, a samples
    file): on the command line a usage error (they were meant for this run, and would be
    ignored); from the ini file one line each, shown with the summary (the ini file serves
    every run of the project, generating or not)."""
    if any(m.params is not None for m in state.models):
        return []
    fixed = " and ".join(f"--model={m.spec.raw}" for m in state.models)
    notes = []
    for option in generation.OPTIONS:
        if option is generation.CACHE_DIR:
            continue  # where the store is: not a generation setting
        source = state.options.sources.get(option.flag)
        if source == "command line":
            given = option.flag if option.kind == "flag" else f"{option.flag}={config.getoption(option.dest)!r}"
            raise CodexUsageError(
                f"{given}: {fixed} generates nothing (its completions are fixed), so a generation option "
                f"cannot apply; drop {option.flag}, or add a generating model (e.g. --model=smollm2)"
            )
        if source == "ini":
            notes.append(
                f"codex: ini option {option.ini} does not apply: {fixed} generates nothing; it is not used in this run"
            )
    return notes


def header_lines(state: CodexState) -> list[str]:
    s = state.suite
    fmt = f"EvalPlus format, release {s.release or 'unknown'}, " if s.inputs is not None else ""
    lines = [
        f"codex: suite {s.name} ({len(s.problems)} problems, {fmt}sha256 {s.sha256[:12]}"
        + (f"; {len(state.selection.problems)} {state.selection.description}" if state.selection.description else "")
        + "), "
        f"models: {', '.join(f'{m.spec.label}={m.spec.raw}' if m.spec.labelled else m.spec.raw for m in state.models)}"
    ]
    info = state.executor_info
    if info:
        layers = info.get("layers") or {}
        line = f"codex: executor {info.get('executor')}, isolation: " + ", ".join(k for k, v in layers.items() if v)
        missing = info.get("missing") or {}
        if missing:
            line += "; MISSING: " + ", ".join(f"{k} ({v})" for k, v in missing.items())
        if info.get("lanes"):
            line += f"; lanes: {info['lanes']} (samples run ahead of their items, one executor each; --codex-lanes)"
        lines.append(line)
    for m in state.models:
        params = m.params_json()
        if params.get("device") == "cpu" and params.get("dtype") not in (None, "float32"):
            lines.append(
                f"codex: {m.spec.label}: {params['dtype']} on CPU (opted in with --codex-dtype): its completions "
                "can differ from the float32 default's, and between CPUs with and without native support"
            )
    return lines + thread_lines(state.models)


def item_timeout(state: CodexState, case: Case) -> float:
    """pytest-timeout's bound for one item: every sample at the largest wall-clock guard."""
    if state.suite.inputs is not None:
        from pytest_codex.experiments import humanevalplus  # lazy: EvalPlus-format suites only

        return humanevalplus.item_seconds(case.model.max_samples)
    guard = state.options.sandbox.time_guard
    limit = state.time_limits.upper_bound() if state.time_limits else guard * state.options.timeout
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


@dataclass(frozen=True)
class FailureLimits:
    """How much of a failing sample the failure text shows; -v and -vv raise it, as they
    raise pytest's own assertion output.  None: everything."""

    lines: int | None  # completion lines and detail lines
    width: int | None  # characters of one line
    output: int | None  # lines of the output's tail

    @classmethod
    def at(cls, verbosity: int) -> FailureLimits:
        if verbosity >= 2:
            return cls(None, None, None)
        if verbosity == 1:
            return cls(120, 400, 20)
        return cls(30, 160, 5)


def _cut(line: str, width: int | None) -> str:
    line = text.clean(line, 100_000)  # control and escape characters made visible, whatever the width
    return line if width is None or len(line) <= width else line[: width - 1] + "…"


def _limited(lines: list[str], limit: int | None, more: str) -> list[str]:
    if limit is None or len(lines) <= limit:
        return lines
    return lines[:limit] + [more.format(len(lines) - limit)]


def completion_lines(prompt: str, completion: str, limits: FailureLimits) -> tuple[str, list[str]]:
    """(heading, lines) of the completion: runs of lines that repeat the prompt (a completion
    that restates the signature and docstring) fold into one line, so the completion's own
    lines come first; -vv shows every line as it is."""
    lines = completion.splitlines()
    if limits.lines is None:
        return f"completion ({len(lines)} lines):", ["  | " + line for line in lines]
    in_prompt = {line.strip() for line in prompt.splitlines() if line.strip()}
    # a line repeats the prompt if it is one of its lines; a blank line goes with the next
    # non-blank one
    repeats: list[bool] = []
    following = False
    for line in reversed(lines):
        following = line.strip() in in_prompt if line.strip() else following
        repeats.append(following)
    repeats.reverse()
    out: list[str] = []
    run = 0
    repeated = 0
    for line, repeat in zip(lines, repeats):
        if repeat:
            run += 1
            continue
        if run:
            out.append(f"  : ({run} lines as in the prompt)")
            repeated += run
            run = 0
        out.append("  | " + _cut(line, limits.width))
    if run:
        out.append(f"  : ({run} lines as in the prompt)")
        repeated += run
    heading = f"completion ({len(lines)} lines"
    heading += f", {repeated} of them repeat the prompt):" if repeated else "):"
    return heading, _limited(out, limits.lines, "  | ... ({} more lines; -v or -vv shows more)")


def failure_text(case: Case, samples: list[SampleRecord], verbosity: int = 0, on: str = "") -> str:
    limits = FailureLimits.at(verbosity)
    n = len(samples)
    first = next(s for s in samples if s.verdict is not Verdict.PASSED)
    head = f"0/{n} samples passed{on} for {case.problem.task_id} ({case.model.spec.label}); "
    head += f"first failing sample #{first.index}: {first.verdict}"
    if first.error_type and first.verdict is not Verdict.FAILED:
        head += f" ({first.error_type})"
    lines = [head]
    if first.detail:
        detail = ["  " + _cut(line, limits.width) for line in first.detail.splitlines()]
        lines += _limited(detail, limits.lines, "  ... ({} more lines; -v or -vv shows more)")
    if first.completion.strip():
        heading, shown = completion_lines(case.problem.prompt, first.completion, limits)
        lines += [heading, *shown]
    if first.output:
        tail = first.output.splitlines()
        tail = tail if limits.output is None else tail[-limits.output :]
        lines.append("output (tail):")
        lines += ["  > " + _cut(line, limits.width) for line in tail]
    return "\n".join(lines)


def record(state: CodexState, node: pytest.Item, payload: ProblemPayload) -> None:
    """The item's result: the payload for the controller, a few scalars for JUnit."""
    node.stash[PAYLOAD] = payload.to_json()
    node.user_properties.extend(junit_properties(payload, samples=state.options.reports.junit_samples))


def run_case(state: CodexState, case: Case, node: pytest.Item) -> None:
    """Execute one item: every completion of the case in the sandbox; record the payload."""
    if state.exec_started is None:
        state.exec_started = time.perf_counter()
    start = time.perf_counter()
    completions = state.planned.pop(case.id, None) or case.model.completions(case.problem)
    label, task_id = case.model.spec.label, case.problem.task_id
    if not completions:
        record(state, node, ProblemPayload(label, task_id, attempted=False))
        pytest.skip(f"not attempted: {label} has no samples for {task_id}")
    assert state.executor is not None
    plus = None
    if state.humanevalplus is not None:  # EvalPlus's format: base and plus inputs, EvalPlus's rules
        from pytest_codex.experiments import humanevalplus  # lazy: EvalPlus-format suites only

        samples, plus = humanevalplus.run_problem(state.humanevalplus, case.problem, completions)
    else:
        texts = [comp.text for comp in completions]
        if state.lanes is not None:
            results = state.lanes.results(case.id, case.problem, texts, state.executor)
        else:
            limit = state.time_limit(case.problem)
            results = [state.executor.run(case.problem, text, limit) for text in texts]
        samples = [SampleRecord.of(comp, result) for comp, result in zip(completions, results)]
        if state.options.experiments.plus:
            from pytest_codex.experiments.plus import run_plus  # lazy: --codex-plus only

            plus = run_plus(state, case.problem, completions, samples)
    payload = ProblemPayload.scored(label, task_id, samples, plus=plus, exec_seconds=time.perf_counter() - start)
    record(state, node, payload)
    verbosity = node.config.get_verbosity(pytest.Config.VERBOSITY_ASSERTIONS)
    if state.humanevalplus is not None:  # the item passes when a sample passes base and plus
        if plus is not None and plus["c"] == 0:
            on = " on base and plus inputs (HumanEval+)"
            from pytest_codex.experiments.humanevalplus import plus_view  # lazy: EvalPlus-format suites only

            pytest.fail(failure_text(case, plus_view(samples), verbosity, on), pytrace=False)
    elif payload.c == 0:
        pytest.fail(failure_text(case, samples, verbosity), pytrace=False)


# -- the end of the run (controller / single process) -------------------------------------


class Summary:
    """Collects reports, prints the pass@k summary, writes the files, sets the exit status."""

    def __init__(self, state: CodexState) -> None:
        self.state = state
        self._cache: tuple[list[ModelResult], tuple[int, ...]] | None = None
        self.reports: SessionReports | None = None  # built in finish()
        self.ending = Ending.COMPLETE
        self.gate_lines: list[tuple[str, bool]] = []  # (line, ok): the gates' verdicts on coverage

    def add_report(self, report: pytest.TestReport) -> None:
        if self.state.exec_started is None:
            self.state.exec_started = time.perf_counter()
        self.state.collector.add_report(report)

    def keyboard_interrupt(self, exc: BaseException) -> None:
        """pytest-xdist stops a run for -x/--maxfail by raising its own ``Interrupted`` (a
        KeyboardInterrupt): that is a stop, not an interrupt."""
        stopped = type(exc).__module__.startswith("xdist") and "keyboard-interrupt" not in str(exc)
        self.ending = Ending.STOPPED if stopped else Ending.INTERRUPTED

    def _unscored(self) -> dict[tuple[str, str], Gap]:
        by_suffix = {f"[{c.id}]": (c.model.spec.label, c.problem.task_id) for c in self.state.cases()}
        out = {}
        for nodeid, gap in self.state.collector.unscored.items():
            for i, ch in enumerate(nodeid):
                if ch == "[" and nodeid[i:] in by_suffix:
                    out[by_suffix[nodeid[i:]]] = gap
                    break
        return out

    def worker_done(self, node: Any) -> None:
        info = getattr(node, "workeroutput", {}).get("codex_executor")
        if info and self.state.executor_info is None:
            self.state.executor_info = info

    def results(self) -> tuple[list[ModelResult], tuple[int, ...]]:
        if self._cache is None:  # called after the last report only
            state = self.state
            all_n = [p.n for p in state.collector.payloads.values()]
            ks = state.ks_for_display(max(all_n, default=1))
            results = state.collector.results(
                state.models, state.suite, ks, selected=state.selected, unscored=self._unscored(), ending=self.ending
            )
            self._cache = results, ks
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
        for note in state.notes:
            tr.line(note, yellow=True)
        scope = scope_line(results, state.suite.name)
        tr.line(f"{scope} ({state.selection.description})" if state.selection.description else scope)
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
            threshold = state.options.fail_under
            met = all((x := r.pass_at_k.get(1)) is not None and x >= threshold for r in results)
            tr.line(  # coloured as pytest colours its own summary (--color)
                f"--codex-fail-under={threshold:g}: "
                + ", ".join(f"{r.label} pass@1 {fmt_rate(r.pass_at_k.get(1))}" for r in results)
                + (": ok" if met else ": FAILED"),
                green=met,
                red=not met,
            )
        for line, ok in self.gate_lines:
            tr.line(line, **({"green": True} if ok else {"red": True}))
        if self.reports is not None:
            from pytest_codex.reports.reporting import summary_lines  # lazy: the controller's end only

            for line, markup in summary_lines(self.reports, width=tr._tw.fullwidth):
                tr.line(line, **markup)

    def finish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if self.ending is Ending.COMPLETE:
            if exitstatus == pytest.ExitCode.INTERRUPTED:
                self.ending = Ending.INTERRUPTED
            elif session.shouldstop or session.shouldfail:
                self.ending = Ending.STOPPED
        if self.ending is Ending.STOPPED and exitstatus == pytest.ExitCode.INTERRUPTED:
            exitstatus = pytest.ExitCode.TESTS_FAILED  # pytest-xdist's -x: a stop, as without -n
        self._cache = None
        results, ks = self.results()
        from pytest_codex.reports import reporting  # lazy: the controller's end only

        if state.collector.payloads:
            self.reports = reporting.build(state, results, ks)
            reporting.write_files(state, results, ks, self.reports)
        gated = state.options.fail_under is not None or state.options.reports.fail_regression is not None
        if gated:
            self.gate_lines = reporting.partial_gate(results, state.options.reports.allow_partial)
        if gated and exitstatus in (0, 1):
            ok = bool(results) and not state.collector.harness_errors
            ok = ok and all(passes for _, passes in self.gate_lines)
            threshold = state.options.fail_under
            if threshold is not None:
                ok = ok and all((x := r.pass_at_k.get(1)) is not None and x >= threshold for r in results)
            if state.options.reports.fail_regression is not None:
                ok = ok and self.reports is not None and not self.reports.regressed
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED
        if self.reports is not None and self.reports.errors:  # a file asked for was not written
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
