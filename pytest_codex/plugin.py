"""The pytest plugin (entry point ``pytest11: codex``).

Process roles: *single* (no xdist) generates, executes and reports; under xdist the
*controller* generates and reports, *workers* only execute.  Nothing here imports torch
or model code; backends load lazily when a model is created.
"""

from __future__ import annotations

import sys
import time

import pytest

from . import options as opts
from .execution import make_executor
from .item import run_case
from .models import ModelError, UnknownModelError, create_model, parse_model_spec
from .models.samples import SamplesFileError
from .outputs import write_samples_out
from .problems import ProblemFileError, load_suite
from .runs import RunFileError
from .sandbox.executor import SandboxUnavailable, worker_cpu
from .sandbox.timelimits import TimeLimits
from .state import CONTROLLER, SINGLE, STATE_KEY, WORKER, Case, CodexState, get_state
from .summary import fmt_rate, render_table, scope_line

FIXTURE = "codex_case"


def pytest_addoption(parser: pytest.Parser) -> None:
    opts.addoption(parser)


def _role(config: pytest.Config) -> str:
    if hasattr(config, "workerinput"):
        return WORKER
    # xdist distributes only with a --dist mode *and* nodes (-n N sets both; --tx needs --dist):
    # `--dist=load` alone, or `--tx` alone, runs everything in this process.
    distributing = config.getoption("dist", "no") not in (None, "no") and bool(config.getoption("tx", None))
    if distributing and not config.getoption("collectonly", False):
        return CONTROLLER
    return SINGLE


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a pytest-codex problem item")
    options = opts.CodexOptions.from_config(config)  # validates even without --model
    if not options.models:
        return
    role = _role(config)
    if options.server.generate_only and role != SINGLE:
        raise pytest.UsageError("--codex-generate-only with -n/--tx: generation runs in one process; "
                                "drop -n/--tx for the generating run, then execute with them")
    state = CodexState(options=options, role=role, command=list(sys.argv), config=config)
    # The executor (the sandbox's fork helper) starts before any problem, test or
    # canonical solution is loaded into this process.
    if role != CONTROLLER:
        try:
            state.executor = make_executor(options.sandbox.mode, cpu=worker_cpu(getattr(config, "workerinput", None)))
        except SandboxUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
        state.executor_info = state.executor.describe()
        if role == WORKER:  # the controller's manifest records what isolation the workers had
            config.workeroutput["codex_executor"] = state.executor_info
    config.stash[STATE_KEY] = state
    try:
        state.suite = load_suite(options.suite, options)
        specs = [parse_model_spec(m) for m in options.models]
        labels = [s.label for s in specs]
        for s in specs:
            if labels.count(s.label) > 1:
                raise UnknownModelError(f"--model={s.raw!r} is given twice (or two models share the label {s.label!r})")
        state.models = [create_model(s, state) for s in specs]
        from .recipe import expand_models

        state.models = expand_models(state.models, options)  # --codex-recipe / --codex-temperatures
        if state.executor is not None:
            state.time_limits = TimeLimits(
                floor=options.sandbox.time_floor, factor=options.sandbox.time_factor,
                override=options.sandbox.timeout, cache_dir=config.rootpath / ".codex",
                suite_sha256=state.suite.sha256)
            state.executor_info["time_limits"] = state.time_limits.describe()
        if role != WORKER:
            from .reporting import load_baseline

            state.baseline = load_baseline(state)
    except (ProblemFileError, SamplesFileError, UnknownModelError, ModelError, RunFileError) as exc:
        _shutdown(state)
        raise pytest.UsageError(str(exc).replace("\n", " ")) from None
    if role == CONTROLLER:
        config.pluginmanager.register(_ControllerHooks(state), "codex-controller")


def _shutdown(state: CodexState) -> None:
    if state.time_limits is not None:
        state.time_limits.save()
    if state.executor is not None:
        state.executor.close()
        state.executor = None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = get_state(config)
    if state is not None:
        _shutdown(state)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = get_state(config)
    if state is None:
        return None
    s = state.suite
    lines = [f"codex: suite {s.name} ({len(s.problems)} problems, sha256 {s.sha256[:12]}), "
             f"models: {', '.join(m.spec.raw for m in state.models)}"]
    info = state.executor_info
    if info:
        layers = info.get("layers") or {}
        line = f"codex: executor {info.get('executor')}, isolation: " + ", ".join(k for k, v in layers.items() if v)
        missing = info.get("missing") or {}
        if missing:
            line += "; MISSING: " + ", ".join(f"{k} ({v})" for k, v in missing.items())
        lines.append(line)
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    state = get_state(metafunc.config)
    cases = state.cases() if state is not None else []  # no --model: refused at modifyitems
    metafunc.parametrize(FIXTURE, cases, ids=[c.id for c in cases], indirect=True)


@pytest.fixture
def codex_case(request: pytest.FixtureRequest) -> "BoundCase":
    """The (model, problem) of this item, bound to the session; call ``.run()``."""
    return BoundCase(get_state(request.config), request.param, request.node)


