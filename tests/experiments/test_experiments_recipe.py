"""The Codex recipe and temperature sweeps: the temperatures, parameters and best-per-k."""

from __future__ import annotations

import json
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest

from pytest_codex.experiments.recipe import CODEX_STOP, split_label, sweep_label, sweep_plan

# A generator (through the completion store, like the real backends) whose answers depend
# on the temperature: at T <= 0.4 every sample is the same, right for even problems only
# (pass@1 = pass@n = 0.5); hotter, exactly one sample of each problem is right (pass@1 =
# 1/n, pass@n = 1).  So pass@1 is best cold and pass@n hot, as in the paper.
CONFTEST = """
from pytest_codex.models import PREFIXES
from pytest_codex.core.generation import Completion
from pytest_codex.models.base import Generator
from pytest_codex.models.generated import GeneratedModel

RIGHT = {"HumanEval/0": "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\\n",
         "HumanEval/2": "    return number % 1.0\\n"}
EVEN = {"HumanEval/0"}
CALLS = []

class HandGen(Generator):
    def __init__(self, prompts):
        self.task_of = prompts

    def fingerprint(self):
        return {"name": "handgen"}

    def generate(self, prompts, params):
        CALLS.append(params)
        out = []
        for prompt in prompts:
            task = self.task_of[prompt]
            if params.temperature <= 0.4:
                text = RIGHT[task] if task in EVEN else "    return None\\n"
                out.append([Completion(text, i) for i in range(params.n)])
            else:
                out.append([Completion(RIGHT[task] if i == 0 else "    return None\\n", i) for i in range(params.n)])
        return out

def factory(spec, context):
    return GeneratedModel(spec, context, HandGen({p.prompt: p.task_id for p in context.suite.problems}))

PREFIXES["handgen"] = "conftest:factory"
"""
SELECT = "HumanEval/0] or HumanEval/2]"


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(CONFTEST)
    return project


def options(recipe=None, temperatures=None, n=1):
    return SimpleNamespace(recipe=recipe, temperatures=temperatures), SimpleNamespace(n=n)


def test_the_codex_recipe_chooses_the_papers_settings():
    temps, changes = sweep_plan(*options(recipe="codex"), n_explicit=False)
    assert temps == (0.2, 0.8)
    assert changes == {"n": 200, "top_p": 0.95, "stop": ("\nclass", "\ndef", "\n#", "\nif", "\nprint")}
    assert CODEX_STOP == changes["stop"]
    assert sweep_plan(*options(recipe="codex", n=20), n_explicit=True)[1]["n"] == 20
    assert sweep_plan(*options(temperatures=(0.2, 0.4, 0.6, 0.8)), n_explicit=False) == ((0.2, 0.4, 0.6, 0.8), {})
    assert sweep_plan(*options(), n_explicit=False) is None


def test_sweep_labels_round_trip():
    assert sweep_label("hf:tiny", 0.8) == "hf:tiny@T0.8"
    assert split_label("hf:tiny@T0.8") == ("hf:tiny", 0.8)
    assert split_label("reference") == ("reference", None)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_recipe_runs_each_temperature_and_reports_each_k_at_its_best(project, tmp_path, workers):
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=handgen:x",
        "--codex-recipe=codex",
        "--codex-n=4",
        "--codex-k=1,4",
        "-n",
        workers,
        "-k",
        SELECT,
        f"--codex-report={report}",
        f"--codex-plots={tmp_path}",
        "-q",
    )
    result.assert_outcomes(passed=3, failed=1)  # T=0.2 fails HumanEval/2; T=0.8 passes both
    result.stdout.re_match_lines(
        [
            r".*the Codex recipe \(--codex-recipe=codex\)",
            r"handgen:x: pass@k per temperature \(\* = best temperature for that k\)",
            r"T\s+n\s+pass@1\s+pass@4$",
            r"0\.2\s+4\s+0\.5\*\s+0\.5$",
            r"0\.8\s+4\s+0\.25\s+1\.0\*$",
            r"each k at its best temperature \(--codex-recipe=codex\): pass@1 0\.5 \(T=0\.2\), pass@4 1\.0 \(T=0\.8\)",
        ]
    )
    doc = json.loads(report.read_text())
    runs = {r["label"]: r for r in doc["runs"]}
    assert set(runs) == {"handgen:x@T0.2", "handgen:x@T0.8"}
    for label, t in (("handgen:x@T0.2", 0.2), ("handgen:x@T0.8", 0.8)):
        params = runs[label]["params"]
        assert (params["temperature"], params["top_p"], params["n"]) == (t, 0.95, 4)
        assert params["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    sweep = doc["experiments"]["sweep"]
    assert sweep["recipe"] == "codex"
    assert sweep["models"]["handgen:x"]["best"] == {
        "1": {"temperature": 0.2, "pass_at_k": 0.5},
        "4": {"temperature": 0.8, "pass_at_k": 1.0},
    }
    assert ElementTree.parse(sweep["plots"][0]).getroot().tag.endswith("svg")


def test_temperature_sweep_marks_the_best_per_k(project, tmp_path):
    report = tmp_path / "r.json"
    result = project.runpytest_subprocess(
        "--model=handgen:x",
        "--codex-temperatures=0.2,0.4,0.6,0.8",
        "--codex-n=2",
        "--codex-k=1,2",
        "-k",
        SELECT,
        f"--codex-report={report}",
        "--codex-plots=none",
    )
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.re_match_lines(
        [
            r".*temperature sweep",
            r"0\.2\s+2\s+0\.5\*\s+0\.5$",
            r"0\.4\s+2\s+0\.5\s+0\.5$",
            r"0\.6\s+2\s+0\.5\s+1\.0\*$",
            r"0\.8\s+2\s+0\.5\s+1\.0$",
        ]
    )
    best = json.loads(report.read_text())["experiments"]["sweep"]["models"]["handgen:x"]["best"]
    assert best == {"1": {"temperature": 0.2, "pass_at_k": 0.5}, "2": {"temperature": 0.6, "pass_at_k": 1.0}}


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--model=reference", "--codex-recipe=codex"],
            "--codex-recipe=codex: --model='reference' does not generate (its completions are fixed)",
        ),
        (
            ["--model=handgen:x", "--codex-recipe=paper"],
            "--codex-recipe='paper': unknown recipe; give --codex-recipe=codex",
        ),
        (
            ["--model=handgen:x", "--codex-recipe=codex", "--codex-temperature=0.5"],
            "--codex-temperature='0.5': is set by --codex-recipe=codex",
        ),
        (
            ["--model=handgen:x", "--codex-temperatures=0.2,0.2"],
            "--codex-temperatures='0.2,0.2': temperature 0.2 is given twice",
        ),
        (
            ["--model=handgen:x", "--codex-temperatures=0.2", "--codex-recipe=codex"],
            "--codex-temperatures='0.2': cannot be combined with --codex-recipe=codex",
        ),
    ],
)
def test_bad_sweeps_are_one_line_usage_errors(project, args, message):
    result = project.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()
