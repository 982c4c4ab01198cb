"""CPU time per row and step of the decoder's text bookkeeping: one batched tokenizer decode
for all rows (what the decoder does) against one decode per row and window (what it did).

    .venv/bin/python benchmarks/bench_decode_text.py [--rows 1024] [--steps 60]

On a GPU this bookkeeping, not the model, can bound a step: at 1,024 rows a step of a
1.5B model takes a few milliseconds on an H200, and so does the text of 1,024 rows.  The
rows here get real code tokens (this package's own source, through SmolLM2's tokenizer,
which ``benchmarks/assets`` carries), the Codex stop rule, and never stop (every step costs
what a running row costs).  Both contenders run in one process, interleaved, best of
``--rounds``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import gpu_check

    from pytest_codex.core.generation import GenParams
    from pytest_codex.models import prompts
    from pytest_codex.models.decoding import Decoder, Job

    tok = gpu_check.load_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        gpu_check.build_model(tmp, tiny=True, device="cpu", dtype_name="float32")
        from transformers import AutoModelForCausalLM

        from pytest_codex.models.hf import quiet_transformers

        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(tmp)
    rule = prompts.stop_rule(prompts.COMPLETION, GenParams().stop)
    dec = Decoder(
        model, tok, device="cpu", batch_size=args.rows, eos_ids=[], stop_rule=rule, temperature=0.8, top_p=1.0
    )
    source = open(
        os.path.join(os.path.dirname(gpu_check.__file__), "..", "pytest_codex", "models", "decoding.py")
    ).read()
    ids = tok(source)["input_ids"]
    rng = random.Random(0)
    offsets = [rng.randrange(len(ids) - args.steps - 1) for _ in range(args.rows)]
    job = Job(0, ids[:3], list(range(args.rows)), {i: i for i in range(args.rows)}, 10**9)
    batched = dec._decode
    one_by_one = lambda seqs: [tok.decode(s, skip_special_tokens=True) for s in seqs]  # noqa: E731
    best = {"batched": float("inf"), "one by one": float("inf")}
    for _ in range(args.rounds):
        for name, decode in (("batched", batched), ("one by one", one_by_one)):
            dec._decode = decode
            rows = [dec._new_row(job, i) for i in range(args.rows)]
            start = time.perf_counter()
            for step in range(args.steps):
                dec._advance(rows, [ids[o + step] for o in offsets], [0.0] * args.rows)
            best[name] = min(best[name], (time.perf_counter() - start) / args.steps / args.rows)
    print(f"{args.rows} rows, {args.steps} steps, best of {args.rounds}; load average {os.getloadavg()[0]:.2f}")
    for name, seconds in best.items():
        print(f"{name:11} {seconds * 1e6:6.2f} us per row and step ({seconds * args.rows * 1e3:6.1f} ms per step)")
    print(f"ratio: {best['one by one'] / best['batched']:.2f}x")


if __name__ == "__main__":
    main()
