"""The cost of judging time limits on CPU time, against the wall-clock policy it replaced.

    .venv/bin/python benchmarks/bench_timelimits.py [--rounds 10] [--baseline 3d7d580]

1,640 canonical samples (10 rounds over the 164 HumanEval problems) through the sandbox under
each policy, in one run:

* ``wall`` (the baseline): the package as it was at commit ``--baseline`` (3d7d580, the last
  commit before the CPU-time policy), exported with ``git archive`` into a temporary
  directory: a limit of floor + 10 x the canonical solution's wall-clock time, judged on
  the wall clock;
* ``cpu`` (the contender): this working tree: floor + 10 x the canonical solution's CPU time,
  judged on the CPU time the fork server reads from the rusage of every process of the
  sample, RLIMIT_CPU as the hard stop, a wall-clock guard 10 x the limit.

Each policy runs in a worker process of its own (one executor each, as a pytest process
has).  Both calibrate first (the canonical solutions, best of two, not timed), then the
rounds are interleaved, wall, cpu, cpu, wall, wall, cpu, ..., each round timed in its
worker, so a change in the machine's load hits both alike: other jobs share this machine.
Prints each policy's samples per second and the ratio of their total times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "3d7d580"


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
        command = json.loads(line)[0]
        start = time.perf_counter()
        passed = 0
        for p in suite.problems:
            limit = limits.limit(p, executor)  # calibrates the first time
            if command == "round":
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

        def ask(name: str, command: str) -> dict:
            proc = procs[name]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps([command]) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        print(
            f"{args.rounds * 164} canonical samples per policy ({args.rounds} rounds of 164), one executor each, "
            f"rounds interleaved; baseline: {args.baseline}; load average before: {os.getloadavg()[0]:.2f} "
            f"({os.cpu_count()} CPUs)",
            flush=True,
        )
        calibration = {name: ask(name, "calibrate")["seconds"] for name in procs}
        totals = {name: 0.0 for name in procs}
        passed = {name: 0 for name in procs}
        order = ["wall", "cpu"]
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                got = ask(name, "round")
                totals[name] += got["seconds"]
                passed[name] += got["passed"]
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
    print(f"ratio cpu/wall (time): {totals['cpu'] / totals['wall']:.3f}; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
