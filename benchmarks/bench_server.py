"""Completions per second through the openai backend at concurrency 1 and 8, and the ratio.

Starts a real llama-cpp-python server on 127.0.0.1 serving SmolLM2-135M-Instruct (or
--gguf, or uses --base-url/--model-name of a server you run), generates the same samples
(same prompts, same per-sample seeds) at each concurrency, and prints completions/s.
The two settings run in ABBA order (--repeats 2) and each keeps its best time, so that a
load that changes during the run (a shared machine) does not favour one of them.

    .venv/bin/python benchmarks/bench_server.py [--problems 6] [--n 2] [--max-tokens 48] [--repeats 2]

llama-cpp-python's server runs one request at a time (one model, one lock), so there the
overlap only hides per-request latency (HTTP, tokenising, queueing); servers that batch
concurrent requests (vLLM, TGI, SGLang, llama.cpp's llama-server --parallel) gain more.
"""

from __future__ import annotations

import argparse
import sys
import time

from pytest_codex.core.generation import GenParams
from pytest_codex.core.problems import load_suite
from pytest_codex.models.local_server import LlamaServer
from pytest_codex.models.openai_api import OpenAIGenerator


def measure(gen: OpenAIGenerator, prompts: list[str], params: GenParams) -> tuple[float, int, int]:
    start = time.perf_counter()
    out = gen.generate(prompts, params)
    seconds = time.perf_counter() - start
    comps = [c for row in out for c in row]
    return seconds, len(comps), sum(c.num_tokens or 0 for c in comps)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=6, help="first N HumanEval prompts (default 6)")
    ap.add_argument("--n", type=int, default=2, help="samples per prompt (default 2)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each setting, in ABBA order (default 2)")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--concurrency", type=int, nargs=2, default=[1, 8], metavar=("BASELINE", "CONTENDER"))
    ap.add_argument("--gguf", default=None, help="GGUF to serve (default: SmolLM2-135M-Instruct)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads of the local server")
    ap.add_argument("--base-url", default=None, help="use this running server instead of starting one")
    ap.add_argument("--model-name", default="smollm2", help="model name at --base-url")
    args = ap.parse_args(argv)

    prompts = [p.prompt for p in load_suite("humaneval").problems[: args.problems]]
    params = GenParams(n=args.n, temperature=args.temperature, top_p=0.95, max_new_tokens=args.max_tokens)
    server = None
    if args.base_url is None:
        server = LlamaServer(args.gguf, n_threads=args.threads).start()
        base_url, model = server.base_url, server.alias
    else:
        base_url, model = args.base_url.rstrip("/"), args.model_name
    try:
        warm = OpenAIGenerator(model, base_url, concurrency=1)
        warm.generate(prompts[:1], GenParams(n=1, max_new_tokens=4))  # load the model, fill caches
        results: dict[int, tuple[float, int, int]] = {}
        for r in range(args.repeats):
            for c in args.concurrency if r % 2 == 0 else args.concurrency[::-1]:
                got = measure(OpenAIGenerator(model, base_url, concurrency=c), prompts, params)
                if c not in results or got[0] < results[c][0]:
                    results[c] = got
    finally:
        if server is not None:
            server.stop()

    where = f"{model} at {base_url}" + (f" (llama-cpp-python, {args.threads} thread(s))" if server else "")
    print(
        f"bench_server: {where}; {len(prompts)} prompts x n={args.n}, T={args.temperature}, "
        f"max_tokens={args.max_tokens}; best of {args.repeats} run(s) each, ABBA order"
    )
    rates = {}
    for c, (seconds, comps, tokens) in results.items():
        rates[c] = comps / seconds
        print(
            f"  concurrency {c:>2}: {comps} completions in {seconds:.2f} s = {rates[c]:.2f} completions/s "
            f"({tokens / seconds:.1f} tokens/s)"
        )
    base, cont = args.concurrency
    print(f"  ratio concurrency {cont} / {base}: {rates[cont] / rates[base]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
