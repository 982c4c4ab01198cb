"""Options of the paper's experiments (chains and binding suites, plus tests, ranking, recipe, sweep)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pytest_codex.core.errors import usage_error
from pytest_codex.core.files import unwritable
from pytest_codex.options.declare import Option, Values
from pytest_codex.options.generation import TEMPERATURE, TOP_P, N
from pytest_codex.options.parse import Choice, Integer, IntRanges, Temperatures, Text

RECIPES = ("codex",)  # pytest_codex.experiments.recipe.RECIPES defines them
MAX_LENGTH = 13  # the paper's string building blocks (pytest_codex.experiments.chains.BLOCKS)
MIN_VARIABLES, MAX_VARIABLES = 2, 6  # variables of a binding problem
MAX_OPERATIONS = 12  # operations of a binding problem


@dataclass(frozen=True)
class ChainConfig:
    """--codex-suite=chains: which problems to generate."""

    lengths: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    seed: int = 0
    per_length: int = 10
    drawn: int = 10  # hypothesis-drawn test strings per problem


CHAIN_LENGTHS = Option(
    "--codex-chain-lengths",
    f"--codex-suite=chains: chain lengths, e.g. 1-7 or 1,2,4 (each 1..{MAX_LENGTH})",
    IntRanges(1, MAX_LENGTH),
    ChainConfig.lengths,
    "LENGTHS",
    shown_default="1-7",
)
CHAIN_SEED = Option(
    "--codex-chain-seed",
    "--codex-suite=chains: seed of the generated problems and test strings",
    Integer(0, "0"),
    0,
    "INT",
)
CHAIN_PER_LENGTH = Option(
    "--codex-chain-per-length", "--codex-suite=chains: problems per chain length", Integer(1, "10"), 10, "N"
)


@dataclass(frozen=True)
class BindingConfig:
    """--codex-suite=binding: which problems to generate (one grid cell per variables x operations)."""

    variables: tuple[int, ...] = (2, 3, 4, 5, 6)
    operations: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    seed: int = 0
    per_cell: int = 5
    drawn: int = 10  # hypothesis-drawn test inputs per problem


BINDING_VARIABLES = Option(
    "--codex-binding-variables",
    f"--codex-suite=binding: variables per problem, e.g. 2-6 or 2,3,5 (each {MIN_VARIABLES}..{MAX_VARIABLES})",
    IntRanges(MIN_VARIABLES, MAX_VARIABLES, what="count"),
    BindingConfig.variables,
    "COUNTS",
    shown_default="2-6",
)
BINDING_OPERATIONS = Option(
    "--codex-binding-operations",
    f"--codex-suite=binding: operations per problem, e.g. 1-8 or 1,2,4 (each 1..{MAX_OPERATIONS})",
    IntRanges(1, MAX_OPERATIONS, what="count"),
    BindingConfig.operations,
    "COUNTS",
    shown_default="1-8",
)
BINDING_PER_CELL = Option(
    "--codex-binding-per-cell",
    "--codex-suite=binding: problems per (variables, operations) cell",
    Integer(1, "5"),
    BindingConfig.per_cell,
    "N",
)
BINDING_SEED = Option(
    "--codex-binding-seed",
    "--codex-suite=binding: seed of the generated problems and test inputs",
    Integer(0, "0"),
    0,
    "INT",
)
PLUS = Option(
    "--codex-plus",
    "also run extra tests generated with hypothesis (HumanEval+-style); a 'plus' pass@k column beside the base one "
    "(with a suite in EvalPlus's format: new inputs mutated from its base and plus inputs, inside its contract; "
    "who catches what, HumanEval+ or them)",
    kind="flag",
)
PLUS_SEED = Option("--codex-plus-seed", "--codex-plus: seed of the generated inputs", Integer(0, "0"), 0, "INT")
PLUS_INPUTS = Option(
    "--codex-plus-inputs",
    "--codex-plus: inputs drawn per problem before dropping those the canonical solution rejects",
    Integer(1, "30"),
    30,
    "N",
)
RECIPE = Option(
    "--codex-recipe",
    "sampling recipe: 'codex' = n 200 (override with --codex-n), T 0.2 and 0.8, "
    "top_p 0.95, the paper's stop sequences; each k at its best temperature",
    Choice(RECIPES, what="recipe"),
    None,
    "NAME",
    shown_default="none",
)
TEMPERATURES = Option(
    "--codex-temperatures",
    "temperature sweep: one run of each model per temperature, e.g. 0.2,0.4,0.6,0.8",
    Temperatures(),
    None,
    "T[,T...]",
    shown_default="none",
)
BACKTRANSLATE = Option(
    "--codex-backtranslate",
    "ranking table: add back-translation (log-likelihood of the "
    "docstring given the code; needs a model that can score text)",
    kind="flag",
)
PLOTS = Option(
    "--codex-plots",
    "directory for the experiments' SVG plots ('none' = no plots)",
    Text("none"),
    None,
    "DIR",
    shown_default=".codex/plots under the rootdir",
)

OPTIONS = (
    CHAIN_LENGTHS,
    CHAIN_SEED,
    CHAIN_PER_LENGTH,
    BINDING_VARIABLES,
    BINDING_OPERATIONS,
    BINDING_PER_CELL,
    BINDING_SEED,
    PLUS,
    PLUS_SEED,
    PLUS_INPUTS,
    RECIPE,
    TEMPERATURES,
    BACKTRANSLATE,
    PLOTS,
)


@dataclass(frozen=True)
class ExperimentOptions:
    chains: ChainConfig = field(default_factory=ChainConfig)
    binding: BindingConfig = field(default_factory=BindingConfig)
    plus: bool = False
    plus_seed: int = 0
    plus_inputs: int = 30
    recipe: str | None = None
    temperatures: tuple[float, ...] | None = None
    backtranslate: bool = False
    plot_dir: str | None = os.path.join(".codex", "plots")
    plus_dir: str = os.path.join(".codex", "plus")  # the stored plus tests
    n_explicit: bool = False  # --codex-n was given (it overrides the recipe's n)

    @classmethod
    def from_values(cls, values: Values, rootpath: Path) -> ExperimentOptions:
        recipe, temps = values.get(RECIPE), values.get(TEMPERATURES)
        if recipe is not None and temps is not None:
            raise usage_error(
                TEMPERATURES.flag,
                ",".join(f"{t:g}" for t in temps),
                f"cannot be combined with --codex-recipe={recipe} (the recipe sets the temperatures)",
                "give one of the two",
            )
        _refuse_overridden(values, recipe, temps)
        plots = values.get(PLOTS)
        if values.given(PLOTS) and plots not in ("", "none"):
            why = unwritable(plots, "dir")
            if why is not None:
                raise usage_error(PLOTS.flag, plots, why, "give a writable directory (created if missing), or none")
        codex_dir = rootpath / ".codex"
        if plots is None:
            plots = str(codex_dir / "plots")
        return cls(
            chains=ChainConfig(
                lengths=values.get(CHAIN_LENGTHS), seed=values.get(CHAIN_SEED), per_length=values.get(CHAIN_PER_LENGTH)
            ),
            binding=BindingConfig(
                variables=values.get(BINDING_VARIABLES),
                operations=values.get(BINDING_OPERATIONS),
                seed=values.get(BINDING_SEED),
                per_cell=values.get(BINDING_PER_CELL),
            ),
            plus=values.get(PLUS),
            plus_seed=values.get(PLUS_SEED),
            plus_inputs=values.get(PLUS_INPUTS),
            recipe=recipe,
            temperatures=temps,
            backtranslate=values.get(BACKTRANSLATE),
            plot_dir=None if plots in ("", "none") else os.path.abspath(os.path.expanduser(plots)),
            plus_dir=str(codex_dir / "plus"),
            n_explicit=values.given(N),
        )


def _refuse_overridden(values: Values, recipe: str | None, temps: tuple[float, ...] | None) -> None:
    """A sampling option the recipe or sweep would override is an error, not ignored."""
    owned = []
    if recipe is not None or temps is not None:
        owned.append(TEMPERATURE)
    if recipe is not None:
        owned.append(TOP_P)
    by = f"--codex-recipe={recipe}" if recipe is not None else "--codex-temperatures"
    for option in owned:
        value = values.get(option)
        if values.given(option) and value != option.default:
            raise usage_error(option.flag, f"{value:g}", f"is set by {by}", f"leave {option.flag} out, or drop {by}")
