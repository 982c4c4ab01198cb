"""Kept tokens per second: pytest-codex's transformers backend against naive ``generate``.

    .venv/bin/python benchmarks/bench_generation.py [--prompts 20] [--max-new-tokens 512]

SmolLM2-135M-Instruct (the embedded GGUF, de-quantized once into the cache), the first
``--prompts`` HumanEval prompts in completion style with the Codex stop sequences, two
settings: greedy, and n = 10 samples per prompt at T = 0.8.  Contenders, each in its own
child process (so each one's peak memory is its own), in one run:

* ``naive``: ``model.generate`` one prompt at a time, float32, ``stop_strings`` (for n = 10:
  ``num_return_sequences=10``), the way a short evaluation script calls transformers;
* ``codex``: the backend the plugin uses (continuous batching, default batch size, default
  dtype: bfloat16 where the CPU computes it natively);
* ``codex-fp32``: the same in float32, to separate batching from the dtype;
* ``llamacpp`` (when ``llama-cpp-python`` is installed; ``--contenders`` adds it): the
  ``llamacpp:`` backend on the GGUF as it is (Q4_1), continuous batching over sequences.

"Kept" tokens are those of the completion as cut at the first stop sequence; tokens
generated past a stop, or by rows that had already stopped, are computed but not kept.
Prints one row per contender and the ratios of kept tokens/s against naive.  Generation
time only (model loading is reported apart).  The machine's load average is printed: on a
shared machine, compare ratios from one run, not absolute rates across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SETTINGS = {"greedy": dict(n=1, temperature=0.0), "n10": dict(n=10, temperature=0.8)}
CONTENDERS = ("naive", "codex", "codex-fp32")


def prompts(count: int) -> list[str]:
    from pytest_codex.core.problems import load_suite

    return [p.prompt for p in load_suite("humaneval").problems[:count]]


def generator(dtype: str, cache_dir: str):
    from pytest_codex.models.hf import HFGenerator
    from pytest_codex.models.sources import Source, smollm2_gguf
    from pytest_codex.options.generation import GenerationOptions

    gen = HFGenerator(
        Source("gguf", smollm2_gguf(), "--model=smollm2"),
        GenerationOptions(dtype=dtype, prompt_style="completion", cache_dir=cache_dir),
    )
    gen.resolve()
    return gen


def kept_tokens(tok, prompt_ids: list[int], ids: list[int], stop) -> int:
    """Tokens of a raw generation that the completion keeps once cut at the first stop."""
    from pytest_codex.models.prompts import find_stop

    anchor = prompt_ids[-1:]
    base = len(tok.decode(anchor, skip_special_tokens=True))
    text = tok.decode(anchor + ids, skip_special_tokens=True)[base:]
    cut = find_stop(text, stop)
    if cut is None:
        return len(ids)
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tok.decode(anchor + ids[:mid], skip_special_tokens=True)) - base >= cut:
            hi = mid
        else:
            lo = mid + 1
    return lo


def run_naive(setting: str, args) -> dict:
    import torch

    from pytest_codex.core.generation import GenParams

    gen = generator("float32", args.cache_dir)  # the de-quantized weights, same as codex's
    start = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - start
    model, tok = gen.model, gen.tokenizer
    params = GenParams(max_new_tokens=args.max_new_tokens, **SETTINGS[setting])
    kept = computed = 0
    eos = set(gen._eos_ids())
    start = time.perf_counter()
    for i, prompt in enumerate(prompts(args.prompts)):
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            stop_strings=list(params.stop),
            tokenizer=tok,
            pad_token_id=tok.eos_token_id,
        )
        if params.temperature == 0:
            kwargs.update(do_sample=False)
        else:
            torch.manual_seed(args.seed + i)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=1.0, num_return_sequences=params.n)
        with torch.inference_mode():
            out = model.generate(ids, **kwargs)
        for row in out[:, ids.shape[1] :].tolist():
            computed += len(row)
            row = row[: next((j for j, t in enumerate(row) if t in eos), len(row))]
            kept += kept_tokens(tok, ids[0].tolist(), row, params.stop)
    return {
        "kept": kept,
        "computed": computed,
        "seconds": time.perf_counter() - start,
        "load_s": load_s,
        "dtype": "float32",
        "batch_size": params.n,
    }


def run_codex(setting: str, args, dtype: str) -> dict:
    from pytest_codex.core.generation import GenParams

    gen = generator(dtype, args.cache_dir)
    start = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - start
    params = GenParams(max_new_tokens=args.max_new_tokens, seed=args.seed, **SETTINGS[setting])
    decoders = []
    make = gen.decoder
    gen.decoder = lambda p, batch_size=None, **kw: decoders.append(make(p, batch_size, **kw)) or decoders[-1]
    kept = 0
    start = time.perf_counter()
    for _, comps in gen.iter_generate(prompts(args.prompts), params):
        kept += comps[0].num_tokens if params.temperature == 0 else sum(c.num_tokens for c in comps)
    return {
        "kept": kept,
        "computed": sum(d.computed_tokens for d in decoders),
        "load_s": load_s,
        "seconds": time.perf_counter() - start,
        "dtype": gen.dtype,
        "batch_size": gen.batch_size,
    }


def run_llamacpp(setting: str, args) -> dict:
    from pytest_codex.core.generation import GenParams
    from pytest_codex.models.llamacpp import LlamaCppGenerator
    from pytest_codex.models.sources import Source, smollm2_gguf
    from pytest_codex.options.generation import GenerationOptions

    gen = LlamaCppGenerator(
        Source("gguf", smollm2_gguf(), "--model=llamacpp"),
        GenerationOptions(prompt_style="completion", cache_dir=args.cache_dir),
    )
    start = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - start
    params = GenParams(max_new_tokens=args.max_new_tokens, seed=args.seed, **SETTINGS[setting])
    kept = 0
    start = time.perf_counter()
    for _, comps in gen.iter_generate(prompts(args.prompts), params):
        kept += comps[0].num_tokens if params.temperature == 0 else sum(c.num_tokens for c in comps)
    return {
        "kept": kept,
        "computed": -1,
        "load_s": load_s,
        "seconds": time.perf_counter() - start,
        "dtype": "Q4_1",
        "batch_size": gen.batch_size,
    }


def child(name: str, setting: str, args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if name == "naive":
        out = run_naive(setting, args)
    elif name == "llamacpp":
        out = run_llamacpp(setting, args)
    else:
        out = run_codex(setting, args, "float32" if name == "codex-fp32" else "auto")
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    out["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--settings", default="greedy,n10")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--cache-dir", default=os.path.join(".codex", "cache"))
    ap.add_argument("--child", nargs=2, metavar=("CONTENDER", "SETTING"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args)
        return
    generator("float32", args.cache_dir)  # convert the GGUF once, outside the timings
    print(
        f"SmolLM2-135M-Instruct, {args.prompts} HumanEval prompts, completion style, max {args.max_new_tokens} "
        f"new tokens; load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(
        f"{'setting':7} {'contender':11} {'dtype':8} {'kept':>6} {'computed':>8} {'seconds':>8} "
        f"{'kept tok/s':>10} {'peak RSS':>9} {'vs naive':>8}"
    )
    for setting in args.settings.split(","):
        rates = {}
        for name in args.contenders.split(","):
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                name,
                setting,
                f"--prompts={args.prompts}",
                f"--max-new-tokens={args.max_new_tokens}",
                f"--seed={args.seed}",
                f"--threads={args.threads}",
                f"--cache-dir={args.cache_dir}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{setting:7} {name:11} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(line[7:])
            rates[name] = r["kept"] / r["seconds"]
            ratio = f"{rates[name] / rates['naive']:.2f}x" if "naive" in rates else "-"
            print(
                f"{setting:7} {name:11} {r['dtype']:8} {r['kept']:6d} {r['computed']:8d} {r['seconds']:8.1f} "
                f"{rates[name]:10.1f} {r['peak_rss_gb']:8.2f}G {ratio:>8}",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}; torch threads: {args.threads or 'default'}")


if __name__ == "__main__":
    main()
