"""Wall time of `pytest --codex-suite=FILE` against EvalPlus's own evaluator, same samples.

    .venv/bin/python benchmarks/bench_humanevalplus.py HumanEvalPlus.jsonl.gz SAMPLES.jsonl \\
        [--workers 2] [--venv ~/.cache/pytest-codex-evalplus-venv] [--evalplus evalplus==0.3.1]

EvalPlus (``evalplus.evaluate``) is installed by this script into its own virtual environment
(``--venv``; its dependencies, transformers and datasets among them, make it a poor runtime
dependency of pytest-codex) and reads the same HumanEval+ file through its
``HUMANEVAL_OVERRIDE_PATH`` variable, with its cache in a temporary directory.  Both evaluate
the same samples (base and plus inputs) with the same number of workers (``--parallel N``
and ``-n N``), in one run on this machine (EvalPlus's process ends when ``evaluate()`` returns:
its watchdog thread would otherwise keep it alive up to 20 s longer):

* **cold**: the first run of each, which computes the expected outputs (EvalPlus: in its own
  process; pytest-codex: in the sandbox) and caches them;
* **warm**: the best of ``--repeat`` further runs of each, interleaved, with those caches.

Every sandbox layer is on (the header of the pytest run lists them).  Prints the wall times,
the ratios (EvalPlus time / pytest-codex time), the machine's load average, and whether both
gave the same base and plus verdict for every sample.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path.home() / ".cache" / "pytest-codex-evalplus-venv"
# `python -m evalplus.evaluate --dataset humaneval --samples S --parallel N`, except that the
# process ends as soon as evaluate() returns: EvalPlus starts a watchdog thread that sleeps
# 20 s between checks and keeps the interpreter alive that long after the work is done.
EVALPLUS = (
    "import os, sys; from evalplus.evaluate import evaluate; "
    "evaluate(dataset='humaneval', samples=sys.argv[1], parallel=int(sys.argv[2])); "
    "sys.stdout.flush(); os._exit(0)"
)


def ensure_venv(venv: Path, requirement: str) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evalplus.evaluate, evalplus; print(evalplus.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing {requirement} into {venv} ...", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    return python


def timed(cmd: list[str], cwd: Path, env: dict, stdin: str | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return elapsed, proc.stdout


def evalplus_verdicts(path: Path) -> dict[tuple[str, int], tuple[bool, bool]]:
    doc = json.loads(path.read_text())
    out = {}
    for task, results in doc["eval"].items():
        for i, r in enumerate(results):
            base = r["base_status"] == "pass"
            out[(task, i)] = (base, base and r["plus_status"] == "pass")
    return out


def codex_verdicts(path: Path) -> dict[tuple[str, int], tuple[bool, bool]]:
    run = json.loads(path.read_text())["runs"][0]
    out = {}
    for p in run["problems"]:
        for i, s in enumerate(p["samples"]):
            base = s["verdict"] == "passed"
            out[(p["task_id"], i)] = (base, base and s.get("plus_verdict") == "passed")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plus_file", type=Path, help="HumanEval+ in EvalPlus's format")
    ap.add_argument("samples", type=Path, help="samples (task_id, completion), every task of the file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="warm runs of each; the best is reported")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="EvalPlus's virtual environment")
    ap.add_argument("--evalplus", default="evalplus", help="the pip requirement for EvalPlus")
    args = ap.parse_args()
    evalplus_python = ensure_venv(args.venv.expanduser(), args.evalplus)

    with tempfile.TemporaryDirectory(prefix="codex-bench-heplus-") as tmp:
        tmp = Path(tmp)
        samples = tmp / "samples.jsonl"
        shutil.copy(args.samples, samples)
        project = tmp / "project"
        project.mkdir()
        shutil.copy(ROOT / "problems" / "test_humaneval.py", project / "test_humaneval.py")
        report = tmp / "codex.json"
        theirs_results = tmp / "samples_eval_results.json"
        plus_file = str(args.plus_file.resolve())
        theirs_env = {
            **os.environ,
            "HUMANEVAL_OVERRIDE_PATH": plus_file,
            "XDG_CACHE_HOME": str(tmp / "evalplus-cache"),
            "PYTHONPATH": "",
        }
        ours_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        theirs_cmd = [str(evalplus_python), "-c", EVALPLUS, str(samples), str(args.workers)]
        ours_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--codex-suite={plus_file}",
            f"--model=samples:{samples}",
            f"--codex-report={report}",
            "-n",
            str(args.workers),
        ]
        times: dict[str, list[float]] = {"evalplus": [], "codex": []}
        for _ in range(1 + args.repeat):  # the first round: cold caches
            theirs_results.unlink(missing_ok=True)  # else EvalPlus just reloads its last results
            t, _ = timed(theirs_cmd, tmp, theirs_env)
            times["evalplus"].append(t)
            t, _ = timed(ours_cmd, project, ours_env)
            times["codex"].append(t)
        theirs, ours = evalplus_verdicts(theirs_results), codex_verdicts(report)
        execution = json.loads(report.read_text())["runs"][0]["manifest"]["execution"]
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    count = len(ours)
    load = os.getloadavg()
    print(f"samples: {count} ({args.samples.name}), workers: {args.workers}, load average {load[0]:.1f} {load[1]:.1f}")
    layers = execution.get("layers") or {}
    missing = [name for name, on in layers.items() if not on]
    print(f"pytest-codex sandbox layers on: {', '.join(n for n, on in layers.items() if on)}; off: {missing or 'none'}")
    for name, idx in (("cold (computing expected outputs)", 0), ("warm (cached expected outputs)", slice(1, None))):
        e = times["evalplus"][idx] if isinstance(idx, int) else min(times["evalplus"][idx])
        o = times["codex"][idx] if isinstance(idx, int) else min(times["codex"][idx])
        print(f"{name}: EvalPlus {e:7.2f} s, pytest-codex {o:7.2f} s, ratio {e / o:5.2f}x")
    base = sum(b for b, _ in ours.values())
    plus = sum(p for _, p in ours.values())
    print(f"pytest-codex verdicts: base {base}, plus {plus}; differences from EvalPlus: {len(differ)}")
    for key in differ[:20]:
        print(f"  {key}: EvalPlus {theirs.get(key)}, pytest-codex {ours.get(key)}")


if __name__ == "__main__":
    main()