class BoundCase:
    def __init__(self, state: CodexState, case: Case, node: pytest.Item) -> None:
        self.state, self.case, self.node = state, case, node

    def run(self) -> None:
        run_case(self.state, self.case, self.node)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = get_state(config)
    if state is None and any(FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        raise pytest.UsageError(
            "no --model given: the HumanEval items need a model; run e.g. "
            "`pytest --model=reference` (or `pytest tests` for the project's own tests)")
    if state is None or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get(FIXTURE)
        if isinstance(case, Case) and item.get_closest_marker("timeout") is None:
            n = getattr(case.model, "max_samples", 200)
            limit = state.time_limits.upper_bound() if state.time_limits else state.options.timeout
            item.add_marker(pytest.mark.timeout(60 + n * (limit + 5)))


def pytest_collection_finish(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is None or state.role != SINGLE or session.config.getoption("collectonly"):
        return
    cases = [it.callspec.params[FIXTURE] for it in session.items
             if getattr(it, "callspec", None) and isinstance(it.callspec.params.get(FIXTURE), Case)]
    state.prepare(cases)
    if state.options.server.generate_only:
        _generate_only(session, state)


def _generate_only(session: pytest.Session, state: CodexState) -> None:
    """``--codex-generate-only``: the store now holds every selected sample; execute nothing."""
    session.config.hook.pytest_deselected(items=list(session.items))
    session.items[:] = []
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    for label, st in state.prepared.items():
        tr.write_line(f"codex: --codex-generate-only: {label}: {st.generated} generated, {st.from_store} already "
                      f"in the store ({st.seconds:.1f} s); store: {state.options.generation.cache_dir}")


class _ControllerHooks:
    """xdist controller: generation happens here, before any worker runs an item."""

    def __init__(self, state: CodexState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if self.state.generation_done:
            return
        by_suffix = {f"[{c.id}]": c for c in self.state.cases()}
        selected = []
        for nodeid in ids:
            for i, ch in enumerate(nodeid):
                if ch == "[" and nodeid[i:] in by_suffix:
                    selected.append(by_suffix[nodeid[i:]])
                    break
        self.state.prepare(selected)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is not None and state.role != WORKER:
        session.config.pluginmanager.register(_Reporting(state, session.config), "codex-reporting")
        from .experiments import ExperimentsReporting

        session.config.pluginmanager.register(ExperimentsReporting(state), "codex-experiments")


class _Reporting:
    """Controller / single process: collect reports, print the summary, write files."""

    def __init__(self, state: CodexState, config: pytest.Config) -> None:
        self.state = state
        self.config = config
        self.started = time.perf_counter()
        self._cache = None
        self.reports = None  # reporting.SessionReports, built in pytest_sessionfinish

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.state.exec_started is None:
            self.state.exec_started = time.perf_counter()
        self.state.collector.add_report(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        info = getattr(node, "workeroutput", {}).get("codex_executor")
        if info and self.state.executor_info is None:
            self.state.executor_info = info

    def _results(self):
        if self._cache is None:  # called after the last report only
            all_n = [p["n"] for p in self.state.collector.payloads.values()]
            ks = self.state.ks_for_display(max(all_n, default=1))
            self._cache = self.state.collector.results(self.state.models, self.state.suite, ks), ks
        return self._cache

    def pytest_terminal_summary(self, terminalreporter) -> None:
        state = self.state
        if not state.collector.payloads:
            return
        results, ks = self._results()
        tr = terminalreporter
        tr.section(f"pytest-codex: {state.suite.name}")
        tr.line(scope_line(results, state.suite.name))
        for line in render_table(results, ks, width=tr._tw.fullwidth):
            tr.line(line)
        exec_wall = (time.perf_counter() - state.exec_started) if state.exec_started else 0.0
        for r in results:
            st = state.prepared.get(r.label)
            exec_s = sum(p.get("exec_seconds", 0.0) for p in r.problems)
            gen = (f"generate {st.seconds:.1f} s ({st.generated} generated, {st.from_store} from store); "
                   if st and (st.generated or st.from_store) else "")
            tr.line(f"time {r.label}: {gen}execute {exec_s:.1f} s in items ({exec_wall:.1f} s wall)")
        if state.collector.harness_errors:
            tr.line(f"harness errors: {len(state.collector.harness_errors)} item(s) failed outside the "
                    f"benchmark, e.g. {state.collector.harness_errors[0]}", red=True)
        if state.options.fail_under is not None:
            tr.line(f"--codex-fail-under={state.options.fail_under:g}: " + ", ".join(
                f"{r.label} pass@1 {fmt_rate(r.pass_at_k.get(1))}" for r in results))
        if self.reports is not None:
            from .reporting import summary_lines

            for line, markup in summary_lines(self.reports):
                tr.line(line, **markup)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        state = self.state
        results, ks = self._results()
        if state.collector.payloads:
            from . import reporting

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
            if state.options.fail_under is not None:
                ok = ok and all(r.pass_at_k.get(1) is not None and r.pass_at_k[1] >= state.options.fail_under
                                for r in results)
            if state.options.reports.fail_regression is not None:
                ok = ok and self.reports is not None and not self.reports.regressed
            session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED
        if self.reports is not None and self.reports.errors:  # a file asked for was not written
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
