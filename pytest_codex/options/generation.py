"""Options of the generating backends (``smollm2``, ``hf:``, ``gguf:``, ``llamacpp:``, ``openai:``).

Nothing here imports torch: whether a device or dtype can really run is checked when a
model is created (``pytest_codex.models.hf``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.core.errors import usage_error
from pytest_codex.core.files import unwritable
from pytest_codex.core.generation import GenParams
from pytest_codex.options.declare import Option, Values
from pytest_codex.options.parse import Choice, Integer, Number, OrAuto, Pattern, Text

DEVICES = "auto, cpu, cuda, cuda:N"
DTYPES = ("auto", "float32", "bfloat16", "float16")
PROMPT_STYLES = ("auto", "completion", "chat")
DEFAULT_CACHE_DIR = os.path.join(".codex", "cache")

N = Option("--codex-n", "samples per problem (--codex-recipe=codex: 200)", Integer(1, "10"), 1, "N")
TEMPERATURE = Option("--codex-temperature", "sampling temperature; 0 = greedy", Number(0.0, 100.0, "0.8"), 0.0, "T")
TOP_P = Option(
    "--codex-top-p",
    "nucleus sampling: keep the smallest set of tokens with probability >= P",
    Number(0.0, 1.0, "0.95", lo_open=True),
    1.0,
    "P",
)
MAX_NEW_TOKENS = Option("--codex-max-new-tokens", "most tokens generated per sample", Integer(1, "512"), 512, "N")
SEED = Option(
    "--codex-seed",
    "sampling seed; each sample's seed derives from (seed, prompt, sample index)",
    Integer(0, "0"),
    0,
    "INT",
)
BATCH_SIZE = Option(
    "--codex-batch-size",
    "rows decoded together by the transformers backend; auto = 32 on CPU, from free memory on a GPU",
    OrAuto(Integer(1, "32")),
    "auto",
    "N",
)
DEVICE = Option(
    "--codex-device",
    f"device of the transformers backend: {DEVICES}; auto = the GPU if there is one",
    Pattern(r"auto|cpu|cuda|cuda:\d+", "unknown device", f"give one of {DEVICES}", lower=True),
    "auto",
    "DEVICE",
)
DTYPE = Option(
    "--codex-dtype",
    "weights dtype of the transformers backend: "
    + ", ".join(DTYPES)
    + "; auto = float32 on a CPU (the same completions on every CPU; bfloat16 is opt-in), "
    "bfloat16 on a GPU that has it, else float16",
    Choice(DTYPES),
    "auto",
    "DTYPE",
)
PROMPT_STYLE = Option(
    "--codex-prompt-style",
    "completion (the prompt as is, for base models), chat (chat "
    "template, code extracted from the reply) or auto (chat when the tokenizer has a chat template)",
    Choice(PROMPT_STYLES),
    "auto",
    "STYLE",
)
CACHE_DIR = Option(
    "--codex-cache-dir",
    "completion store and converted models",
    Text(".codex/cache"),
    None,
    "DIR",
    shown_default=f"{DEFAULT_CACHE_DIR} under the rootdir",
)
THREADS = Option(
    "--codex-threads",
    "threads of a CPU backend (transformers, llama.cpp); auto = OMP_NUM_THREADS if set, else the CPUs "
    "not busy with other processes at start; their OpenMP threads spin briefly, then sleep (GOMP_SPINCOUNT=20000; "
    "OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment win)",
    OrAuto(Integer(1, "2")),
    "auto",
    "N",
)
REGENERATE = Option(
    "--codex-regenerate", "generate every selected sample again (replacing what the store has)", kind="flag"
)

OPTIONS = (
    N,
    TEMPERATURE,
    TOP_P,
    MAX_NEW_TOKENS,
    SEED,
    BATCH_SIZE,
    DEVICE,
    DTYPE,
    PROMPT_STYLE,
    CACHE_DIR,
    REGENERATE,
    THREADS,
)


@dataclass(frozen=True)
class GenerationOptions:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0
    batch_size: int | None = None  # None = auto
    device: str = "auto"
    dtype: str = "auto"
    prompt_style: str = "auto"
    cache_dir: str = DEFAULT_CACHE_DIR
    regenerate: bool = False
    threads: int | None = None  # None = auto (pytest_codex.models.threads)

    def params(self) -> GenParams:
        """The sampling parameters (the Codex stop sequences by default)."""
        return GenParams(
            n=self.n, temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, seed=self.seed
        )

    @classmethod
    def from_values(cls, values: Values, rootpath: Path) -> GenerationOptions:
        cache_dir = values.get(CACHE_DIR)
        cache_dir = (
            str(rootpath / DEFAULT_CACHE_DIR) if cache_dir is None else os.path.abspath(os.path.expanduser(cache_dir))
        )
        why = unwritable(cache_dir, "dir") if values.given(CACHE_DIR) or os.path.exists(cache_dir) else None
        if why is not None:
            raise usage_error(CACHE_DIR.flag, cache_dir, why, "give a writable directory (it is created if missing)")
        batch, threads = values.get(BATCH_SIZE), values.get(THREADS)
        return cls(
            n=values.get(N),
            temperature=values.get(TEMPERATURE),
            top_p=values.get(TOP_P),
            max_new_tokens=values.get(MAX_NEW_TOKENS),
            seed=values.get(SEED),
            batch_size=None if batch == "auto" else int(batch),
            device=values.get(DEVICE),
            dtype=values.get(DTYPE),
            prompt_style=values.get(PROMPT_STYLE),
            cache_dir=cache_dir,
            regenerate=values.get(REGENERATE),
            threads=None if threads == "auto" else int(threads),
        )
