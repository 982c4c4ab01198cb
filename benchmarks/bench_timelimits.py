"""The cost of judging time limits on CPU time, against the wall-clock policy it replaced.

    .venv/bin/python benchmarks/bench_timelimits.py [--rounds 10] [--baseline 3340c3c]

1,640 canonical samples (10 rounds over the 164 HumanEval problems) through the sandbox under
each policy, in one run:

* ``wall`` (the baseline): the package as it was at commit ``--baseline`` (3340c3c: the
  sandbox of this tree's round-two hardening, merged just before the CPU-time policy; the
  commits before it lack that hardening, whose cost would be counted too), exported with ``git archive`` into a temporary
  directory: a limit of floor + 10 x the canonical solution's wall-clock time, judged on
  the wall clock;
* ``cpu`` (the contender): this working tree: floor + 10 x the canonical solution's CPU time,
  judged on the CPU time the fork server reads from the rusage of every process of the
  sample, RLIMIT_CPU as the hard stop, a wall-clock guard 10 x the limit.

Each policy runs in a worker process of its own (one executor each, as a pytest process
has).  Both calibrate first (the canonical solutions, best of two, not timed), then chunks of
``--chunk`` problems are interleaved, wall, cpu, cpu, wall, wall, cpu, ..., each chunk timed
in its worker, so a change in the machine's load hits both alike: other jobs share this
machine.  Prints each policy's samples per second, the ratio of their total times and the
median of the per-chunk ratios (robust to a burst of load during one chunk).
``--baseline HEAD`` runs the same code on both sides: its ratios show the noise floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "3340c3c"


def worker() -> None:
    """Commands on stdin, one JSON line each: ["calibrate"] or ["round"]; answers on stdout."""
    from pytest_codex.core.problems import load_suite
    from pytest_codex.sandbox.executor import make_executor
    from pytest_codex.sandbox.timelimits import TimeLimits

    suite = load_suite("humaneval")
    executor = make_executor()
    limits = TimeLimits(floor=3.0, factor=10.0, override=None, cache_dir=None, suite_sha256=suite.sha256)
    out = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        command, first, end = json.loads(line)
        start = time.perf_counter()
        passed = 0
        for p in suite.problems[first:end]:
            limit = limits.limit(p, executor)  # calibrates the first time
            if command == "run":
                passed += executor.run(p, p.canonical_solution, limit).passed
        out.write(json.dumps({"seconds": time.perf_counter() - start, "passed": passed}) + "\n")
        out.flush()
    executor.close()


def export(ref: str, into: str) -> str:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "pytest_codex"], capture_output=True, check=True
    ).stdout
    path = Path(into) / "tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=41, help="problems per timed chunk (default %(default)s)")
    ap.add_argument("--baseline", default=BASELINE, help="git ref of the wall-clock policy (default %(default)s)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker()
        return
    with tempfile.TemporaryDirectory(prefix="codex-bench-wall-") as tmp:
        trees = {"wall": export(args.baseline, tmp), "cpu": str(ROOT)}
        procs = {
            name: subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker"],
                env={**os.environ, "PYTHONPATH": tree},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name, tree in trees.items()
        }

        def ask(name: str, command: str, first: int = 0, end: int = 164) -> dict:
            proc = procs[name]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps([command, first, end]) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        print(
            f"{args.rounds * 164} canonical samples per policy ({args.rounds} rounds over the 164 problems, "
            f"in chunks of {args.chunk}), one executor each, chunks interleaved (ABBA); baseline: {args.baseline}; "
            f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)",
            flush=True,
        )
        calibration = {name: ask(name, "calibrate")["seconds"] for name in procs}
        totals = {name: 0.0 for name in procs}
        passed = {name: 0 for name in procs}
        order = ["wall", "cpu"]
        ratios = []  # cpu / wall per chunk: each pair ran back to back, under about the same load
        pair = 0
        for _ in range(args.rounds):
            for first in range(0, 164, args.chunk):
                took = {}
                for name in order if pair % 2 == 0 else order[::-1]:
                    got = ask(name, "run", first, min(164, first + args.chunk))
                    took[name] = got["seconds"]
                    totals[name] += got["seconds"]
                    passed[name] += got["passed"]
                ratios.append(took["cpu"] / took["wall"])
                pair += 1
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    n = args.rounds * 164
    for name in order:
        print(
            f"{name:4} policy: {n / totals[name]:7.1f} samples/s ({totals[name]:.2f} s, {passed[name]}/{n} passed; "
            f"calibration {calibration[name]:.2f} s)"
        )
    ratios.sort()
    print(
        f"ratio cpu/wall: total time {totals['cpu'] / totals['wall']:.3f}; median of {len(ratios)} paired chunks "
        f"{statistics.median(ratios):.3f} (quartiles {ratios[len(ratios) // 4]:.3f}, {ratios[3 * len(ratios) // 4]:.3f}); "
        f"load average after: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
