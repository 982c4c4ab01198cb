"""The isolation layers: detected, reported, enforced, and each one what actually stops an attack."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from pytest_codex.sandbox import isolation
from pytest_codex.sandbox.executor import SandboxError, SandboxExecutor, SandboxUnavailable, worker_cpu

from sandbox_support import ADD, CORRECT, Canary, processes_of

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="the full set of layers needs root")


@pytest.fixture(scope="module")
def executor():
    ex = SandboxExecutor()
    yield ex
    ex.close()


def fork_server(ex: SandboxExecutor) -> int:
    """The server process: the supervisor's only child when there is a PID namespace."""
    children = open(f"/proc/{ex._proc.pid}/task/{ex._proc.pid}/children").read().split()
    return int(children[0]) if children else ex._proc.pid


@needs_root
def test_every_layer_is_on_and_described(executor):
    info = executor.describe()
    assert info["executor"] == "sandbox" and info["mode"] == "auto"
    assert info["layers"] == {name: True for name in isolation.LAYERS}
    assert info["missing"] == {}
    assert info["landlock_abi"] >= 1 and info["limits"]["processes"] > 0


def test_strict_refuses_a_missing_layer_and_auto_names_it():
    with pytest.raises(SandboxUnavailable, match=r"strict: isolation layers missing: seccomp: disabled"):
        SandboxExecutor("strict", disable=("seccomp",))
    ex = SandboxExecutor("auto", disable=("seccomp",))
    try:
        assert ex.describe()["missing"] == {"seccomp": "disabled"} or not ROOT
        assert ex.run(ADD, CORRECT, 3.0).passed
    finally:
        ex.close()
    with pytest.raises(ValueError, match="sandbox mode 'paranoid'"):
        SandboxExecutor("paranoid")


@needs_root
def test_the_sample_runs_unprivileged_in_its_own_namespaces(executor):
    body = (
        "    import os\n    print(os.getuid(), os.getgid(), os.getgroups(), os.getpid() < 100,\n"
        "          os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid(), os.getcwd())\n"
        "    try:\n        os.kill(PYTEST, 0)\n        print('sees pytest')\n"
        "    except ProcessLookupError:\n        print('pytest invisible')\n    return a + b\n"
    )
    r = executor.run(ADD, body.replace("PYTEST", str(os.getpid())), 3.0)
    assert r.passed, r
    uid, gid, groups, small_pid, session, group, cwd = r.output.splitlines()[0].split(" ", 6)
    assert int(uid) == executor.info["uid"] > 0 and int(gid) == int(uid) and groups == "[]"
    assert (small_pid, session, group) == ("True", "True", "True")
    assert cwd.endswith("/work") and r.output.splitlines()[1] == "pytest invisible"


def test_the_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("CODEX_TEST_API_KEY", "sk-very-secret")
    ex = SandboxExecutor()
    try:
        body = (
            "    import os\n    print(sorted(os.environ.items()))\n"
            "    for path in ('/proc/self/environ', '/proc/1/environ', f'/proc/{os.getppid()}/environ'):\n"
            "        try:\n            print(open(path, 'rb').read())\n"
            "        except OSError as exc:\n            print('denied', type(exc).__name__)\n"
            "    return a + b\n"
        )
        r = ex.run(ADD, body, 3.0)
        assert r.passed and "sk-very-secret" not in r.output
        assert r.output.splitlines()[0] == repr(sorted(isolation.SAFE_ENV.items()))
        server_env = open(f"/proc/{fork_server(ex)}/environ", "rb").read()
        assert b"sk-very-secret" not in server_env and os.environ["CODEX_TEST_API_KEY"] == "sk-very-secret"
    finally:
        ex.close()


@needs_root
def test_landlock_is_what_keeps_a_world_writable_directory_safe():
    canary = Canary()
    body = f"    open('{canary.path}/new.txt', 'w').write('x')\n    return a + b\n"
    try:
        with_landlock = SandboxExecutor()
        try:
            assert with_landlock.run(ADD, body, 3.0).error_type == "PermissionError"
            assert canary.unchanged()
        finally:
            with_landlock.close()
        without = SandboxExecutor(disable=("landlock",))  # every other layer still on
        try:
            assert without.run(ADD, body, 3.0).passed
            assert not canary.unchanged()  # so the canary check can fail
        finally:
            without.close()
    finally:
        canary.remove()


@needs_root
def test_seccomp_and_the_network_namespace_are_what_stop_exfiltration():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    body = (
        f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\n"
        "    return a + b\n"
    )
    try:
        only_netns = SandboxExecutor(disable=("seccomp", "landlock"))
        try:
            r = only_netns.run(ADD, body, 5.0)
            assert r.verdict == "error" and r.error_type in ("OSError", "ConnectionRefusedError"), r
        finally:
            only_netns.close()
        only_seccomp = SandboxExecutor(disable=("network_namespace", "landlock"))
        try:
            assert only_seccomp.run(ADD, body, 5.0).error_type == "PermissionError"
        finally:
            only_seccomp.close()
        neither = SandboxExecutor(disable=("seccomp", "network_namespace", "landlock"))
        try:
            assert neither.run(ADD, body, 5.0).passed
            conn, _ = listener.accept()  # so the exfiltration checks can fail
            conn.close()
        finally:
            neither.close()
    finally:
        listener.close()


