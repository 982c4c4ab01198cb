"""Pairing models for comparison: within one run, or a run against a stored one.

Two results are compared over the problems both attempted (a note says when that is
fewer than either ran); results over different datasets are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_codex.core.errors import CodexUsageError
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.stats import PairedDiff, paired_difference, per_problem


class CompareError(CodexUsageError):
    """Two runs that cannot be compared; the message says why."""


@dataclass
class Pairing:
    """``new`` against ``base`` over their common problems."""

    name: str  # the compared model, as shown
    base_name: str  # what it is compared with, as shown
    common: int
    new_only: int
    base_only: int
    diffs: list[PairedDiff] = field(default_factory=list)
    missing: dict[int, str] = field(default_factory=dict)

    def diff(self, k: int) -> PairedDiff | None:
        return next((d for d in self.diffs if d.k == k), None)

    def note(self) -> str | None:
        if not (self.new_only or self.base_only):
            return None
        return (
            f"{self.name} vs {self.base_name}: compared over the {self.common} problems both attempted "
            f"({self.common + self.new_only} vs {self.common + self.base_only})"
        )


def pair(
    new: ModelResult, base: ModelResult, ks: Sequence[int], name: str | None = None, base_name: str | None = None
) -> Pairing:
    new_by = {p.task_id: p for p in new.problems}
    base_by = {p.task_id: p for p in base.problems}
    common = [t for t in new_by if t in base_by]
    out = Pairing(
        name=name or new.label,
        base_name=base_name or base.label,
        common=len(common),
        new_only=len(new_by) - len(common),
        base_only=len(base_by) - len(common),
    )
    if not common:
        raise CompareError(f"{out.name} and {out.base_name} have no attempted problem in common; nothing to compare")
    for k in ks:
        a = per_problem([(base_by[t].n, base_by[t].c) for t in common], k)
        b = per_problem([(new_by[t].n, new_by[t].c) for t in common], k)
        if a is None or b is None:
            out.missing[k] = f"pass@{k} needs at least {k} samples per problem on both sides"
        else:
            out.diffs.append(paired_difference(a, b, k))
    return out


def within_run(results: Sequence[ModelResult], ks: Sequence[int]) -> list[Pairing]:
    """Each model against the first one (same run, so the same problems)."""
    out = []
    for r in results[1:]:
        if r.problems and results[0].problems:
            try:
                out.append(pair(r, results[0], ks))
            except CompareError:
                continue  # no common problems: the table already shows why
    return out


def match(
    new: Sequence[ModelResult], base: Sequence[ModelResult]
) -> tuple[list[tuple[ModelResult, ModelResult]], list[str]]:
    """Pairs (new, base) by label; two single-model runs are paired whatever their labels."""
    if len(new) == 1 and len(base) == 1:
        return [(new[0], base[0])], []
    base_by = {r.label: r for r in base}
    pairs = [(r, base_by[r.label]) for r in new if r.label in base_by]
    unmatched = [r.label for r in new if r.label not in base_by]
    return pairs, unmatched


def dataset_key(dataset: dict) -> tuple:
    return dataset.get("name"), dataset.get("sha256")


def check_datasets(new: dict, base: dict, new_name: str, base_name: str) -> None:
    """Refuse to compare runs over different datasets (by sha256, else by name)."""
    (n_name, n_sha), (b_name, b_sha) = dataset_key(new), dataset_key(base)
    differ = (n_sha != b_sha) if (n_sha and b_sha) else (n_name != b_name and n_name and b_name)
    if differ:

        def show(name, sha):
            return f"{name} (sha256 {sha[:12]})" if sha else f"{name}"

        raise CompareError(
            f"{new_name} is over dataset {show(n_name, n_sha)} but {base_name} over "
            f"{show(b_name, b_sha)}; pass@k over different problem sets is not comparable: "
            "compare runs of the same suite"
        )


# Settings of a generating model that change its completions (the manifest's "generation").
COMPLETION_SETTINGS = (
    "prompt_style",
    "stop",
    "temperature",
    "top_p",
    "max_new_tokens",
    "seed",
    "batch_size",
    "dtype",
    "device",
)
# Libraries whose version changes what a backend computes.
COMPLETION_LIBRARIES = ("torch", "transformers", "llama-cpp-python", "gguf")


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(repr, value)) + "]"
    return "none" if value is None else str(value)


def _backend(manifest: dict) -> str | None:
    model = manifest.get("model") or {}
    fingerprint = model.get("fingerprint")
    backend = fingerprint.get("backend") if isinstance(fingerprint, dict) else None
    return backend or model.get("backend") or model.get("kind")


def completion_differences(new: dict, base: dict) -> list[str]:
    """What differs between two runs' manifests that changes the completions a model
    generates: the suite, the backend, the generation settings (dtype, batch size, prompt
    style, sampling parameters, device) and library versions.  Models that generate nothing
    (``reference``, a samples file) have fixed completions: only the suite counts for them."""
    out = []
    n_sha = (new.get("dataset") or {}).get("sha256")
    b_sha = (base.get("dataset") or {}).get("sha256")
    if n_sha and b_sha and n_sha != b_sha:
        out.append(f"suite sha256 {n_sha[:12]} vs {b_sha[:12]}")
    n_gen, b_gen = new.get("generation") or {}, base.get("generation") or {}
    if not any(v is not None for v in n_gen.values()) or not any(v is not None for v in b_gen.values()):
        return out
    if _backend(new) != _backend(base):
        out.append(f"backend {_show(_backend(new))} vs {_show(_backend(base))}")
    for key in COMPLETION_SETTINGS:
        if n_gen.get(key) != b_gen.get(key):
            out.append(f"{key} {_show(n_gen.get(key))} vs {_show(b_gen.get(key))}")
    n_blas = ((new.get("model") or {}).get("resolved") or {}).get("mkl_cbwr")
    b_blas = ((base.get("model") or {}).get("resolved") or {}).get("mkl_cbwr")
    if n_blas != b_blas:
        out.append(f"MKL_CBWR {_show(n_blas)} vs {_show(b_blas)}")
    n_pkg, b_pkg = new.get("packages") or {}, base.get("packages") or {}
    for lib in COMPLETION_LIBRARIES:
        if n_pkg.get(lib) != b_pkg.get(lib):
            out.append(f"{lib} {_show(n_pkg.get(lib))} vs {_show(b_pkg.get(lib))}")
    return out


def differences_note(name: str, base_name: str, new: dict, base: dict) -> str | None:
    """One line saying that two runs are not comparable as like for like, or None."""
    diffs = completion_differences(new, base)
    if not diffs:
        return None
    return (
        f"{name} vs {base_name}: the runs differ in what changes completions: {'; '.join(diffs)} "
        "(a difference below may come from these, not from the model)"
    )
