"""How many threads a CPU backend decodes with, and how its OpenMP threads wait.

PyTorch and llama.cpp run their parallel regions on an OpenMP team (GNU libgomp in their
Linux builds).  By default a thread that waits for the others spins for a while before it
sleeps; on a machine whose cores other processes also use, the spinning threads burn the
CPU time the descheduled ones need, and decoding slows far more than the CPU share it lost
(measured: 11x slower beside two busy loops per core instead of ~3x).  So:

* **threads**: ``--codex-threads=N`` if given; else ``OMP_NUM_THREADS`` if set; else the
  CPUs this process may use less those other processes keep busy at start (the larger of
  the 1-minute load average and the tasks running right now besides this one), at least 1.
* **wait policy**: ``OMP_WAIT_POLICY`` if set; else ``passive`` (a waiting thread sleeps at
  once and gives its core back).  libgomp reads it once, when the library loads, so it is set
  in the environment only around the import of torch / llama_cpp, in the generating process
  only, and then restored (child processes do not inherit it).  If the library was loaded
  before (a conftest imported torch), the policy could not be set and the header says so.

The choice is printed in the report header and recorded in the model's manifest.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType

WAIT_POLICY = "passive"
WAIT_POLICIES = ("active", "passive")


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    wait_policy: str  # "passive", "active", or "not set (...)" when the library was already loaded
    source: str  # why this many: "--codex-threads", "OMP_NUM_THREADS", or the free CPUs at start
    backend: str = ""  # the library it was applied to: "torch", "llama.cpp"

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


def busy_elsewhere() -> tuple[float, str]:
    """CPUs other processes keep busy now, and how that was read: the larger of the 1-minute
    load average and the tasks running at this instant besides this one (/proc/loadavg)."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average
        load1 = 0.0
    running = 0
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            running = max(0, int(fh.read().split()[3].split("/")[0]) - 1)  # less this process
    except (OSError, ValueError, IndexError):
        pass
    return max(load1, float(running)), f"load average {load1:.2f}, {running} other task(s) running"


def choose(
    requested: int | None,
    *,
    environ: Mapping[str, str] | None = None,
    cpus: int | None = None,
    busy: tuple[float, str] | None = None,
) -> ThreadChoice:
    """The thread count and wait policy (``requested``: ``--codex-threads``, None = auto)."""
    env = os.environ if environ is None else environ
    wait = env.get("OMP_WAIT_POLICY", "").strip().lower()
    wait = f"{wait} (OMP_WAIT_POLICY)" if wait in WAIT_POLICIES else WAIT_POLICY
    if requested is not None:
        return ThreadChoice(requested, wait, f"--codex-threads={requested}")
    omp = env.get("OMP_NUM_THREADS", "").strip().split(",")[0]
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), wait, f"OMP_NUM_THREADS={omp}")
    cpus = cpus or usable_cpus()
    others, how = busy if busy is not None else busy_elsewhere()
    threads = max(1, min(cpus, cpus - math.ceil(others - 0.5)))  # others rounded half down
    return ThreadChoice(threads, wait, f"{cpus} CPUs less those busy at start: {how}")


@contextlib.contextmanager
def _wait_policy_env(choice: ThreadChoice) -> Iterator[None]:
    """OMP_WAIT_POLICY set for the duration of a library's first import, then restored."""
    before = os.environ.get("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = choice.wait_policy.split()[0].upper()
    try:
        yield
    finally:
        if before is None:
            del os.environ["OMP_WAIT_POLICY"]
        else:
            os.environ["OMP_WAIT_POLICY"] = before


def load_library(module: str, choice: ThreadChoice, backend: str) -> tuple[ModuleType, ThreadChoice]:
    """Import ``module`` (torch, llama_cpp) with the wait policy in place; the choice as applied."""
    if module in sys.modules:  # its OpenMP runtime has read the environment already
        wait = choice.wait_policy
        if not wait.endswith("(OMP_WAIT_POLICY)"):
            wait = f"unchanged ({module} was imported before pytest-codex chose it)"
        return sys.modules[module], ThreadChoice(choice.threads, wait, choice.source, backend)
    with _wait_policy_env(choice):
        lib = importlib.import_module(module)
    return lib, ThreadChoice(choice.threads, choice.wait_policy, choice.source, backend)


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
