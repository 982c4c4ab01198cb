"""The second round of hostile completions: state between samples, a feedback oracle,
exfiltration without socket(), a fork server that is killed or must clean up a hostile tree,
unbounded work in the trusted process, memory outside the limits.

Every hostile program here runs only through the sandbox, never bare; each check comes with
a negative control showing that it can fail, and a correct sample after each attack, in the
same executor, must still pass.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pytest_codex.core.problems import Problem
from pytest_codex.sandbox import linux, wire
from pytest_codex.sandbox.executor import NO_REPLAY, SandboxExecutor

from sandbox_support import ADD, CORRECT, Canary, processes_of

LIMIT = 3.0
FULL = os.geteuid() == 0
needs_root = pytest.mark.skipif(not FULL, reason="the full set of layers needs root")


def full_executor(missing_ok: tuple[str, ...] = (), **kwargs) -> SandboxExecutor:
    ex = SandboxExecutor(**kwargs)
    wanted = set(ex.describe()["layers"]) - set(kwargs.get("disable", ())) - set(missing_ok)
    missing = [name for name in wanted if not ex.describe()["layers"][name]]
    if missing:
        ex.close()
        pytest.skip(f"hostile completions run only inside the full sandbox; missing here: {', '.join(missing)}")
    return ex


@pytest.fixture(scope="module")
def executor():
    ex = full_executor()
    yield ex
    ex.close()


def fork_server(ex: SandboxExecutor) -> int:
    children = open(f"/proc/{ex._proc.pid}/task/{ex._proc.pid}/children").read().split()
    return int(children[0])


def still_serves(ex: SandboxExecutor) -> None:
    """The harness survived and the next sample starts clean: a correct sample passes."""
    control = ex.run(ADD, CORRECT, LIMIT)
    assert control.passed, control
    if ex.info["uid"] is not None:
        assert processes_of(ex.info["uid"]) == []


def printed(ex: SandboxExecutor, body: str) -> list[str]:
    """Run a probe (in the first call only) that passes and return what it printed."""
    r = ex.run(ADD, "    if a == 2:\n" + textwrap.indent(body, "    ") + "    return a + b\n", LIMIT)
    assert r.passed, r
    return r.output.splitlines()


# -- 1. nothing survives a sample ------------------------------------------------------------

XATTR_SET = "    import os\n    try:\n        os.setxattr('.', 'user.x', b'1')\n        print('set')\n" + (
    "    except OSError as exc:\n        print('refused', exc.errno)\n"
)
XATTR_GET = "    import os\n    try:\n        print('got', os.getxattr('.', 'user.x'))\n" + (
    "    except OSError as exc:\n        print('absent', exc.errno)\n"
)


@needs_root
def test_an_xattr_on_the_working_directory_does_not_reach_the_next_sample(executor):
    assert printed(executor, XATTR_SET)[0].startswith("refused")  # seccomp: no xattrs at all
    assert printed(executor, XATTR_GET)[0].startswith("absent")
    still_serves(executor)


@needs_root
def test_the_fresh_working_directory_alone_drops_xattrs():
    """Without seccomp a sample can set the xattr, and reads it back in the same sample (so the
    probe can see one); the next sample, in a fresh tmpfs, cannot."""
    ex = full_executor(disable=("seccomp",))
    try:
        assert printed(ex, XATTR_SET + XATTR_GET) == ["set", "got b'1'"]  # negative control
        assert printed(ex, XATTR_GET)[0].startswith("absent")
        still_serves(ex)
    finally:
        ex.close()


PROBE = (
    "    import os\n    st = os.stat('.')\n    fd = os.open('probe', os.O_CREAT | os.O_WRONLY)\n"
    "    print(os.getpid(), os.fstat(fd).st_ino, st.st_mtime == 12345, oct(st.st_mode), sorted(os.listdir('.')))\n"
)
LITTER = (
    "    import os, time\n    for i in range(300):\n        open(f'f{i}', 'w').write('x')\n"
    "    for _ in range(5):\n        pid = os.fork()\n        if pid == 0:\n            os._exit(0)\n"
    "        os.waitpid(pid, 0)\n    os.mkdir('d')\n    fd = os.open('last', os.O_CREAT | os.O_WRONLY)\n"
    "    os.chmod('.', 0o777)\n    os.utime('.', (12345, 12345))\n"
    "    print(os.getpid(), os.stat('.').st_mtime, len(os.listdir('.')), os.fstat(fd).st_ino)\n"
)


@needs_root
def test_files_timestamps_inode_and_pid_numbers_do_not_reach_the_next_sample(executor):
    before = printed(executor, PROBE)[0]
    pid, mtime, count, ino = printed(executor, LITTER)[0].split()
    # Negative control: within a sample all of it is there, and inode numbers move on.
    assert (mtime, count) == ("12345.0", "302") and int(ino) > int(before.split()[1]) + 300
    after = printed(executor, PROBE)[0]
    assert after == before, (before, after)  # same pid, inode number, mode; no mtime, no files
    assert int(pid) == int(before.split()[0])
    still_serves(executor)


# -- 3. the fork server cannot be killed by what a sample writes, and recovers if killed ---

TREES = [
    ("80-nested-dirs", "    import os\n    for _ in range(80):\n        os.mkdir('d')\n        os.chdir('d')\n"),
    (
        "20-levels-of-250-character-names",
        "    import os\n    for _ in range(20):\n        os.mkdir('n' * 250)\n        os.chdir('n' * 250)\n",
    ),
    (
        "as-deep-as-the-inodes-allow",
        "    import os\n    try:\n        for _ in range(4100):\n            os.mkdir('d')\n            os.chdir('d')\n"
        "    except OSError:\n        pass\n",
    ),
    (
        "unreadable-and-unwritable-dirs",
        "    import os\n    os.makedirs('a/b/c')\n    open('a/b/c/f', 'w').write('x')\n"
        "    os.chmod('a/b/c', 0)\n    os.chmod('a/b', 0o500)\n    os.chmod('a', 0)\n",
    ),
    (
        "links-fifos-and-sockets",
        "    import os\n    os.symlink('.', 'loop')\n    os.symlink('/', 'root')\n    os.symlink('loop/loop', 'x')\n"
        "    os.mkfifo('fifo')\n    os.mkdir('dir')\n    os.symlink('../dir', 'dir/up')\n    os.link('fifo', 'hard')\n",
    ),
    (
        "many-files",
        "    try:\n        for i in range(5000):\n            open(f'f{i:05d}', 'w').close()\n    except OSError:\n        pass\n",
    ),
]


@pytest.mark.parametrize("mode", ["tmpfs", "directory"])
@pytest.mark.parametrize("name,body", TREES, ids=[t[0] for t in TREES])
def test_what_a_sample_writes_cannot_kill_the_fork_server(name, body, mode):
    # Without a mount namespace the stdlib may not be reachable by another uid (here it is
    # under a 0700 /root), so the samples keep the server's uid: still in the PID namespace,
    # under Landlock and seccomp, and what they write stays in their working directory.
    if mode == "directory":
        ex = full_executor(disable=("private_tmpfs",), missing_ok=("unprivileged_uid",))
    else:
        ex = full_executor()
    try:
        server = fork_server(ex)
        r = ex.run(ADD, "    if a == 2:\n" + textwrap.indent(body, "    ") + "    return a + b\n", 20.0)
        assert r.passed, r
        still_serves(ex)
        still_serves(ex)
        assert ex.restarts == 0 and fork_server(ex) == server  # it survived: not restarted
    finally:
        ex.close()


REMOVE = textwrap.dedent("""
    import os, resource, sys
    sys.path.insert(0, sys.argv[1])
    from pytest_codex.sandbox.isolation import remove_tree

    def naive(path):  # the old cleanup: recursion on path strings, one scandir open per level
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    naive(entry.path)
                    os.rmdir(entry.path)
                else:
                    os.unlink(entry.path)

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))  # the fork server's own limit
    root = sys.argv[2]
    try:
        naive(root)
        print("naive ok")
    except OSError as exc:
        print("naive", exc.errno)
    remove_tree(root)
    print("remove_tree ok", os.path.exists(root))
