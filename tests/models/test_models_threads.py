"""Threads of the CPU backends: the thread count and OpenMP wait policy chosen before the
library loads (``pytest_codex.models.threads``), named in the report header, overridden by
``--codex-threads``; bad values are usage errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pytest_codex.models import threads
from pytest_codex.models.threads import choose, load_library

from models_support import tiny_model
from support import usage_error

BURN = "import time\nwhile time.process_time() < 0.2: pass\ntime.sleep(60)"


SPIN = f"spin 20,000 times, then sleep (GOMP_SPINCOUNT={threads.SPIN_COUNT})"


def test_choose_auto_uses_the_cpus_others_leave_free():
    idle = choose(None, environ={}, cpus=2, free=(1.9, "1.9 free"))
    assert (idle.threads, idle.wait_policy, idle.source) == (2, SPIN, "2 CPUs, 1.9 free")
    assert idle.env == (("GOMP_SPINCOUNT", "20000"),)
    assert choose(None, environ={}, cpus=2, free=(1.0, "")).threads == 1
    assert choose(None, environ={}, cpus=2, free=(0.0, "")).threads == 1  # never below one
    assert choose(None, environ={}, cpus=8, free=(5.4, "")).threads == 5
    assert choose(None, environ={}, cpus=8, free=(5.5, "")).threads == 5  # half rounds down
    assert choose(None, environ={}, cpus=8, free=(5.6, "")).threads == 6
    assert choose(None, environ={}, cpus=2, free=(7.0, "")).threads == 2  # never above the CPUs


def test_choose_explicit_values_win():
    env = {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    given = choose(1, environ=env, cpus=2, free=(2.0, ""))
    assert (given.threads, given.source) == (1, "--codex-threads=1")
    assert given.wait_policy == "OMP_WAIT_POLICY=ACTIVE (environment)" and given.env == ()  # the user's is kept
    from_env = choose(None, environ=env, cpus=2, free=(0.0, ""))
    assert (from_env.threads, from_env.source) == (3, "OMP_NUM_THREADS=3")
    spin = choose(None, environ={"GOMP_SPINCOUNT": "0"}, cpus=2, free=(2.0, ""))
    assert (spin.wait_policy, spin.env) == ("GOMP_SPINCOUNT=0 (environment)", ())
    # a thread count libgomp would not take is not taken here either
    odd = choose(None, environ={"OMP_NUM_THREADS": "x"}, cpus=2, free=(2.0, "2.0 free"))
    assert (odd.threads, odd.source) == (2, "2 CPUs, 2.0 free")


def test_free_cpus_does_not_count_this_process_s_children():
    """The sandbox's fork server may be starting while the CPUs are measured: the CPU time of
    this process's children is not other processes' load."""
    cpus = threads.usable_cpus()
    free, how = threads.free_cpus(0.1)
    assert 0 <= free <= cpus and how == f"{free:.1f} free over 0.1 s at start"
    before = threads._children_ticks()
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        deadline = time.monotonic() + 60
        while threads._children_ticks() - before < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # the child burns 0.2 s of CPU, then sleeps
        assert threads._children_ticks() - before >= 5
    finally:
        child.kill()
        child.wait()
    # negative control: once reaped it is no longer this process's child, and not counted
    assert threads._children_ticks() - before < 5


def test_choose_reads_this_machine():
    choice = choose(None, environ={})
    assert 1 <= choice.threads <= threads.usable_cpus()
    assert "free over" in choice.source


def test_the_wait_policy_is_set_only_while_the_library_loads(tmp_path, monkeypatch):
    """The library sees the variables when it loads; nothing else (workers, the fork server,
    later children) inherits them."""
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "omp_probe_lib.py").write_text("import os\nSEEN = os.environ.get('GOMP_SPINCOUNT')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "omp_probe_lib", raising=False)
    choice = choose(1, environ={})
    lib, applied = load_library("omp_probe_lib", choice, "probe")
    assert lib.SEEN == "20000"
    assert "GOMP_SPINCOUNT" not in os.environ
    assert applied.describe() == f"threads (probe): 1 (--codex-threads=1), OpenMP wait policy: {SPIN}"
    # negative control: already loaded, its runtime read the environment before; the header says so
    again = load_library("omp_probe_lib", choice, "probe")[1]
    assert again.wait_policy == "unchanged (omp_probe_lib was imported before pytest-codex chose it)"
    # a user's own setting is restored, not dropped
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    monkeypatch.delitem(sys.modules, "omp_probe_lib")
    load_library("omp_probe_lib", choice, "probe")
    assert os.environ["GOMP_SPINCOUNT"] == "7"


# -- through the plugin, with a tiny real model ---------------------------------------------

RECORDING_CONFTEST = """
import os, sys

