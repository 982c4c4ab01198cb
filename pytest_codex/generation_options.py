"""Options of the generating backends (``smollm2``, ``hf:``, ``gguf:``, ``llamacpp:``).

Parsed once in ``CodexOptions.from_config`` into ``CodexOptions.generation``; every bad
value is a ``pytest.UsageError`` naming the option, the value and the fix.  Nothing here
imports torch: whether a device or dtype can really run is checked when a model is
created (``pytest_codex.models.hf``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import pytest

from .models.base import GenParams

DEVICES = "auto, cpu, cuda, cuda:N"
DTYPES = ("auto", "float32", "bfloat16", "float16")
PROMPT_STYLES = ("auto", "completion", "chat")
DEFAULT_CACHE_DIR = os.path.join(".codex", "cache")


def addoption(group) -> None:
    group.addoption("--codex-n", default=None, metavar="N",  # None: not given (a recipe may set n)
                    help="samples per problem (default 1; --codex-recipe=codex: 200)")
    group.addoption("--codex-temperature", default="0", metavar="T",
                    help="sampling temperature; 0 = greedy (default 0)")
    group.addoption("--codex-top-p", default="1.0", metavar="P",
                    help="nucleus sampling: keep the smallest set of tokens with probability >= P (default 1.0)")
    group.addoption("--codex-max-new-tokens", default="512", metavar="N",
                    help="most tokens generated per sample (default 512)")
    group.addoption("--codex-seed", default="0", metavar="INT",
                    help="sampling seed; each sample's seed derives from (seed, prompt, sample index) (default 0)")
    group.addoption("--codex-batch-size", default="auto", metavar="N",
                    help="rows decoded together by the transformers backend (default auto: 32 on CPU, 64 on a GPU)")
    group.addoption("--codex-device", default="auto", metavar="DEVICE",
                    help=f"device of the transformers backend: {DEVICES} (default auto: the GPU if there is one)")
    group.addoption("--codex-dtype", default="auto", metavar="DTYPE",
                    help="weights dtype of the transformers backend: " + ", ".join(DTYPES)
                         + " (default auto: bfloat16 where the device computes it natively, else float32)")
    group.addoption("--codex-prompt-style", default="auto", metavar="STYLE",
                    help="completion (the prompt as is, for base models), chat (chat template, code "
                         "extracted from the reply) or auto (chat when the tokenizer has a chat template)")
    group.addoption("--codex-cache-dir", default=None, metavar="DIR",
                    help=f"completion store and converted models (default {DEFAULT_CACHE_DIR} under the rootdir)")
    group.addoption("--codex-regenerate", action="store_true", default=False,
                    help="generate every selected sample again (replacing what the store has)")


def _fail(option: str, value, why: str, fix: str) -> pytest.UsageError:
    return pytest.UsageError(f"{option}={value!r}: {why}; {fix}")


def _int(option: str, value, minimum: int, example: str) -> int:
    try:
        x = int(str(value).strip())
    except ValueError:
        raise _fail(option, value, "not an integer", f"give e.g. {option}={example}") from None
    if x < minimum:
        raise _fail(option, value, f"must be at least {minimum}", f"give e.g. {option}={example}")
    return x


def _float(option: str, value, lo: float, hi: float, example: str, *, lo_open: bool = False) -> float:
    try:
        x = float(str(value).strip())
    except ValueError:
        raise _fail(option, value, "not a number", f"give e.g. {option}={example}") from None
    if not math.isfinite(x) or x < lo or x > hi or (lo_open and x == lo):
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise _fail(option, value, f"must be in {span}", f"give e.g. {option}={example}")
    return x


def parse_device(value) -> str:
    v = str(value).strip().lower()
    if v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", v):
        return v
    raise _fail("--codex-device", value, "unknown device", f"give one of {DEVICES}")


def parse_choice(option: str, value, choices: tuple[str, ...]) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise _fail(option, value, "unknown value", f"give one of {', '.join(choices)}")
    return v


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

    def params(self) -> GenParams:
        """The sampling parameters (the Codex stop sequences by default)."""
        return GenParams(n=self.n, temperature=self.temperature, top_p=self.top_p,
                         max_new_tokens=self.max_new_tokens, seed=self.seed)

    @classmethod
    def from_config(cls, config: pytest.Config) -> "GenerationOptions":
        get = config.getoption
        batch = str(get("codex_batch_size")).strip().lower()
        cache_dir = get("codex_cache_dir")
        if cache_dir is None:
            cache_dir = str(config.rootpath / DEFAULT_CACHE_DIR)
        elif not str(cache_dir).strip():
            raise _fail("--codex-cache-dir", cache_dir, "empty", "give a directory, e.g. --codex-cache-dir=.codex/cache")
        else:
            cache_dir = os.path.abspath(os.path.expanduser(cache_dir))
        if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
            raise _fail("--codex-cache-dir", cache_dir, "exists and is not a directory",
                        "give a directory (it is created if missing)")
        return cls(
            n=_int("--codex-n", "1" if get("codex_n") is None else get("codex_n"), 1, "10"),
            temperature=_float("--codex-temperature", get("codex_temperature"), 0.0, 100.0, "0.8"),
            top_p=_float("--codex-top-p", get("codex_top_p"), 0.0, 1.0, "0.95", lo_open=True),
            max_new_tokens=_int("--codex-max-new-tokens", get("codex_max_new_tokens"), 1, "512"),
            seed=_int("--codex-seed", get("codex_seed"), 0, "0"),
            batch_size=None if batch == "auto" else _int("--codex-batch-size", batch, 1, "32"),
            device=parse_device(get("codex_device")),
            dtype=parse_choice("--codex-dtype", get("codex_dtype"), DTYPES),
            prompt_style=parse_choice("--codex-prompt-style", get("codex_prompt_style"), PROMPT_STYLES),
            cache_dir=cache_dir,
            regenerate=bool(get("codex_regenerate")),
        )