""")


def test_the_cleanup_handles_a_tree_the_old_recursive_cleanup_could_not(tmp_path):
    """Negative control: the old cleanup fails on a deep tree under the server's RLIMIT_NOFILE
    (EMFILE) and on long nested names (ENAMETOOLONG); the new one removes both.  The trees are
    made here by the test itself (trusted code), not by a sample."""
    deep, long = tmp_path / "deep", tmp_path / "long"
    os.makedirs(deep)
    os.makedirs(long)
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(80):
        os.mkdir("d", dir_fd=fd)
        fd2 = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = fd2
    os.close(fd)
    fd = os.open(long, os.O_RDONLY)
    for _ in range(20):
        os.mkdir("n" * 250, dir_fd=fd)
        fd2 = os.open("n" * 250, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = fd2
    os.close(fd)
    package = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    for root, err in ((deep, errno.EMFILE), (long, errno.ENAMETOOLONG)):
        out = subprocess.run([sys.executable, "-c", REMOVE, package, str(root)], capture_output=True, text=True)
        assert out.stdout.split("\n")[:2] == [f"naive {err}", "remove_tree ok False"], out.stdout + out.stderr


def test_a_server_killed_during_a_sample_is_restarted_and_only_that_sample_crashes():
    ex = SandboxExecutor()
    try:
        uid = ex.info["uid"]
        assert ex.run(ADD, CORRECT, LIMIT).passed
        server = fork_server(ex)
        killer = threading.Timer(0.5, os.kill, (server, signal.SIGKILL))
        killer.start()
        r = ex.run(ADD, "    import time\n    time.sleep(2)\n    return a + b\n", LIMIT)
        killer.join()
        assert r.verdict == "crashed" and "fork server died during the sample" in r.detail, r
        assert ex.restarts == 1 and ex.info["uid"] == uid
        still_serves(ex)
        assert ex.run(ADD, "    return a - b\n", LIMIT).verdict == "failed"  # normal verdicts again
    finally:
        ex.close()


# -- 1b. no feedback oracle ------------------------------------------------------------------

# In each call, wait a moment for the trusted side to read the answers sent so far (SIOCOUTQ:
# the bytes still queued on fd 3) and print whether it did: the feedback a sample could use
# to learn which of its answers were right.  The first answer is right or wrong.
ORACLE = """\
    import fcntl, struct, time
    global calls
    try:
        calls += 1
    except NameError:
        calls = 1
    queued = None
    for _ in range(40):
        try:
            queued = struct.unpack('i', fcntl.ioctl(3, 0x5411, b'\\0\\0\\0\\0'))[0]
        except OSError as exc:
            print('call', calls, 'ioctl refused', exc.errno, flush=True)
            break
        if queued == 0:
            break
        time.sleep(0.01)
    else:
        pass
    if queued is not None:
        print('call', calls, 'earlier answers read' if queued == 0 else 'earlier answers waiting', flush=True)
    return a + b if calls > 1 or FIRST_RIGHT else 0
