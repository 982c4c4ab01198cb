"""The Codex sampling recipe and temperature sweeps.

``--codex-recipe=codex``: n = 200 (``--codex-n`` overrides it), T = 0.2 and T = 0.8,
top_p = 0.95 and the paper's stop sequences; each k is reported at its best temperature
(the paper: 0.2 for pass@1, 0.8 for pass@100).  ``--codex-temperatures=0.2,0.4,...``
sweeps the given temperatures with the other sampling options as given.

A sweep runs each generating model once per temperature: ``expand_models`` replaces it by
one model source per temperature (``with_params``: the same generator, loaded at most
once), labelled ``<label>@T<t>``.  Every process expands the same way, so item ids agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_codex.core.errors import UnknownModelError
from pytest_codex.core.generation import ModelSource
from pytest_codex.options import CodexOptions
from pytest_codex.options.experiment import RECIPES as options_recipes
from pytest_codex.options.experiment import ExperimentOptions
from pytest_codex.options.generation import GenerationOptions

CODEX_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


@dataclass(frozen=True)
class Recipe:
    temperatures: tuple[float, ...]
    n: int
    top_p: float
    stop: tuple[str, ...]


RECIPES = {
    "codex": Recipe(temperatures=(0.2, 0.8), n=200, top_p=0.95, stop=CODEX_STOP),
}
assert tuple(RECIPES) == options_recipes, "options.experiment.RECIPES names the recipes defined here"
SEP = "@T"


class SweepError(UnknownModelError):
    """A sweep that cannot run as asked (one line with the fix)."""


def sweep_plan(
    experiments: ExperimentOptions, generation: GenerationOptions, n_explicit: bool
) -> tuple[tuple[float, ...], dict[str, object]] | None:
    """(temperatures, parameter changes) of the session's recipe or sweep; None if neither."""
    if experiments.recipe is not None:
        recipe = RECIPES[experiments.recipe]
        changes = {"top_p": recipe.top_p, "stop": recipe.stop, "n": generation.n if n_explicit else recipe.n}
        return recipe.temperatures, changes
    if experiments.temperatures is not None:
        return experiments.temperatures, {}
    return None


def sweep_label(label: str, temperature: float) -> str:
    return f"{label}{SEP}{temperature:g}"


def split_label(label: str) -> tuple[str, float | None]:
    base, sep, t = label.rpartition(SEP)
    if sep:
        try:
            return base, float(t)
        except ValueError:
            pass
    return label, None


def expand_models(models: Sequence[ModelSource], options: CodexOptions) -> list[ModelSource]:
    plan = sweep_plan(options.experiments, options.generation, options.experiments.n_explicit)
    if plan is None:
        return list(models)
    temperatures, changes = plan
    what = (
        f"--codex-recipe={options.experiments.recipe}"
        if options.experiments.recipe
        else f"--codex-temperatures={','.join(f'{t:g}' for t in temperatures)}"
    )
    out = []
    for model in models:
        for t in temperatures:
            spec = dataclasses.replace(model.spec, label=sweep_label(model.spec.label, t))
            swept = model.with_params(spec, temperature=t, **changes)
            if swept is None:
                raise SweepError(
                    f"{what}: --model={model.spec.raw!r} does not generate (its completions are "
                    "fixed), so it has no temperature; sweep a generating model (smollm2, hf:..., "
                    "gguf:..., ...)"
                )
            out.append(swept)
    return out
