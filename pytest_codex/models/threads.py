"""How many threads a CPU backend decodes with, and how its OpenMP threads wait.

PyTorch and llama.cpp run their parallel regions on an OpenMP team (GNU libgomp in their
Linux builds).  By default a thread that waits for the others spins up to 300,000 times (a
few milliseconds) before it sleeps; on a machine whose cores other processes also use, the
spinning threads burn the CPU time the descheduled ones need, and every parallel region
stalls (measured on 2 shared cores: 14x slower with 2 threads than with 1 for transformers,
59x for llama.cpp).  So:

* **threads**: ``--codex-threads=N`` if given; else ``OMP_NUM_THREADS`` if set; else the
  CPUs this process may use that other processes leave free at start (measured from
  /proc/stat over ``WINDOW`` seconds, this process and its children not counted; rounded
  half down), at least 1.  On a busy machine that is one thread: no team, nothing to wait for.
* **wait policy**: ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` if set; else a waiting thread
  spins at most ``SPIN_COUNT`` times, then sleeps (``GOMP_SPINCOUNT=20000``).  Measured: as
  fast as libgomp's default on an idle machine; beside busy loops 7x (transformers) and 3.5x
  (llama.cpp) faster than the default.  ``passive`` (sleep at once) was 1.5x (transformers) to
  5x (llama.cpp) slower on an idle machine, so it is not the default.

libgomp reads these variables once, when it loads, so they are set in the environment only
around the import of torch / llama_cpp, in the generating process only, and restored after
it (child processes do not inherit them).  If the library was loaded before (a conftest
imported torch), the policy could not be set, and the header says so.  The choice is printed
in the report header and recorded in the model's manifest.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType

SPIN_COUNT = 20_000
WINDOW = 0.3  # seconds over which the free CPUs are measured
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    wait_policy: str  # how its waiting threads behave, as said in the header
    source: str  # why this many: "--codex-threads", "OMP_NUM_THREADS", or the free CPUs at start
    backend: str = ""  # the library it was applied to: "torch", "llama.cpp"
    env: tuple[tuple[str, str], ...] = ()  # set while the library loads

    def describe(self) -> str:
        head = f"threads ({self.backend}): " if self.backend else "threads: "
        return f"{head}{self.threads} ({self.source}), OpenMP wait policy: {self.wait_policy}"

    def to_json(self) -> dict:
        return {"threads": self.threads, "wait_policy": self.wait_policy, "threads_source": self.source}


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_ticks(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of ``cpus`` since boot, from /proc/stat."""
    busy = total = 0
    with open("/proc/stat", encoding="ascii") as fh:
        for line in fh:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


def _children_ticks() -> int:
    """CPU ticks used so far by this process's living children (e.g. the sandbox's fork
    server, which may be starting while the CPUs are measured)."""
    ticks = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as fh:
                pids = fh.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, ValueError, IndexError):
                continue
    return ticks


def free_cpus(window: float = WINDOW) -> tuple[float, str]:
    """How many of this process's CPUs other processes leave free, measured over ``window``
    seconds (this process and its children do not count), and how that was read."""
    cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    try:
        busy0, total0 = _cpu_ticks(cpus)
        own0 = _children_ticks()
        time.sleep(window)
        busy1, total1 = _cpu_ticks(cpus)
        own1 = _children_ticks()
    except (OSError, ValueError):  # no /proc/stat: the 1-minute load average
        load = os.getloadavg()[0]
        return max(0.0, len(cpus) - load), f"load average {load:.2f}"
    elapsed = (total1 - total0) / len(cpus) or 1  # ticks per CPU in the window
    busy = max(0.0, (busy1 - busy0 - (own1 - own0)) / elapsed)
    free = max(0.0, len(cpus) - busy)
    return free, f"{free:.1f} free over {window:g} s at start"


def choose(
    requested: int | None,
    *,
    environ: Mapping[str, str] | None = None,
    cpus: int | None = None,
    free: tuple[float, str] | None = None,
) -> ThreadChoice:
    """The thread count and wait policy (``requested``: ``--codex-threads``, None = auto)."""
    env = os.environ if environ is None else environ
    given = [(name, env[name].strip()) for name in WAIT_VARIABLES if env.get(name, "").strip()]
    to_set: tuple[tuple[str, str], ...] = ()
    if given:
        wait = ", ".join(f"{name}={value}" for name, value in given) + " (environment)"
    else:
        wait = f"spin {SPIN_COUNT:,} times, then sleep (GOMP_SPINCOUNT={SPIN_COUNT})"
        to_set = (("GOMP_SPINCOUNT", str(SPIN_COUNT)),)
    if requested is not None:
        return ThreadChoice(requested, wait, f"--codex-threads={requested}", env=to_set)
    omp = env.get("OMP_NUM_THREADS", "").strip().split(",")[0]
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), wait, f"OMP_NUM_THREADS={omp}", env=to_set)
    cpus = cpus or usable_cpus()
    available, how = free if free is not None else free_cpus()
    threads = max(1, min(cpus, math.ceil(available - 0.5)))  # free CPUs rounded half down
    return ThreadChoice(threads, wait, f"{cpus} CPUs, {how}", env=to_set)


@contextlib.contextmanager
def _environment(values: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """``values`` set in the environment for the duration, then restored."""
    before = {name: os.environ.get(name) for name, _ in values}
    os.environ.update(dict(values))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_library(module: str, choice: ThreadChoice, backend: str) -> tuple[ModuleType, ThreadChoice]:
    """Import ``module`` (torch, llama_cpp) with the wait policy in place; the choice as applied."""
    applied = ThreadChoice(choice.threads, choice.wait_policy, choice.source, backend, choice.env)
    if module in sys.modules:  # its OpenMP runtime has read the environment already
        if choice.env:
            wait = f"unchanged ({module} was imported before pytest-codex chose it)"
            applied = ThreadChoice(choice.threads, wait, choice.source, backend)
        return sys.modules[module], applied
    with _environment(choice.env):
        lib = importlib.import_module(module)
    return lib, applied


def apply_torch(requested: int | None) -> ThreadChoice:
    """Choose, import torch with the wait policy, set its intra-op thread count."""
    torch, applied = load_library("torch", choose(requested), "torch")
    torch.set_num_threads(applied.threads)
    return applied


def header_lines(models: Iterable[object]) -> list[str]:
    """The report header's thread lines: one per distinct choice of the session's generators."""
    seen: list[ThreadChoice] = []
    for model in models:
        choice = getattr(getattr(model, "generator", None), "thread_choice", None)
        if isinstance(choice, ThreadChoice) and choice not in seen:
            seen.append(choice)
    return [f"codex: {c.describe()}" for c in seen]