"""


def oracle_output(ex: SandboxExecutor, first_right: bool) -> list[str]:
    r = ex.run(ADD, ORACLE.replace("FIRST_RIGHT", str(first_right)), LIMIT)
    assert r.passed is first_right, r
    return [ln for ln in r.output.splitlines() if ln.startswith("call")]


@needs_root
def test_the_trusted_side_reads_every_answer_whether_or_not_it_is_right():
    ex = full_executor(disable=("seccomp",))  # seccomp refuses the ioctl itself (below)
    try:
        right, wrong = oracle_output(ex, True), oracle_output(ex, False)
        assert (
            right
            == wrong
            == ["call 1 earlier answers read", "call 2 earlier answers read", "call 3 earlier answers read"]
        )
        # Negative control: one round trip per call (no replay) does give the signal away:
        # after a wrong first answer the tests stop and no second call ever comes.
        ex._replays[ADD] = NO_REPLAY
        ex._stable[ADD] = True
        assert len(oracle_output(ex, True)) == 3 and len(oracle_output(ex, False)) == 1
        still_serves(ex)
    finally:
        ex.close()


@needs_root
def test_seccomp_refuses_the_queue_size_ioctl(executor):
    lines = oracle_output(executor, True)
    assert lines and all(f"ioctl refused {errno.ENOTTY}" in ln for ln in lines), lines
    still_serves(executor)


# -- 2 and 5. deny by default: no socket of any kind, no memfd, none of the dangerous calls -----


@pytest.fixture
def unix_dgram_listener():
    canary = Canary()
    path = str(canary.path / "log.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.setblocking(False)
    yield path, listener
    listener.close()
    canary.remove()


def received(listener) -> bool:
    try:
        listener.recv(100)
        return True
    except BlockingIOError:
        return False


SOCKETPAIR = (
    "    import socket\n    s = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0]\n"
    "    s.sendto(b'secret', 'PATH')\n    return a + b\n"
)


@needs_root
def test_socketpair_cannot_reach_a_pathname_unix_socket(executor, unix_dgram_listener):
    path, listener = unix_dgram_listener
    r = executor.run(ADD, SOCKETPAIR.replace("PATH", path), LIMIT)
    assert r.verdict == "error" and r.error_type == "PermissionError", r
    assert not received(listener)
    still_serves(executor)


@needs_root
def test_without_seccomp_socketpair_does_reach_it(unix_dgram_listener):
    """Negative control: Landlock on this kernel does not stop it; seccomp does."""
    path, listener = unix_dgram_listener
    ex = full_executor(disable=("seccomp",))
    try:
        r = ex.run(ADD, SOCKETPAIR.replace("PATH", path), LIMIT)
        assert r.passed and received(listener), r
    finally:
        ex.close()


MUST_DENY = [
    "socket", "socketpair", "memfd_create", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl",
    "add_key", "mount", "unshare", "setns", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "execve",
    "sendmsg", "sendto", "shmget", "msgget", "semget", "mq_open", "open_by_handle_at",
]  # fmt: skip
SYSCALLS = """\
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for name, nr in NUMBERS:
        ctypes.set_errno(0)
        ret = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
        print(name, ret, ctypes.get_errno())
    return a + b
