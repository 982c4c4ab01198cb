"""Threads of the CPU backends: the thread count and OpenMP wait policy chosen before the
library loads (``pytest_codex.models.threads``), named in the report header, overridden by
``--codex-threads``; bad values are usage errors."""

from __future__ import annotations

import os
import sys

import pytest

from pytest_codex.models import threads
from pytest_codex.models.threads import ThreadChoice, choose, load_library

from models_support import tiny_model
from support import usage_error


def test_choose_auto_uses_the_cpus_others_leave_free():
    idle = choose(None, environ={}, cpus=2, busy=(0.2, "load average 0.20"))
    assert (idle.threads, idle.wait_policy) == (2, "passive")
    assert "2 CPUs" in idle.source and "load average 0.20" in idle.source
    assert choose(None, environ={}, cpus=2, busy=(1.0, "")).threads == 1
    assert choose(None, environ={}, cpus=2, busy=(4.0, "")).threads == 1  # never below one
    assert choose(None, environ={}, cpus=8, busy=(2.4, "")).threads == 6
    assert choose(None, environ={}, cpus=8, busy=(2.5, "")).threads == 6  # half rounds down
    assert choose(None, environ={}, cpus=8, busy=(2.6, "")).threads == 5


def test_choose_explicit_values_win():
    env = {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    given = choose(1, environ=env, cpus=2, busy=(0.0, ""))
    assert (given.threads, given.source) == (1, "--codex-threads=1")
    assert given.wait_policy == "active (OMP_WAIT_POLICY)"  # the user's environment is kept
    from_env = choose(None, environ=env, cpus=2, busy=(9.0, ""))
    assert (from_env.threads, from_env.source) == (3, "OMP_NUM_THREADS=3")
    # a value libgomp would not take is not taken here either
    assert choose(None, environ={"OMP_NUM_THREADS": "x", "OMP_WAIT_POLICY": "spin"}, cpus=2, busy=(0.0, "")) == (
        ThreadChoice(2, "passive", choose(None, environ={}, cpus=2, busy=(0.0, "")).source)
    )


def test_choose_reads_this_machine():
    choice = choose(None, environ={})
    assert 1 <= choice.threads <= threads.usable_cpus()
    assert "load average" in choice.source and "running" in choice.source


def test_the_wait_policy_is_set_only_while_the_library_loads(tmp_path, monkeypatch):
    """The library sees OMP_WAIT_POLICY when it loads; nothing else (workers, the fork server,
    later children) inherits it."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    (tmp_path / "omp_probe_lib.py").write_text("import os\nSEEN = os.environ.get('OMP_WAIT_POLICY')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "omp_probe_lib", raising=False)
    lib, applied = load_library("omp_probe_lib", ThreadChoice(1, "passive", "test"), "probe")
    assert lib.SEEN == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in os.environ
    assert applied == ThreadChoice(1, "passive", "test", "probe")
    assert applied.describe() == "threads (probe): 1 (test), OpenMP wait policy: passive"
    # negative control: already loaded, its runtime read the environment before; the header says so
    again = load_library("omp_probe_lib", ThreadChoice(1, "passive", "test"), "probe")[1]
    assert again.wait_policy == "unchanged (omp_probe_lib was imported before pytest-codex chose it)"
    # a user's own setting is restored, not dropped
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    monkeypatch.delitem(sys.modules, "omp_probe_lib")
    load_library("omp_probe_lib", ThreadChoice(1, "passive", "test"), "probe")
    assert os.environ["OMP_WAIT_POLICY"] == "active"


# -- through the plugin, with a tiny real model ---------------------------------------------

RECORDING_CONFTEST = """
import os, sys

def pytest_sessionfinish(session):
    import torch
    with open("threads.txt", "w") as fh:
        fh.write(f"{torch.get_num_threads()} {os.environ.get('OMP_WAIT_POLICY')}")
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
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    lines, recorded = header_run(pytester, tiny_dir, f"--codex-threads={given}")
    assert lines == [f"codex: threads (torch): {given} (--codex-threads={given}), OpenMP wait policy: passive"]
    assert recorded == f"{given} None"  # torch's pool has that many threads; the variable did not stay


def test_auto_threads_are_named_in_the_header(pytester, monkeypatch, tiny_dir):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    lines, recorded = header_run(pytester, tiny_dir)
    assert len(lines) == 1 and "CPUs less those busy at start" in lines[0], lines
    assert lines[0].endswith("OpenMP wait policy: active (OMP_WAIT_POLICY)")
    count = int(lines[0].split(": ")[2].split()[0])
    assert 1 <= count <= threads.usable_cpus()
    assert recorded == f"{count} active"


def test_no_thread_line_without_a_generating_model(pytester):
    pytester.makepyfile(test_humaneval="def test_humaneval(codex_case):\n    codex_case.run()\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--co", "--model=reference", "--codex-threads=1")
    assert result.ret == 0
    assert not [line for line in result.outlines if line.startswith("codex: threads")]


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
