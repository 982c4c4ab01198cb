"""The pytest plugin (entry point ``pytest11: codex``): pytest hooks only.

Each hook delegates to ``pytest_codex.session``.  Nothing imported here imports torch or
model code; backends load lazily when a model is created.

Loading it twice is harmless: registered under one of its names (the entry point's
``codex``, the module's ``pytest_codex.plugin`` from ``-p`` or ``pytest_plugins``), it
blocks the other, so pytest skips the second registration instead of failing.
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import options
from pytest_codex.core.roles import Role
from pytest_codex.reports import durations
from pytest_codex.reports.results import MARKER, PAYLOAD_ATTR
from pytest_codex.reports.stats import import_numpy_in_background
from pytest_codex.session import (
    FIXTURE,
    PAYLOAD,
    Case,
    CodexState,
    Summary,
    get_state,
    header_lines,
    item_timeout,
    run_case,
    selected_cases,
    start,
)

HYPOTHESIS_PLUGIN = "hypothesispytest"  # hypothesis's own pytest plugin (its pytest11 entry point)
PLUGIN_NAMES = ("codex", __name__)  # the pytest11 entry point's name, the module's name
# the test module collected when --model is given without test paths (imported by pytest only)
SUITE_MODULE = Path(__file__).resolve().parent / "suite" / "test_humaneval.py"


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: pytest.PytestPluginManager) -> None:
    if plugin is sys.modules[__name__]:
        for name in PLUGIN_NAMES:
            if name != plugin_name and manager.get_plugin(name) is None:
                manager.set_blocked(name)  # this module is loaded: its other name is a no-op


def pytest_addoption(parser: pytest.Parser) -> None:
    options.addoption(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a pytest-codex problem item")
    state = start(config)
    if state is not None and config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR:
        config.args[:] = [str(SUITE_MODULE.parent)]  # no test paths and no testpaths: the packaged suite
    if state is not None and state.role is Role.CONTROLLER:
        config.pluginmanager.register(_ControllerHooks(state), "codex-controller")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = get_state(config)
    if state is not None:
        state.shutdown()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = get_state(config)
    deselected = terminalreporter.stats.get("deselected")
    if state is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not deselected:
        terminalreporter.write_line(
            f"codex: no collected test takes the {FIXTURE} fixture. pytest collects pytest-codex's own "
            "suite module only when no test paths are given and the ini file sets no testpaths; run "
            "`pytest --model=... --pyargs pytest_codex.suite`, or add a test module with "
            f"`def test_humaneval({FIXTURE}): {FIXTURE}.run()`",
            yellow=True,
        )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """The packaged suite module even when the ini's ``python_files`` would not match it."""
    patterns = parent.config.getini("python_files")
    if file_path == SUITE_MODULE and not any(fnmatch.fnmatch(file_path.name, p) for p in patterns):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is not None and state.role is Role.WORKER:
        state.shutdown()  # no item runs after this: the fork server exits while the worker winds down
    if state is not None:
        _skip_idle_hypothesis_summary(session.config.pluginmanager)


def _skip_idle_hypothesis_summary(manager: pytest.PytestPluginManager) -> None:
    """Hypothesis's pytest plugin reports, in its terminal summary, on the hypothesis tests
    that ran (statistics, failing examples, observations); to find out, it imports hypothesis
    (0.1-0.15 s, in the controller and in every xdist worker, after the last item).  When
    nothing imported hypothesis, no hypothesis test ran and it has nothing to report: it is
    unregistered before the summary, which prints the same."""
    plugin = manager.get_plugin(HYPOTHESIS_PLUGIN)
    if plugin is not None and "hypothesis" not in sys.modules:
        manager.unregister(plugin)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = get_state(config)
    return header_lines(state) if state is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    state = get_state(metafunc.config)
    cases = state.cases() if state is not None else []  # no --model: refused at modifyitems
    metafunc.parametrize(FIXTURE, cases, ids=[c.id for c in cases], indirect=True)


@pytest.fixture
def codex_case(request: pytest.FixtureRequest) -> BoundCase:
    """The (model, problem) of this item, bound to the session; call ``.run()``."""
    state = get_state(request.config)
    assert state is not None
    return BoundCase(state, request.param, request.node)


