"""A pytest plugin for ``bench_phases.py``: timestamps of one process's phases, written as JSON.

Loaded with ``-p phase_probe`` (``benchmarks/`` on ``PYTHONPATH``) into the controller and,
through xdist, into every worker; each process writes ``$CODEX_PHASES_DIR/<pid>.json`` when it
unconfigures.  It wraps, without changing them, the plugin's configure (``pytest_codex.plugin.start``), the
fork server's start
(``SandboxExecutor.__init__``), the samples' execution (``SandboxExecutor.run``; with lanes,
the items' wait in ``Lanes.results``) and the time-limit calibration (``TimeLimits._measure``),
each as the main thread sees it.  Times are ``time.time()`` (comparable
between processes) or durations in seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

IMPORTED = time.time()


def _process_start() -> float:
    """This process's start time (wall clock), from /proc (10 ms resolution)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return IMPORTED


record: dict = {
    "pid": os.getpid(),
    "process_start": _process_start(),
    "probe_imported": IMPORTED,
    "fork_server": 0.0,  # seconds in SandboxExecutor.__init__
    "calibration": 0.0,  # seconds in TimeLimits._measure
    "execution": 0.0,  # seconds in SandboxExecutor.run outside calibration
    "samples": 0,
    "lane_samples": 0,  # samples run by lanes' threads (their time is the items' wait, in execution)
    "items": 0,
    "item_protocol": 0.0,  # seconds inside pytest_runtest_protocol, summed
    "first_item": None,
    "last_item_end": None,
}
_in_calibration = False
_in_lanes = False


def _wrap() -> None:
    from pytest_codex.sandbox.executor import SandboxExecutor

    try:
        from pytest_codex.sandbox.lanes import Lanes
    except ImportError:  # a checkout from before lanes (bench_phases.py --tree)
        Lanes = None
    from pytest_codex.sandbox.timelimits import TimeLimits

    init, run, measure = SandboxExecutor.__init__, SandboxExecutor.run, TimeLimits._measure
    results = Lanes.results if Lanes is not None else None

    def main_thread() -> bool:  # lanes (``sandbox.lanes``) run samples in threads of their own
        return threading.current_thread() is threading.main_thread()

    def timed_init(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return init(self, *args, **kwargs)
        finally:
            if main_thread():
                record["fork_server"] += time.perf_counter() - start

    def timed_run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return run(self, *args, **kwargs)
        finally:
            if not main_thread():
                record["lane_samples"] += 1
            elif not _in_calibration and not _in_lanes:
                record["execution"] += time.perf_counter() - start
                record["samples"] += 1

    def timed_results(self, key, problem, completions, here):
        # with lanes, an item's execution is its wait for its samples (some it may run itself)
        global _in_lanes
        start = time.perf_counter()
        _in_lanes = True
        try:
            return results(self, key, problem, completions, here)
        finally:
            _in_lanes = False
            record["execution"] += time.perf_counter() - start
            record["samples"] += len(completions)

    def timed_measure(*args, **kwargs):
        global _in_calibration
        if not main_thread():  # a lane's: inside the wait of the item that needs it
            return measure(*args, **kwargs)
        start = time.perf_counter()
        _in_calibration = True
        try:
            return measure(*args, **kwargs)
        finally:
            _in_calibration = False
            record["calibration"] += time.perf_counter() - start

    def accumulate(cls, name: str, key: str) -> None:
        original = getattr(cls, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                record[key] = record.get(key, 0.0) + time.perf_counter() - start

        setattr(cls, name, timed)

    import pytest_codex.plugin
    from pytest_codex.session import Summary

    start_session = pytest_codex.plugin.start

    def timed_start(config):  # the plugin's pytest_configure: fork server, suite, models
        record["configure_start"] = time.time()
        try:
            return start_session(config)
        finally:
            record["configure_end"] = time.time()

    pytest_codex.plugin.start = timed_start  # type: ignore[assignment]

    accumulate(Summary, "finish", "codex_finish")  # results, results files
    try:
        from xdist.workermanage import NodeManager

        accumulate(NodeManager, "teardown_nodes", "xdist_teardown")  # waits for the workers to exit
    except ImportError:
        pass

    SandboxExecutor.__init__ = timed_init  # type: ignore[method-assign]
    SandboxExecutor.run = timed_run  # type: ignore[method-assign]
    TimeLimits._measure = staticmethod(timed_measure)  # type: ignore[method-assign]
    if Lanes is not None:
        Lanes.results = timed_results  # type: ignore[method-assign]


_wrap()


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    record["role"] = workerinput["workerid"] if workerinput else "controller"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    record["session_start"] = time.time()  # xdist has not started its workers yet


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    record["collection_start"] = time.time()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    record["collection_end"] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    start = time.time()
    if record["first_item"] is None:
        record["first_item"] = start
    yield
    end = time.time()
    record["items"] += 1
    record["item_protocol"] += end - start
    record["last_item_end"] = end


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if record["role"] == "controller" and report.when == "teardown":
        record["last_report"] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session: pytest.Session):
    record["sessionfinish_start"] = time.time()
    yield
    record["sessionfinish_end"] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_terminal_summary(terminalreporter):
    start = record["terminal_summary_start"] = time.time()
    yield
    record["terminal_summary"] = time.time() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_unconfigure(config: pytest.Config):
    record["unconfigure_start"] = time.time()
    yield
    record["unconfigure_end"] = time.time()
    out = os.environ.get("CODEX_PHASES_DIR")
    if out:
        Path(out, f"{os.getpid()}.json").write_text(json.dumps(record))
