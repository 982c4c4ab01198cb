"""Options of the paper's experiments (chains suite, plus tests, ranking, recipe, sweep).

Parsed once in ``CodexOptions.from_config`` into ``CodexOptions.experiments``; every bad
value is a ``pytest.UsageError`` naming the option, the value and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from .generation_options import _fail
from .generation_options import _int as parse_int
from .suites.chains import MAX_LENGTH, ChainConfig

RECIPES = ("codex",)


def addoption(group) -> None:
    group.addoption("--codex-chain-lengths", default="1-7", metavar="LENGTHS",
                    help=f"--codex-suite=chains: chain lengths, e.g. 1-7 (default) or 1,2,4 (each 1..{MAX_LENGTH})")
    group.addoption("--codex-chain-seed", default="0", metavar="INT",
                    help="--codex-suite=chains: seed of the generated problems and test strings (default 0)")
    group.addoption("--codex-chain-per-length", default="10", metavar="N",
                    help="--codex-suite=chains: problems per chain length (default 10)")
    group.addoption("--codex-plus", action="store_true", default=False,
                    help="also run extra tests generated with hypothesis (HumanEval+-style); "
                         "a 'plus' pass@k column beside the base one")
    group.addoption("--codex-plus-seed", default="0", metavar="INT",
                    help="--codex-plus: seed of the generated inputs (default 0)")
    group.addoption("--codex-plus-inputs", default="30", metavar="N",
                    help="--codex-plus: inputs drawn per problem before dropping those the "
                         "canonical solution rejects (default 30)")
    group.addoption("--codex-recipe", default=None, metavar="NAME",
                    help="sampling recipe: 'codex' = n 200 (override with --codex-n), T 0.2 and 0.8, "
                         "top_p 0.95, the paper's stop sequences; each k at its best temperature")
    group.addoption("--codex-temperatures", default=None, metavar="T[,T...]",
                    help="temperature sweep: one run of each model per temperature, e.g. 0.2,0.4,0.6,0.8")
    group.addoption("--codex-backtranslate", action="store_true", default=False,
                    help="ranking table: add back-translation (log-likelihood of the docstring "
                         "given the code; needs a model that can score text)")
    group.addoption("--codex-plots", default=None, metavar="DIR",
                    help="directory for the experiments' SVG plots (default .codex/plots under the rootdir; "
                         "'none' = no plots)")


def parse_lengths(value: str) -> tuple[int, ...]:
    option, fix = "--codex-chain-lengths", f"give a range like 1-7 or a list like 1,2,4 within 1..{MAX_LENGTH}"
    out: list[int] = []
    for part in str(value).split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise _fail(option, value, f"{part.strip()!r} is not a length or a range", fix) from None
        if not (1 <= a <= b <= MAX_LENGTH):
            raise _fail(option, value, f"{part.strip()!r} is outside 1..{MAX_LENGTH} or reversed", fix)
        out += [x for x in range(a, b + 1) if x not in out]
    return tuple(sorted(out))


def parse_temperatures(option: str, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    fix = "give temperatures >= 0 separated by commas, e.g. 0.2,0.4,0.6,0.8"
    temps: list[float] = []
    for part in str(value).split(","):
        try:
            t = float(part.strip())
        except ValueError:
            raise _fail(option, value, f"{part.strip()!r} is not a number", fix) from None
        if not (0.0 <= t < float("inf")):
            raise _fail(option, value, f"temperature {part.strip()} must be finite and >= 0", fix)
        if t in temps:
            raise _fail(option, value, f"temperature {t:g} is given twice", fix)
        temps.append(t)
    return tuple(temps)


@dataclass
class ExperimentOptions:
    chains: ChainConfig = field(default_factory=ChainConfig)
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
    def from_config(cls, config: pytest.Config) -> "ExperimentOptions":
        get = config.getoption
        recipe = get("codex_recipe")
        if recipe is not None and recipe not in RECIPES:
            raise _fail("--codex-recipe", recipe, "unknown recipe", f"known recipes: {', '.join(RECIPES)}")
        temps = parse_temperatures("--codex-temperatures", get("codex_temperatures"))
        if recipe is not None and temps is not None:
            raise _fail("--codex-temperatures", get("codex_temperatures"),
                        f"cannot be combined with --codex-recipe={recipe} (the recipe sets the temperatures)",
                        "give one of the two")
        _refuse_overridden(config, recipe, temps)
        plots = get("codex_plots")
        codex_dir = config.rootpath / ".codex"
        if plots is None:
            plots = str(codex_dir / "plots")
        return cls(
            chains=ChainConfig(
                lengths=parse_lengths(get("codex_chain_lengths")),
                seed=parse_int("--codex-chain-seed", get("codex_chain_seed"), 0, "0"),
                per_length=parse_int("--codex-chain-per-length", get("codex_chain_per_length"), 1, "10"),
            ),
            plus=bool(get("codex_plus")),
            plus_seed=parse_int("--codex-plus-seed", get("codex_plus_seed"), 0, "0"),
            plus_inputs=parse_int("--codex-plus-inputs", get("codex_plus_inputs"), 1, "30"),
            recipe=recipe,
            temperatures=temps,
            backtranslate=bool(get("codex_backtranslate")),
            plot_dir=None if plots in ("", "none") else os.path.abspath(os.path.expanduser(plots)),
            plus_dir=str(codex_dir / "plus"),
            n_explicit=get("codex_n", None) is not None,
        )


def _refuse_overridden(config: pytest.Config, recipe: str | None, temps) -> None:
    """A sampling option the recipe or sweep would override is an error, not ignored."""
    owned = []
    if recipe is not None or temps is not None:
        owned.append(("--codex-temperature", "codex_temperature", 0.0))
    if recipe is not None:
        owned.append(("--codex-top-p", "codex_top_p", 1.0))
    by = f"--codex-recipe={recipe}" if recipe is not None else "--codex-temperatures"
    for option, dest, default in owned:
        value = config.getoption(dest, None)
        try:
            given = value is not None and float(value) != default
        except ValueError:
            given = False  # its own parser reports it
        if given:
            raise _fail(option, value, f"is set by {by}", f"leave {option} out, or drop {by}")
