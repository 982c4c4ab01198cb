"""Every ``--codex-*`` option, declared once (``Option``) with its ini twin and validator, and
parsed into one frozen ``CodexOptions`` made of sections: generation, server, sandbox,
reports, experiments.

A bad value is refused while pytest parses the command line (``type=``) or, from an ini
file or a combination of options, in ``CodexOptions.from_config``: one line naming the
value, where it came from and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pytest_codex.options import experiment, generation, report, sandbox, server
from pytest_codex.options.declare import Option, Values
from pytest_codex.options.experiment import ExperimentOptions
from pytest_codex.options.generation import GenerationOptions
from pytest_codex.options.parse import Integer, IntList, TaskIds, Text
from pytest_codex.options.report import ReportOptions
from pytest_codex.options.sandbox import SandboxOptions
from pytest_codex.options.server import ServerOptions

DEFAULT_KS = (1, 10, 100)

MODEL = Option(
    "--model",
    "model to benchmark (repeatable): reference, samples:FILE.jsonl, smollm2, hf:ID_OR_DIR, "
    "gguf:FILE, llamacpp:FILE, openai:MODEL@URL (docs/models.md)",
    kind="list",
    metavar="NAME",
    aliases=("--codex-model",),
)
SUITE = Option(
    "--codex-suite",
    "problem set: 'humaneval', 'humanevalplus' (EvalPlus's HumanEval+, from where EvalPlus keeps it), "
    "a generated suite ('chains', 'binding'), or a JSONL(.gz) file with task_id, prompt, canonical_solution, "
    "test, entry_point per line (with base_input, plus_input, atol: EvalPlus's format, judged as EvalPlus does)",
    Text("humaneval"),
    "humaneval",
    "SUITE",
)
K = Option(
    "--codex-k",
    "ks for pass@k",
    IntList(1, "1,10,100"),
    DEFAULT_KS,
    "K[,K...]",
    shown_default="those of 1,10,100 that the sample count allows",
)

TASKS = Option(
    "--codex-tasks",
    "only these problems, chosen before generation: exact task ids and ranges, e.g. "
    "HumanEval/2,HumanEval/7 or HumanEval/0-9 (unlike -k, which matches substrings of item names)",
    TaskIds("HumanEval/2,HumanEval/7"),
    None,
    "ID[,ID...]",
    shown_default="every problem of the suite",
)
LIMIT = Option(
    "--codex-limit",
    "only the first N problems (after --codex-tasks), or N at random with --codex-limit-seed",
    Integer(1, "20"),
    None,
    "N",
    shown_default="no limit",
)
LIMIT_SEED = Option(
    "--codex-limit-seed",
    "draw the --codex-limit problems at random with this seed (kept in suite order)",
    Integer(0, "1"),
    None,
    "SEED",
    shown_default="the first N",
)

GROUPS: tuple[tuple[str, str, tuple[Option, ...]], ...] = (
    ("codex-models", "pytest-codex: models and suite", (MODEL, SUITE, TASKS, LIMIT, LIMIT_SEED, K)),
    ("codex-generation", "pytest-codex: generation", generation.OPTIONS + server.OPTIONS),
    ("codex-execution", "pytest-codex: execution and sandbox", sandbox.OPTIONS),
    ("codex-reports", "pytest-codex: reports and gates", report.OPTIONS),
    ("codex-experiments", "pytest-codex: the paper's experiments", experiment.OPTIONS),
)


def all_options() -> list[Option]:
    return [option for _, _, options in GROUPS for option in options]


def addoption(parser: pytest.Parser) -> None:
    for name, description, options in GROUPS:
        group = parser.getgroup(name, description)
        for option in options:
            option.register(group, parser)


@dataclass(frozen=True)
class CodexOptions:
    models: tuple[str, ...]
    suite: str
    ks: tuple[int, ...]
    ks_explicit: bool
    timeout: float  # --codex-timeout, or the floor where limits scale per problem
    report: str | None
    samples_out: str | None
    fail_under: float | None
    experiments: ExperimentOptions = field(default_factory=ExperimentOptions)
    server: ServerOptions = field(default_factory=ServerOptions)
    reports: ReportOptions = field(default_factory=ReportOptions)
    sandbox: SandboxOptions = field(default_factory=SandboxOptions)
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    sources: dict[str, str] = field(default_factory=dict)  # option -> command line / ini / default
    tasks: tuple[str, ...] = ()  # --codex-tasks: ids and ranges, checked against the suite at start
    limit: int | None = None
    limit_seed: int | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> CodexOptions:
        values = Values(config)
        root = config.rootpath
        box = SandboxOptions.from_values(values)
        options = cls(
            models=values.get(MODEL),
            suite=values.get(SUITE),
            ks=values.get(K),
            ks_explicit=values.given(K),
            timeout=box.timeout if box.timeout is not None else box.time_floor,
            report=values.get(report.REPORT),
            samples_out=values.get(report.SAMPLES_OUT),
            fail_under=values.get(report.FAIL_UNDER),
            experiments=ExperimentOptions.from_values(values, root),
            server=ServerOptions.from_values(values),
            reports=ReportOptions.from_values(values, root),
            sandbox=box,
            generation=GenerationOptions.from_values(values, root),
            tasks=values.get(TASKS) or (),
            limit=values.get(LIMIT),
            limit_seed=values.get(LIMIT_SEED),
        )
        for option in all_options():  # every value read once, so every source is known
            values.get(option)
        options.sources.update({flag: src for flag, src in values.sources.items() if src != "default"})
        return options