class BoundCase:
    def __init__(self, state: CodexState, case: Case, node: pytest.Item) -> None:
        self.state, self.case, self.node = state, case, node

    def run(self) -> None:
        run_case(self.state, self.case, self.node)


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get(FIXTURE) if callspec is not None else None
    return case if isinstance(case, Case) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = get_state(config)
    if state is None and any(FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        raise pytest.UsageError(
            "no --model given: the HumanEval items need a model; run e.g. "
            "`pytest --model=reference` (or `pytest tests` for the project's own tests)"
        )
    if state is None:
        return
    timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        case = _case_of(item)
        if case is None:
            continue
        item.add_marker(MARKER)  # the controller tells problem items by it (report.keywords)
        if timeout and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(item_timeout(state, case)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    payload = item.stash.get(PAYLOAD, None)
    if payload is not None and report.when == "call":
        setattr(report, PAYLOAD_ATTR, payload)  # plain JSON: crosses xdist with the report
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is None or state.role is not Role.SINGLE or session.config.getoption("collectonly"):
        return
    cases = [c for c in map(_case_of, session.items) if c is not None]
    state.prepare(cases)
    if state.options.server.generate_only:
        _generate_only(session, state)
    else:
        state.start_lanes(cases)


def _generate_only(session: pytest.Session, state: CodexState) -> None:
    """``--codex-generate-only``: the store now holds every selected sample; execute nothing."""
    session.config.hook.pytest_deselected(items=list(session.items))
    session.items[:] = []
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    assert tr is not None
    for label, st in state.prepared.items():
        tr.write_line(
            f"codex: --codex-generate-only: {label}: {st.generated} generated, {st.from_store} already "
            f"in the store ({st.seconds:.1f} s); store: {state.options.generation.cache_dir}"
        )


class _ControllerHooks:
    """xdist controller: generation happens here, before any worker runs an item."""

    def __init__(self, state: CodexState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.state.generation_done:
            self.state.prepare(selected_cases(self.state, ids))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """``--dist load`` (xdist's default): the items that took longest last time first."""
        if config.getoption("dist", None) != "load":
            return None
        known = durations.load(config.rootpath / durations.FILE)
        return _longest_first_scheduler(config, log, known) if known else None


def _longest_first_scheduler(config: pytest.Config, log: Any, known: dict[str, float]) -> Any:
    """xdist's ``LoadScheduling`` with the pending items in ``durations.longest_first`` order,
    the first chunk of each worker dealt so that their recorded durations are even (the
    longest to the worker with the least so far).  Everything else is xdist's own."""
    from xdist.scheduler import LoadScheduling  # lazy: only xdist's controller schedules

    class LongestFirst(LoadScheduling):
        def schedule(self) -> None:
            if self.collection is not None or not self._check_nodes_have_same_collection():  # type: ignore[has-type]
                return super().schedule()
            collection = next(iter(self.node2collection.values()))
            nodes = self.nodes
            if not any(n in known for n in collection) or len(collection) < 2 * len(nodes):
                return super().schedule()
            self.collection = collection
            self.pending[:] = durations.longest_first(collection, known)
            if self.maxschedchunk is None:  # type: ignore[has-type]
                self.maxschedchunk = len(collection)
            chunk = max(2, min(len(collection) // len(nodes) // 4, self.maxschedchunk))  # as LoadScheduling's
            load = dict.fromkeys(nodes, 0.0)
            for _ in range(min(chunk * len(nodes), len(self.pending))):
                node = min((n for n in nodes if len(self.node2pending[n]) < chunk), key=load.__getitem__)
                load[node] += known.get(collection[self.pending[0]], 0.0)
                self._send_tests(node, 1)
            if not self.pending:
                for node in nodes:
                    node.shutdown()

    return LongestFirst(config, log)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is not None and state.role is not Role.WORKER:
        from pytest_codex.experiments.sections import ExperimentsReporting  # lazy: not in workers

        session.config.pluginmanager.register(_Reporting(Summary(state)), "codex-reporting")
        session.config.pluginmanager.register(_Durations(session.config.rootpath / durations.FILE), "codex-durations")
        session.config.pluginmanager.register(ExperimentsReporting(state), "codex-experiments")
        if not session.config.getoption("collectonly"):
            import_numpy_in_background()


class _Durations:
    """Controller / single process: record how long each problem item took (``durations``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ran: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if MARKER in report.keywords:
            self.ran[report.nodeid] = self.ran.get(report.nodeid, 0.0) + report.duration

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        durations.save(self.path, self.ran)


class _Reporting:
    """Controller / single process: collect reports, print the summary, write files."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.summary.add_report(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.summary.keyboard_interrupt(excinfo.value)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        try:
            result = yield
        finally:
            self.summary.state.stop_lanes()  # no item runs after this (-x, Ctrl-C: nothing more is computed)
        self.summary.precompute()  # every report is in; under xdist the workers are shutting down
        return result

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.summary.worker_done(node)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self.summary.terminal_summary(terminalreporter)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.summary.finish(session, exitstatus)
