"""Acceptance check: HumanEval+ judged as EvalPlus judges it, task by task.

    .venv/bin/python benchmarks/check_humanevalplus.py HumanEvalPlus.jsonl.gz \\
        --samples qwen25coder-1.5b-base.jsonl --expected qwen25coder-1.5b-base.expected-plus.json \\
        [--workers 0,2] [--load 0]

For each worker count (``-n 0``, ``-n 2``, ...) it runs, in a fresh project directory (so the
expected outputs are computed again, not read from a cache):

    pytest --codex-suite=FILE --model=reference [--model=samples:SAMPLES] --codex-report=...

and checks from the results file: the reference (the canonical solutions) passes base and
plus on every problem (any that does not is named, with its first failing input); the
samples' base and plus verdicts equal EvalPlus's, task by task (the ``--expected`` file:
``{"verdicts": {task_id: {"base": "pass"|"fail", "plus": ...}}}``, as EvalPlus's
``base_status`` / ``plus_status``; plus counts as passed only with base).  ``--load N`` runs N
busy processes during the runs (a loaded machine).  Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def burn() -> None:
    while True:
        pass


def run_pytest(plus_file: Path, samples: Path | None, workers: int, project: Path) -> tuple[dict, float]:
    shutil.copy(ROOT / "problems" / "test_humaneval.py", project / "test_humaneval.py")
    report = project / "results.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--codex-suite={plus_file}",
        "--model=reference",
        f"--codex-report={report}",
        "-n",
        str(workers),
    ]
    if samples is not None:
        cmd.append(f"--model=samples:{samples}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not report.is_file():
        sys.exit(f"pytest failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return json.loads(report.read_text()), elapsed


def verdicts(run: dict) -> dict[str, tuple[bool, bool, dict | None]]:
    out = {}
    for p in run["problems"]:
        s = p["samples"][0]
        base = s["verdict"] == "passed"
        out[p["task_id"]] = (base, base and s.get("plus_verdict") == "passed", s)
    return out


def check(doc: dict, expected: dict | None, workers: int) -> int:
    runs = {r["label"]: r for r in doc["runs"]}
    problems = 0
    ref = verdicts(runs["reference"])
    broken = {t: s for t, (b, p, s) in ref.items() if not (b and p)}
    print(
        f"  reference: base {sum(b for b, _, _ in ref.values())}/{len(ref)}, plus {sum(p for _, p, _ in ref.values())}/{len(ref)}"
    )
    for task, s in broken.items():
        problems += 1
        print(
            f"    canonical solution fails: {task}: {s['verdict']}/{s.get('plus_verdict')}: {s.get('detail') or s.get('plus_detail')}"
        )
    if expected is not None:
        label = next(label for label in runs if label != "reference")
        got = verdicts(runs[label])
        want = {t: (v["base"] == "pass", v["base"] == "pass" and v["plus"] == "pass") for t, v in expected.items()}
        print(
            f"  {label}: base {sum(b for b, _, _ in got.values())} (EvalPlus {sum(b for b, _ in want.values())}), "
            f"plus {sum(p for _, p, _ in got.values())} (EvalPlus {sum(p for _, p in want.values())})"
        )
        for task in sorted(set(got) | set(want), key=lambda t: (len(t), t)):
            if task not in got or task not in want:
                problems += 1
                print(f"    {task}: only in {'the run' if task in got else 'the expected verdicts'}")
            elif got[task][:2] != want[task]:
                problems += 1
                s = got[task][2]
                print(
                    f"    {task}: pytest-codex base/plus {got[task][:2]}, EvalPlus {want[task]}: "
                    f"{s['verdict']}/{s.get('plus_verdict')}: {s.get('detail') or s.get('plus_detail')}"
                )
        print(f"  task-by-task differences from EvalPlus (-n {workers}): {problems - len(broken)}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plus_file", type=Path, help="HumanEval+ in EvalPlus's format (.jsonl or .jsonl.gz)")
    ap.add_argument("--samples", type=Path, help="a samples file (task_id, completion), one sample per task")
    ap.add_argument("--expected", type=Path, help="EvalPlus's verdicts for the samples (JSON)")
    ap.add_argument("--workers", default="0,2", help="worker counts to run, e.g. 0,2")
    ap.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile")
    args = ap.parse_args()
    expected = json.loads(args.expected.read_text())["verdicts"] if args.expected else None
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    failures = 0
    try:
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory(prefix="codex-heplus-") as tmp:
                doc, seconds = run_pytest(
                    args.plus_file.resolve(), args.samples and args.samples.resolve(), workers, Path(tmp)
                )
            print(f"-n {workers} (load {args.load}, cold cache): {seconds:.1f} s")
            failures += check(doc, expected, workers)
    finally:
        for b in burners:
            b.terminate()
    print("OK: the same verdicts as EvalPlus" if failures == 0 else f"{failures} difference(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