def pytest_sessionfinish(session):
    import torch
    with open("threads.txt", "w") as fh:
        fh.write(f"{torch.get_num_threads()} {os.environ.get('OMP_WAIT_POLICY') or os.environ.get('GOMP_SPINCOUNT')}")
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    return tiny_model(tmp_path_factory)


def header_run(pytester: pytest.Pytester, tiny_dir: str, *extra: str) -> tuple[list[str], str]:
    pytester.makepyfile(test_humaneval="def test_humaneval(codex_case):\n    codex_case.run()\n")
    pytester.makeconftest(RECORDING_CONFTEST)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--co", f"--model=hf:{tiny_dir}", f"--codex-cache-dir={pytester.path / 'c'}", *extra
    )
    assert result.ret == 0, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
    lines = [line for line in result.outlines if line.startswith("codex: threads")]
    return lines, (pytester.path / "threads.txt").read_text()


@pytest.mark.parametrize("given", ["1", "2"])
def test_codex_threads_is_honoured_and_named_in_the_header(pytester, monkeypatch, tiny_dir, given):
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    lines, recorded = header_run(pytester, tiny_dir, f"--codex-threads={given}")
    assert lines == [f"codex: threads (torch): {given} (--codex-threads={given}), OpenMP wait policy: {SPIN}"]
    assert recorded == f"{given} None"  # torch's pool has that many threads; the variable did not stay


def test_auto_threads_are_named_in_the_header(pytester, monkeypatch, tiny_dir):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    lines, recorded = header_run(pytester, tiny_dir)
    assert len(lines) == 1 and "free over 0.3 s at start" in lines[0], lines
    assert lines[0].endswith("OpenMP wait policy: OMP_WAIT_POLICY=active (environment)")
    count = int(lines[0].split(": ")[2].split()[0])
    assert 1 <= count <= threads.usable_cpus()
    assert recorded == f"{count} active"


def test_no_thread_line_without_a_generating_model(pytester):
    pytester.makepyfile(test_humaneval="def test_humaneval(codex_case):\n    codex_case.run()\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--co", "--model=reference")
    assert result.ret == 0
    assert not [line for line in result.outlines if line.startswith("codex: threads")]
    # and a thread count for a model that generates nothing is refused, not ignored
    refused = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--co", "--model=reference", "--codex-threads=1")
    assert "--codex-threads=1: --model=reference generates nothing" in usage_error(refused)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_bad_thread_counts_are_usage_errors(pytester, value):
    pytester.makepyfile(test_humaneval="def test_humaneval(codex_case):\n    codex_case.run()\n")
    result = pytester.runpytest_subprocess("--model=reference", f"--codex-threads={value}")
    line = usage_error(result)
    assert f"--codex-threads={value!r}" in line and "give e.g. --codex-threads=2" in line


def test_bad_thread_count_in_the_ini_file_is_a_usage_error(pytester):
    pytester.makepyfile(test_humaneval="def test_humaneval(codex_case):\n    codex_case.run()\n")
    pytester.makeini("[pytest]\ncodex_threads = none\n")
    result = pytester.runpytest_subprocess("--model=reference")
    line = usage_error(result)
    assert "codex_threads='none'" in line and "ini option" in line
