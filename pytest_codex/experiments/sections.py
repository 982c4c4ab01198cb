"""Reporting of the paper's experiments (controller / single process only).

Each experiment is a function ``(state, results) -> Section | None``: a table for the
terminal summary, an optional SVG plot and a JSON-able record for the results file.
``ExperimentsReporting`` is registered beside the base reporting; it prints its
sections after the pass@k table and leaves its records in ``state.experiments`` for the
results file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from pytest_codex.core.passk import mean_pass_at_k
from pytest_codex.core.records import ProblemPayload
from pytest_codex.core.verdicts import Verdict
from pytest_codex.experiments import binding, chains
from pytest_codex.experiments.binding import FailureKind, failure_kind, grid_cell
from pytest_codex.experiments.chains import chain_length
from pytest_codex.experiments.plus import contracts, store_path
from pytest_codex.experiments.ranking import (
    HEURISTICS,
    LABELS,
    backtranslation_scores,
    curve,
    scorer_for,
    table_ms,
)
from pytest_codex.experiments.recipe import split_label
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.svg import heatmap, line_chart
from pytest_codex.reports.tables import fmt_rate
from pytest_codex.reports.tables import text_table as table

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


@dataclass
class Section:
    key: str
    title: str
    lines: list[str]
    record: dict
    plots: list[str] = field(default_factory=list)


def mean_pass1(problems: Sequence[ProblemPayload]) -> float | None:
    return mean_pass_at_k([(p.n, p.c) for p in problems if p.n], 1)


def plot_path(state: CodexState, name: str) -> str | None:
    d = state.options.experiments.plot_dir
    return os.path.join(d, f"{state.suite.name}-{name}.svg") if d else None


# --- chained operations ----------------------------------------------------------------


def chains_section(state: CodexState, results: Sequence[ModelResult]) -> Section | None:
    if state.suite.name != "chains":
        return None
    cfg = state.options.experiments.chains
    lengths = sorted({L for p in state.suite.problems if (L := chain_length(p.task_id)) is not None})
    rows, record, series = [], {}, {}
    for r in results:
        by_len = {L: [p for p in r.problems if chain_length(p.task_id) == L] for L in lengths}
        rates = {L: mean_pass1(ps) for L, ps in by_len.items()}
        shown = [(L, x) for L, x in rates.items() if x is not None]
        step = None
        if len(shown) >= 2 and shown[-1][1] > 0:
            (l0, x0), (l1, x1) = shown[0], shown[-1]
            step = (x0 / x1) ** (1 / (l1 - l0))
        rows.append(
            [r.label]
            + [fmt_rate(rates[L]) + f" ({len(by_len[L])})" for L in lengths]
            + [f"{step:.2f}x" if step else "—"]
        )
        record[r.label] = {
            "pass_at_1_by_length": {str(L): rates[L] for L in lengths},
            "problems_by_length": {str(L): len(by_len[L]) for L in lengths},
            "fall_per_step": step,
        }
        series[r.label] = [(float(L), x) for L, x in shown]
    lines = table(["model"] + [f"L{L}" for L in lengths] + ["fall/step"], rows)
    lines.append(
        "pass@1 by chain length (problems in parentheses); fall/step: the geometric mean "
        "factor by which pass@1 falls per added operation, first to last length"
    )
    sec = Section(
        "chains",
        f"chained operations (seed {cfg.seed}, {cfg.per_length} per length)",
        lines,
        {"config": chains.describe(cfg), "models": record},
    )
    path = plot_path(state, "pass-by-chain-length")
    if path and series:
        sec.plots.append(
            line_chart(path, "Chained operations: pass@1 by chain length", "chain length", "pass@1", series)
        )
    return sec


# --- binding operations to variables ------------------------------------------------------


def _cell(rates: dict, by_cell: dict, cell: tuple[int, int], per_cell: int) -> str:
    if cell not in by_cell:
        return ""
    count = len(by_cell[cell])
    return fmt_rate(rates[cell]) + (f" ({count})" if count != per_cell and count else "")


def _fraction(part: int, whole: int) -> str:
    return f"{part} ({fmt_rate(part / whole)})" if whole else str(part)


def binding_section(state, results: Sequence[ModelResult]) -> Section | None:
    if state.suite.name != "binding":
        return None
    cfg = state.options.experiments.binding
    cells = {c for p in state.suite.problems if (c := grid_cell(p.task_id)) is not None}
    vs, ms = sorted({v for v, _ in cells}), sorted({m for _, m in cells})
    lines, record, plots = [], {}, []
    for r in results:
        by_cell: dict[tuple[int, int], list[ProblemPayload]] = {c: [] for c in cells}
        for p in r.problems:
            if (c := grid_cell(p.task_id)) in by_cell:
                by_cell[c].append(p)
        rates = {c: mean_pass1(ps) for c, ps in by_cell.items()}
        kinds = {c: [failure_kind(s) for p in ps for s in p.samples] for c, ps in by_cell.items()}
        failed = [s for ps in by_cell.values() for p in ps for s in p.samples if not s.passed]
        n_binding = sum(failure_kind(s) is FailureKind.BINDING for s in failed)
        n_wrong = sum(s.verdict is Verdict.FAILED for s in failed) - n_binding
        n_other = len(failed) - n_binding
        samples = sum(len(p.samples) for ps in by_cell.values() for p in ps)
        rows = [[f"v={v}"] + [_cell(rates, by_cell, (v, m), cfg.per_cell) for m in ms] for v in vs]
        lines.append(f"{r.label}: pass@1 by variables (rows) and operations (columns)")
        lines += table(["variables"] + [f"m={m}" for m in ms], rows)
        line = f"failed samples: {len(failed)} of {samples}"
        if failed:
            line += (
                f"; binding errors {_fraction(n_binding, len(failed))}, other errors "
                f"{_fraction(n_other, len(failed))} (wrong outputs {n_wrong}, "
                f"exceptions, timeouts, crashes and syntax errors {n_other - n_wrong})"
            )
        lines.append(line)
        lines.append("")
        grid = {str(v): {str(m): rates[(v, m)] for m in ms if (v, m) in cells} for v in vs}
        record[r.label] = {
            "pass_at_1": grid,
            "problems": {str(v): {str(m): len(by_cell[(v, m)]) for m in ms if (v, m) in cells} for v in vs},
            "binding_errors": {
                str(v): {str(m): kinds[(v, m)].count(FailureKind.BINDING) for m in ms if (v, m) in cells} for v in vs
            },
            "failures": {
                "samples": samples,
                "failed": len(failed),
                "binding": n_binding,
                "other": n_other,
                "wrong_output": n_wrong,
                "binding_fraction": n_binding / len(failed) if failed else None,
            },
        }
        path = plot_path(state, f"pass-by-variables-and-operations-{_file_label(r.label)}")
        if path:
            plots.append(
                heatmap(
                    path,
                    f"Binding: pass@1 of {r.label}",
                    "operations",
                    "variables",
                    ms,
                    vs,
                    {(m, v): x for (v, m), x in rates.items()},
                )
            )
    lines += [
        f"pass@1 per cell of {cfg.per_cell} problems (a count in parentheses where fewer ran; — none ran)",
        "binding error: on every test input, the outputs of the right operations with one of them "
        "applied to a wrong variable",
    ]
    return Section(
        "binding",
        f"binding operations to variables (seed {cfg.seed}, {cfg.per_cell} per cell)",
        lines,
        {"config": binding.describe(cfg), "models": record},
        plots,
    )


# --- plus tests ------------------------------------------------------------------------


def plus_section(state: CodexState, results: Sequence[ModelResult]) -> Section | None:
    if not state.options.experiments.plus or state.suite.inputs is not None:  # (EvalPlus's format: below)
        return None
    tests = state.plus or {}
    ks = state.ks_for_display(max((n for r in results for n in r.sample_counts), default=1))
    rows, models = [], {}
    for r in results:
        probs = [(p, p.plus) for p in r.problems if p.plus is not None]
        base = {k: mean_pass_at_k([(p.n, p.c) for p, _ in probs], k) for k in ks}
        plus = {k: mean_pass_at_k([(p.n, pl["c"]) for p, pl in probs], k) for k in ks}
        caught = [p.task_id for p, pl in probs if pl["c"] < p.c]
        rows.append(
            [r.label, str(len(probs))]
            + [f"{fmt_rate(base[k])} -> {fmt_rate(plus[k])}" for k in ks]
            + [f"{len(caught)}" + (f" ({', '.join(caught[:4])}{', ...' if len(caught) > 4 else ''})" if caught else "")]
        )
        models[r.label] = {
            "pass_at_k_base": {str(k): v for k, v in base.items()},
            "pass_at_k_plus": {str(k): v for k, v in plus.items()},
            "caught": caught,
        }
    ran = {p.task_id for r in results for p in r.problems}
    used = {t: pp for t, pp in tests.items() if t in ran}
    total = sum(len(pp.cases) for pp in used.values())
    exp = state.options.experiments
    lines = table(["model", "problems"] + [f"pass@{k} base -> plus" for k in ks] + ["problems caught by plus"], rows)
    lines.append(
        f"{total} generated tests over {len(used)} problems "
        f"({sum(1 for pp in used.values() if not pp.cases)} with none kept), seed {exp.plus_seed}, "
        f"stored in {store_path(state)}"
    )
    found = contracts()
    if found:
        lines.append(f"inputs kept only inside EvalPlus's contracts, from {found.path}")
    record = {
        "contracts": found and found.path,
        "file": store_path(state),
        "seed": exp.plus_seed,
        "inputs_per_problem": exp.plus_inputs,
        "tests": total,
        "models": models,
        "tests_by_problem": {t: pp.to_json() for t, pp in sorted(used.items())},
    }
    return Section("plus", "base vs plus tests (hypothesis-generated inputs)", lines, record)


def generated_section(state, results: Sequence[ModelResult]) -> Section | None:
    """--codex-plus with a suite in EvalPlus's format: which wrong samples (passing base) the
    plus inputs of HumanEval+ catch, which the generated inputs catch, and with what input."""
    if not state.options.experiments.plus or state.suite.inputs is None:
        return None
    rows, models, lines_after = [], {}, []
    tests = drawn = 0
    dropped: dict[str, int] = {}
    for r in results:
        caught: dict[str, list[str]] = {"humanevalplus": [], "generated": [], "both": []}
        inputs: dict[str, dict] = {}
        passed_base = 0
        for p in r.problems:
            gen = (p.plus or {}).get("generated") or {}
            if r is results[0]:
                tests += gen.get("tests", 0)
                drawn += gen.get("drawn", 0)
                for why, count in (gen.get("dropped") or {}).items():
                    dropped[why] = dropped.get(why, 0) + count
            for sample in p.samples:
                if not sample.passed:
                    continue
                passed_base += 1
                name = p.task_id if p.n == 1 else f"{p.task_id}#{sample.index}"
                by_plus = sample.plus_verdict != "passed"
                by_ours = sample.generated is not None and sample.generated.get("verdict") != "passed"
                if by_plus or by_ours:
                    caught["both" if by_plus and by_ours else "humanevalplus" if by_plus else "generated"].append(name)
                if by_ours and sample.generated is not None:
                    inputs[name] = {
                        "detail": sample.generated.get("detail"),
                        **(sample.generated.get("failing_input") or {}),
                    }
        plus_total = len(caught["humanevalplus"]) + len(caught["both"])
        ours_total = len(caught["generated"]) + len(caught["both"])
        rows.append(
            [
                r.label,
                str(passed_base),
                str(plus_total),
                str(ours_total),
                str(len(caught["both"])),
                str(len(caught["humanevalplus"])),
                str(len(caught["generated"])),
            ]
        )
        models[r.label] = {"passed_base": passed_base, "caught": caught, "inputs": inputs}
        for name in caught["generated"] + caught["both"]:
            where = "generated only" if name in caught["generated"] else "both"
            lines_after.append(f"{r.label} {name} ({where}): {inputs[name].get('detail')}")
    exp = state.options.experiments
    lines = table(
        [
            "model",
            "passed base",
            "caught by HumanEval+",
            "by generated",
            "by both",
            "HumanEval+ only",
            "generated only",
        ],
        rows,
    )
    why = ", ".join(f"{count} {reason}" for reason, count in sorted(dropped.items())) or "none"
    lines.append(
        f"samples that passed base, caught by HumanEval+'s plus inputs and by {tests} generated inputs "
        f"({drawn} drawn by type-aware mutation of the base and plus inputs, seed {exp.plus_seed}; dropped: {why})"
    )
    lines += lines_after[:40] + (
        [f"... {len(lines_after) - 40} more in the results file"] if len(lines_after) > 40 else []
    )
    record = {"seed": exp.plus_seed, "inputs_per_problem": exp.plus_inputs, "tests": tests, "drawn": drawn}
    record.update({"dropped": dropped, "models": models})
    return Section("generated", "HumanEval+ and generated inputs (--codex-plus): who catches what", lines, record)


# --- ranking heuristics ----------------------------------------------------------------


def _file_label(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in label)


def _backtranslate(state: CodexState, r: ModelResult) -> str | None:
    """Score every sample of ``r`` by back-translation; None, or why it could not be done."""
    if any("backtranslation" in s.ranking for p in r.problems for s in p.samples):
        return None
    score = scorer_for(state.model(r.label))
    if score is None:
        return f"{r.label} cannot score text (its backend has no loglikelihoods hook)"
    backtranslation_scores(score, state.suite.by_id(), r.problems)
    return None


def ranking_section(state: CodexState, results: Sequence[ModelResult]) -> Section | None:
    ranked = [r for r in results if r.problems and min(r.sample_counts) >= 2]
    if not ranked:
        return None
    lines, record, plots, notes, unscored = [], {}, [], [], []
    for r in ranked:
        if state.options.experiments.backtranslate:
            why = _backtranslate(state, r)
            if why:
                notes.append(f"back-translation: {why}")
        n = min(r.sample_counts)
        all_ms = list(range(1, n + 1))
        scored = {h: curve(h, r.problems, all_ms) for h in HEURISTICS if h not in ("random", "oracle")}
        if all(c is None for c in scored.values()):  # nothing to rank by: skip the exact baselines too
            unscored.append(r.label)
            continue
        curves = {h: scored[h] if h in scored else curve(h, r.problems, all_ms) for h in HEURISTICS}
        ms = table_ms(n)
        rows = [[LABELS[h]] + [fmt_rate(c[m]) for m in ms] for h, c in curves.items() if c is not None]
        missing = [LABELS[h] for h, c in curves.items() if c is None]
        lines += [f"{r.label}: pass rate of the sample each heuristic picks from m drawn (n = {n})"]
        lines += table(["heuristic"] + [f"m={m}" for m in ms], rows)
        if missing:
            lines.append("not available: " + ", ".join(missing) + " (the samples carry no such score)")
        lines.append("")
        record[r.label] = {
            "n": n,
            "curves": {h: ({str(m): v for m, v in c.items()} if c else None) for h, c in curves.items()},
        }
        path = plot_path(state, f"ranking-{_file_label(r.label)}")
        if path:
            series = {LABELS[h]: [(float(m), v) for m, v in c.items()] for h, c in curves.items() if c}
            plots.append(
                line_chart(
                    path,
                    f"Ranking heuristics: {r.label}",
                    "samples drawn (m)",
                    "pass rate of the chosen sample",
                    series,
                    log_x=n >= 10,
                )
            )
    if not record:
        return None  # no run carries a score to rank by
    if unscored:
        notes.append(f"not ranked (no log-probs or other scores in their samples): {', '.join(unscored)}")
    return Section(
        "ranking",
        "ranking heuristics (Codex paper, figure 7)",
        lines[:-1] + notes,
        {"models": record, "not_ranked": unscored},
        plots,
    )


# --- temperature sweep and the Codex recipe -----------------------------------------------


def sweep_section(state: CodexState, results: Sequence[ModelResult]) -> Section | None:
    exp = state.options.experiments
    if exp.recipe is None and exp.temperatures is None:
        return None
    groups: dict[str, list[tuple[float, ModelResult]]] = {}
    for r in results:
        base, t = split_label(r.label)
        if t is not None:
            groups.setdefault(base, []).append((t, r))
    ks = state.ks_for_display(max((n for r in results for n in r.sample_counts), default=1))
    lines, record, plots = [], {}, []
    for base, runs in groups.items():
        runs.sort(key=lambda x: x[0])
        values = {t: {k: r.pass_at_k.get(k) for k in ks} for t, r in runs}
        best = {}
        for k in ks:
            scored = [(x, t) for t, v in values.items() if (x := v[k]) is not None]
            if scored:
                top = max(x for x, _ in scored)
                best[k] = (min(t for x, t in scored if x == top), top)  # ties: the lowest temperature
        rows = [
            [f"{t:g}", str(min(r.sample_counts, default=0))]
            + [fmt_rate(values[t][k]) + ("*" if best.get(k, (None,))[0] == t else " ") for k in ks]
            for t, r in runs
        ]
        lines.append(f"{base}: pass@k per temperature (* = best temperature for that k)")
        lines += table(["T", "n"] + [f"pass@{k}" for k in ks], rows)
        if best:
            lines.append(
                "each k at its best temperature"
                + (f" (--codex-recipe={exp.recipe})" if exp.recipe else "")
                + ": "
                + ", ".join(f"pass@{k} {fmt_rate(v)} (T={t:g})" for k, (t, v) in best.items())
            )
        lines.append("")
        record[base] = {
            "temperatures": {f"{t:g}": {str(k): v for k, v in vals.items()} for t, vals in values.items()},
            "best": {str(k): {"temperature": t, "pass_at_k": v} for k, (t, v) in best.items()},
        }
        path = plot_path(state, f"temperature-sweep-{_file_label(base)}")
        if path and runs:
            series = {f"pass@{k}": [(t, values[t][k]) for t, _ in runs] for k in ks}
            marks = [(f"pass@{k}", (t, v)) for k, (t, v) in best.items()]
            plots.append(
                line_chart(path, f"pass@k by temperature: {base}", "temperature", "pass@k", series, marks=marks)
            )
    title = f"the Codex recipe (--codex-recipe={exp.recipe})" if exp.recipe else "temperature sweep"
    return Section("sweep", title, lines[:-1], {"recipe": exp.recipe, "models": record}, plots)


EXPERIMENTS: tuple[Callable, ...] = (
    chains_section,
    binding_section,
    plus_section,
    generated_section,
    ranking_section,
    sweep_section,
)


def build_sections(state: CodexState, results: Sequence[ModelResult]) -> list[Section]:
    return [s for s in (f(state, results) for f in EXPERIMENTS) if s is not None]


class ExperimentsReporting:
    """Prints the experiments' sections after the base table; records them for the results file."""

    def __init__(self, state: CodexState) -> None:
        self.state = state
        self._sections: list[Section] | None = None

    def sections(self) -> list[Section]:
        if self._sections is None:
            state = self.state
            results = (
                state.collector.results(state.models, state.suite, state.options.ks) if state.collector.payloads else []
            )
            self._sections = build_sections(state, results) if results else []
            state.experiments = {s.key: {**s.record, "plots": s.plots} for s in self._sections}
        return self._sections

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        for sec in self.sections():
            terminalreporter.section(f"pytest-codex: {sec.title}")
            for line in sec.lines:
                terminalreporter.line(line)
            for path in sec.plots:
                terminalreporter.line(f"plot: {path}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session) -> None:
        self.sections()