"""


@needs_root
def test_the_dangerous_syscalls_fail_with_eperm_in_a_sample(executor):
    numbers = [(n, linux.syscall_number(n)) for n in MUST_DENY + ["getpid"]]
    r = executor.run(ADD, SYSCALLS.replace("NUMBERS", repr([x for x in numbers if x[1] is not None])), LIMIT)
    assert r.passed, r
    seen = {ln.split()[0]: ln.split()[1:] for ln in r.output.splitlines()}
    assert {n: seen[n] for n in MUST_DENY if n in seen} == {n: ["-1", str(errno.EPERM)] for n in MUST_DENY if n in seen}
    assert seen["getpid"][0] != "-1"  # negative control: the same call path does reach allowed syscalls
    still_serves(executor)


def test_the_filter_denies_by_default():
    sample, server = linux.seccomp_program("sample"), linux.seccomp_program("server")
    if sample is None or server is None:
        pytest.skip(f"no seccomp table for {linux.MACHINE}")
    eperm = linux.RET_ERRNO | errno.EPERM
    for name in MUST_DENY:
        nr = linux.syscall_number(name)
        if nr is not None and name not in ("socketpair", "sendmsg", "sendto"):
            assert linux.seccomp_action(sample, nr) == linux.seccomp_action(server, nr) == eperm, name
    for name in ("socketpair", "sendmsg", "sendto"):  # the server passes fds; a sample may not
        nr = linux.syscall_number(name)
        assert linux.seccomp_action(sample, nr) == eperm and linux.seccomp_action(server, nr) == linux.RET_ALLOW
    for name in ("read", "openat", "mmap", "futex", "wait4"):  # negative control: allowed ones
        assert linux.seccomp_action(sample, linux.syscall_number(name)) == linux.RET_ALLOW, name
    assert linux.seccomp_action(sample, 1000) == linux.RET_ERRNO | errno.ENOSYS  # unlisted
    assert linux.seccomp_action(sample, linux.syscall_number("clone3")) == linux.RET_ERRNO | errno.ENOSYS
    clone = linux.syscall_number("clone")
    assert linux.seccomp_action(sample, clone, (0x11,)) == linux.RET_ALLOW  # fork-like
    assert linux.seccomp_action(sample, clone, (linux.CLONE_NEWUSER | 0x11,)) == eperm
    ioctl = linux.syscall_number("ioctl")
    assert linux.seccomp_action(sample, ioctl, (3, 0x5401)) == linux.RET_ALLOW  # TCGETS: isatty
    assert linux.seccomp_action(sample, ioctl, (3, 0x5411)) == linux.RET_ERRNO | errno.ENOTTY  # SIOCOUTQ
    assert linux.seccomp_action(sample, linux.syscall_number("setxattr")) == linux.RET_ERRNO | errno.ENOTSUP


@needs_root
def test_memfds_cannot_hold_memory_outside_the_limits(executor):
    r = executor.run(
        ADD,
        "    import os\n    fds = []\n    for i in range(60):\n        fd = os.memfd_create('x')\n"
        "        os.ftruncate(fd, 16 << 20)\n        os.write(fd, b'x' * (1 << 20))\n        fds.append(fd)\n"
        "    return a + b\n",
        LIMIT,
    )
    assert r.verdict == "error" and r.error_type == "PermissionError", r
    still_serves(executor)


@needs_root
def test_the_standard_library_still_works_under_the_filter(executor):
    body = textwrap.indent(
        textwrap.dedent("""
        import json, re, math, random, decimal, fractions, statistics, hashlib, datetime, time, heapq
        import threading, tempfile, shutil, pathlib, sqlite3, zlib, gzip, pickle, select, signal, mmap
        import concurrent.futures, secrets, uuid, struct, itertools, collections, functools, string
        t = threading.Thread(target=lambda: time.sleep(0.01)); t.start(); t.join()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert list(pool.map(abs, [-1, -2])) == [1, 2]
        d = tempfile.mkdtemp(dir='.'); open(d + '/f', 'w').write('x' * 100)
        shutil.copy(d + '/f', d + '/g'); shutil.copytree(d, d + '2'); shutil.rmtree(d); shutil.rmtree(d + '2')
        with tempfile.TemporaryFile(dir='.') as f:
            f.write(b'x'); f.seek(0); assert f.read() == b'x'
        c = sqlite3.connect('db.sqlite'); c.execute('create table t(x)'); c.commit(); c.close()
        with gzip.open('x.gz', 'wt') as f:
            f.write('hi')
        assert gzip.open('x.gz', 'rt').read() == 'hi'
        r, w = os.pipe(); os.write(w, b'x'); select.select([r], [], [], 0); os.read(r, 1)
        signal.signal(signal.SIGALRM, lambda *a: None); signal.setitimer(signal.ITIMER_REAL, 0.01); time.sleep(0.02)
        m = mmap.mmap(-1, 4096); m.write(b'x'); m.close()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print(random.random() < 1, secrets.token_hex(2) != '', uuid.uuid4() is not None, hashlib.sha256(b'').hexdigest()[:4],
              decimal.Decimal(1) / 3 > 0, statistics.mean([1, 2]), datetime.datetime.now().year > 2000, os.isatty(1))
        """),
        "    ",
    )
    r = executor.run(ADD, "    import os\n    if a != 2:\n        return a + b\n" + body + "    return a + b\n", 10.0)
    assert r.passed, r
    assert r.output.split() == ["True", "True", "True", "e3b0", "True", "1.5", "True", "False"], r.output


# -- 4. a budget on the trusted side -----------------------------------------------------------

RETURNS = Problem(
    task_id="test/returns",
    prompt="def f(n):\n",
    canonical_solution="    return n\n",
    test="def check(candidate):\n    assert candidate(1) == 1\n",
    entry_point="f",
)
# The answer frame is written by hand (building such a set in the sample would itself be
# quadratic): ["ok", [tag, values...], null] on fd 3, then the sample waits to be ended.
RAW_ANSWER = """\
    import os, struct
    items = ','.join(str((2**61 - 1) * k) + EXTRA for k in range(200000))
    body = ('["ok",["TAG",' + items + '],null]').encode()
    data = memoryview(struct.pack('>I', len(body)) + body)
    while data:
        data = data[os.write(3, data):]
    import time
    time.sleep(60)