@needs_root
def test_rlimit_nproc_counts_for_the_unprivileged_uid(executor):
    body = (
        "    import os\n    n = 0\n    try:\n        while True:\n            if os.fork() == 0:\n"
        "                import time\n                time.sleep(30)\n            n += 1\n"
        "    except OSError:\n        print('stopped at', n)\n    return a + b\n"
    )
    r = executor.run(ADD, body, 5.0)
    assert r.passed and int(r.output.split()[2]) < executor.limits.processes
    assert processes_of(executor.info["uid"]) == []


def test_a_fork_server_that_died_between_samples_is_restarted_with_the_same_uid():
    ex = SandboxExecutor()
    try:
        assert ex.run(ADD, CORRECT, 3.0).passed
        uid, layers, old = ex.info["uid"], ex.info["layers"], fork_server(ex)
        os.kill(old, signal.SIGKILL)
        time.sleep(0.2)
        r = ex.run(ADD, CORRECT, 3.0)  # it had not started: it runs normally
        assert r.passed and ex.restarts == 1, r
        assert fork_server(ex) != old and (ex.info["uid"], ex.info["layers"]) == (uid, layers)
    finally:
        ex.close()


def test_a_closed_executor_is_a_harness_error_not_a_verdict():
    ex = SandboxExecutor()
    ex.close()
    with pytest.raises(SandboxError):
        ex.run(ADD, CORRECT, 3.0)


def test_close_leaves_nothing_behind():
    ex = SandboxExecutor()
    root, proc = ex._root, ex._proc
    ex.run(ADD, "    import os, time\n    if os.fork() == 0:\n        time.sleep(60)\n    return a + b\n", 3.0)
    ex.close()
    assert proc.poll() is not None and not os.path.exists(root)
    if ex.info["uid"] is not None:
        assert processes_of(ex.info["uid"]) == []


def test_the_server_dies_with_the_trusted_process(tmp_path):
    """The fork server and every sample die when the process that owns them is killed."""
    import subprocess
    import sys

    script = (
        "import sys, time\nfrom pytest_codex.sandbox.executor import SandboxExecutor\n"
        "ex = SandboxExecutor()\nprint(ex._proc.pid, ex.info['uid'], flush=True)\ntime.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    supervisor, uid = owner.stdout.readline().split()
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{supervisor}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{supervisor}")
    if uid != "None":
        assert processes_of(int(uid)) == []


def _policy_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[38])  # field 41: policy


def test_cpu_pinning_and_batch_scheduling_reach_the_samples_and_are_undone_on_close():
    before = os.sched_getaffinity(0)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    cpu = sorted(before)[-1]
    ex = SandboxExecutor(cpu=cpu)
    try:
        assert os.sched_getaffinity(0) == {cpu}
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        assert _policy_of(ex._proc.pid) == os.SCHED_BATCH  # the supervisor, forked before the server
        r = ex.run(ADD, "    import os\n    print(sorted(os.sched_getaffinity(0)))\n    return a + b\n", 3.0)
        assert r.passed and r.output.splitlines()[0] == str([cpu])
    finally:
        ex.close()
    assert os.sched_getaffinity(0) == before
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_negative_control_without_pinning_the_policy_is_left_alone():
    ex = SandboxExecutor()
    try:
        assert os.sched_getscheduler(0) == os.SCHED_OTHER and _policy_of(ex._proc.pid) == os.SCHED_OTHER
    finally:
        ex.close()


def test_xdist_workers_get_one_cpu_each_when_there_are_enough():
    cpus = sorted(os.sched_getaffinity(0))
    n = len(cpus)
    assert worker_cpu({"workerid": "gw0", "workercount": n}) == cpus[0]
    assert worker_cpu({"workerid": f"gw{n - 1}", "workercount": n}) == cpus[-1]
    assert worker_cpu({"workerid": "gw0", "workercount": n + 1}) is None  # more workers than CPUs
    assert worker_cpu(None) is None and worker_cpu({"workerid": "weird"}) is None


def test_a_degraded_sandbox_still_judges_correctly(tmp_path):
    """Without the mount namespace a uid switch could hide a stdlib under a 0700 home: the
    layer is dropped (and named) rather than turning imports into errors."""
    from pytest_codex.core.problems import load_suite
    from pytest_codex.sandbox.isolation import _reachable_by_others

    locked = tmp_path / "locked"
    (locked / "lib").mkdir(parents=True)
    os.chmod(locked, 0o700)
    assert not _reachable_by_others(str(locked / "lib")) and _reachable_by_others("/usr")
    ex = SandboxExecutor(disable=("private_tmpfs",))
    try:
        stdlib = os.path.dirname(os.__file__)
        if not _reachable_by_others(stdlib):
            assert "cannot reach the standard library" in ex.describe()["missing"]["unprivileged_uid"]
        suite = load_suite("humaneval")
        assert [p.task_id for p in suite.problems if not ex.run(p, p.canonical_solution, 10.0).passed] == []
    finally:
        ex.close()
