"""Do greedy completions depend on the batch size, the thread count or the dtype?

    .venv/bin/python benchmarks/bench_reproducible.py [--prompts 40] [--batch-sizes 1,8,32] [--threads 1,2]

SmolLM2-135M-Instruct (the embedded GGUF, de-quantized once into the cache) through the
transformers backend the plugin uses, greedy, on the first ``--prompts`` HumanEval prompts in
the model's default prompt style (``--style``).  Each configuration (dtype x batch size x
torch threads) runs in its own child process; the completions of every configuration are
compared byte for byte with the first one's, and the problems where they differ are listed
with the first character where they part.  Prints a verdict line per configuration.  Each
configuration's completions are kept in ``--out``, so a later run (say, with more thread
counts) reuses them.  The backend asks Intel MKL for its strict reproducible mode
(``MKL_CBWR=AUTO,STRICT``) unless ``MKL_CBWR`` is set: run with ``MKL_CBWR=AUTO`` to see
what happens without it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def prompts(count: int) -> list[tuple[str, str]]:
    from pytest_codex.core.problems import load_suite

    return [(p.task_id, p.prompt) for p in load_suite("humaneval").problems[:count]]


def child(args) -> None:
    import torch

    from pytest_codex.core.generation import GenParams
    from pytest_codex.models.hf import HFGenerator
    from pytest_codex.models.sources import Source, smollm2_gguf
    from pytest_codex.options.generation import GenerationOptions

    torch.set_num_threads(args.child_threads)
    gen = HFGenerator(
        Source("gguf", smollm2_gguf(), "--model=smollm2"),
        GenerationOptions(
            dtype=args.child_dtype,
            prompt_style=args.style,
            cache_dir=args.cache_dir,
            batch_size=args.child_batch,
        ),
    )
    resolved = gen.resolve()
    gen.load()
    items = prompts(args.prompts)
    params = GenParams(n=1, temperature=0.0, max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    out = {}
    for i, comps in gen.iter_generate([p for _, p in items], params):
        out[items[i][0]] = comps[0].raw if comps[0].raw is not None else comps[0].text
    print(
        "RESULT "
        + json.dumps(
            {
                "completions": out,
                "seconds": time.perf_counter() - start,
                "threads": torch.get_num_threads(),
                "style": resolved["prompt_style"],
                "dtype": resolved["dtype"],
                "mkl_cbwr": resolved.get("mkl_cbwr"),
            }
        )
    )


def first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--batch-sizes", default="1,8,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--style", default="auto")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--cache-dir", default=os.path.join(".codex", "cache"))
    ap.add_argument(
        "--out",
        default=os.path.join(".codex", "bench-reproducible"),
        help="each configuration's completions are kept here and reused by a later run (default %(default)s)",
    )
    ap.add_argument("--child-batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-dtype", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_batch:
        child(args)
        return
    configs = [
        (dtype, int(b), int(t))
        for dtype in args.dtypes.split(",")
        for t in args.threads.split(",")
        for b in args.batch_sizes.split(",")
    ]
    print(
        f"SmolLM2-135M-Instruct, greedy, {args.prompts} HumanEval prompts, style {args.style}, max "
        f"{args.max_new_tokens} new tokens; load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)",
        flush=True,
    )
    base: dict | None = None
    base_name = ""
    for dtype, batch, threads in configs:
        name = f"{dtype} batch {batch} threads {threads}"
        kept = os.path.join(
            args.out,
            f"{dtype}-b{batch}-t{threads}-{args.style}-{args.max_new_tokens}-{args.prompts}"
            f"-cbwr{os.environ.get('MKL_CBWR', 'default')}.json",
        )
        if os.path.exists(kept):
            with open(kept) as fh:
                r = json.load(fh)
            name += " (kept from an earlier run)"
        else:
            r = run_child(args, dtype, batch, threads)
            if r is None:
                print(f"{name}: FAILED", flush=True)
                continue
            os.makedirs(args.out, exist_ok=True)
            with open(kept, "w") as fh:
                json.dump(r, fh)
        comps = r["completions"]
        if base is None:
            base, base_name = comps, name
            print(
                f"{name}: {r['seconds']:.0f} s, style {r['style']}, MKL_CBWR {r.get('mkl_cbwr')}: the reference",
                flush=True,
            )
            continue
        differ = [t for t in base if comps.get(t) != base[t]]
        detail = "; ".join(f"{t} at char {first_difference(base[t], comps.get(t, ''))}" for t in differ[:8])
        verdict = "byte-identical" if not differ else f"{len(differ)} of {len(base)} differ ({detail})"
        print(f"{name}: {r['seconds']:.0f} s: {verdict} vs {base_name}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def run_child(args, dtype: str, batch: int, threads: int) -> dict | None:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        f"--prompts={args.prompts}",
        f"--style={args.style}",
        f"--max-new-tokens={args.max_new_tokens}",
        f"--cache-dir={args.cache_dir}",
        f"--child-batch={batch}",
        f"--child-threads={threads}",
        f"--child-dtype={dtype}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        print(proc.stderr.strip().splitlines()[-3:], flush=True)
        return None
    return json.loads(line[7:])


if __name__ == "__main__":
    main()