"""
FLOODS = [
    ("colliding-set", RAW_ANSWER.replace("TAG", "s").replace("EXTRA", "''")),
    ("colliding-dict", RAW_ANSWER.replace("TAG", "d").replace("EXTRA", "',0'")),
    ("colliding-list", "    return [(2**61 - 1) * k for k in range(200000)]\n"),
    ("too-many-values", "    return [0] * (5 << 20)\n"),
]


@pytest.mark.parametrize("name,body", FLOODS, ids=[f[0] for f in FLOODS])
def test_an_answer_over_the_decoding_budget_is_an_error_for_that_sample_only(executor, name, body):
    r = executor.run(RETURNS, body, 10.0)
    assert r.verdict == "error" and r.error_type == "OverBudget", r
    assert executor.run(RETURNS, "    return n\n", LIMIT).passed
    still_serves(executor)


def test_the_budget_refuses_colliding_values_but_not_as_many_distinct_ones():
    colliding = [(2**61 - 1) * k for k in range(1000)]
    for value in (set(colliding), dict.fromkeys(colliding), colliding, [(k, c) for k, c in enumerate(colliding)][:1]):
        if len(value) > wire.MAX_SAME_HASH:
            with pytest.raises(wire.OverBudget):
                wire.unpack(wire.pack(value))
    # Negative control: as many distinct, non-colliding values decode, and so do repeats.
    for value in (set(range(100000)), dict.fromkeys(range(100000)), [0] * 100000, [-1, -2] * 50):
        assert wire.unpack(wire.pack(value)) == value
    crafted = [(2**61 - 1) * k + 1 for k in range(9)]  # all hash to 1
    assert len({hash(v) for v in crafted}) == 1
    with pytest.raises(wire.OverBudget):
        wire.unpack(wire.pack(crafted))
    assert wire.unpack(wire.pack(crafted[:8])) == crafted[:8]


def test_a_sample_that_keeps_its_output_pipe_full_still_times_out(executor):
    r = executor.run(ADD, "    import os\n    while True:\n        os.write(1, b'x' * 65536)\n", 1.0)
    assert r.verdict == "timeout", r
    still_serves(executor)


def test_the_sandbox_uid_is_kept_after_the_server_dies_and_is_per_executor():
    a, b = SandboxExecutor(), SandboxExecutor()
    try:
        if a.info["uid"] is None:
            pytest.skip("no unprivileged uid here")
        assert a.info["uid"] != b.info["uid"]
        uid = a.info["uid"]
        os.kill(fork_server(a), signal.SIGKILL)
        time.sleep(0.2)
        assert a.run(ADD, CORRECT, LIMIT).passed and a.info["uid"] == uid and a.restarts == 1
    finally:
        a.close()
        b.close()
