"""Controller side: what a session reports beyond the pass@k table.

Paired differences between the run's models, the comparison with a stored run
(``--codex-compare``), the regression gate (``--codex-fail-regression``), and the files:
results file, stored run (``--codex-save``), badges (``--codex-badge``), markdown
(``--codex-markdown``).  Everything is computed once, in ``pytest_sessionfinish``, and
printed by the terminal summary.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_codex.core.files import atomic_write
from pytest_codex.reports.badges import badge_documents, write_badges
from pytest_codex.reports.compare import (
    CompareError,
    Pairing,
    check_datasets,
    differences_note,
    match,
    pair,
    within_run,
)
from pytest_codex.reports.manifest import build_manifest
from pytest_codex.reports.outputs import results_document, write_results, write_samples_out
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.runs import LoadedRun, RunFileError, RunStore
from pytest_codex.reports.tables import (
    fmt_rate,
    fmt_signed,
    markdown_document,
    render_comparison,
    scope_line,
)

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


def load_baseline(state: CodexState) -> LoadedRun | None:
    """The run of ``--codex-compare``, loaded and checked before anything runs."""
    opts = state.options.reports
    if not opts.compare:
        return None
    where = f"--codex-compare={opts.compare!r}"
    try:
        run = RunStore(opts.runs_dir).load(opts.compare)
        suite = state.suite
        check_datasets({"name": suite.name, "sha256": suite.sha256}, run.dataset(), "this run", run.name)
    except (RunFileError, CompareError) as exc:
        raise RunFileError(f"{where}: {exc}") from None
    return run


def comparison_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """The displayed ks, and always pass@1 (the regression gate's metric)."""
    return (1,) + tuple(k for k in ks if k != 1)


@dataclass
class SessionReports:
    within: list[Pairing] = field(default_factory=list)
    baseline_name: str | None = None
    compared: list[Pairing] = field(default_factory=list)
    compare_notes: list[str] = field(default_factory=list)
    compare_warnings: list[str] = field(default_factory=list)  # settings that change completions differ
    unmatched: list[str] = field(default_factory=list)  # models of this run the baseline does not have
    gate_lines: list[tuple[str, bool]] = field(default_factory=list)  # (line, ok)
    regressed: bool = False
    written: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def compared_title(self) -> str:
        return f"compared with {self.baseline_name}" if self.baseline_name else ""


def compare_with(
    results: Sequence[ModelResult], baseline: LoadedRun, ks: Sequence[int], manifests: dict[str, dict] | None = None
) -> tuple[list[Pairing], list[str], list[str], list[str]]:
    """(pairings, notes, unmatched labels, warnings): ``warnings`` name, per pair, the settings
    that change completions in which the two runs differ (``manifests``: this run's, by label)."""
    ks = comparison_ks(ks)
    base_results = baseline.model_results(ks)
    base_manifests = {r.label: run.get("manifest") or {} for r, run in zip(base_results, baseline.runs)}
    pairs, unmatched = match(results, base_results)
    notes = [
        f"{label}: no model of {baseline.name} has this label (it has "
        f"{', '.join(r.label for r in base_results)}); not compared"
        for label in unmatched
    ]
    pairings, warnings = [], []
    for new, base in pairs:
        base_name = f"{base.label} ({baseline.name})"
        warning = differences_note(
            new.label, base_name, (manifests or {}).get(new.label, {}), base_manifests[base.label]
        )
        if warning:
            warnings.append(warning)
        try:
            pairings.append(pair(new, base, ks, name=new.label, base_name=base_name))
        except CompareError as exc:
            notes.append(str(exc))
    return pairings, notes, unmatched, warnings


def regression_gate(reports: SessionReports, limit: float, baseline_name: str) -> None:
    for label in reports.unmatched:
        reports.gate_lines.append(
            (f"--codex-fail-regression={limit:g}: {label}: not in {baseline_name}; not gated", True)
        )
    if not reports.compared:
        reports.gate_lines.append(
            (
                f"--codex-fail-regression={limit:g}: nothing of this run could be "
                f"compared with {baseline_name}; failing",
                False,
            )
        )
        reports.regressed = True
        return
    for pg in reports.compared:
        d = pg.diff(1)
        if d is None:
            reports.gate_lines.append(
                (f"--codex-fail-regression={limit:g}: {pg.name}: no pass@1 on both sides; failing", False)
            )
            reports.regressed = True
            continue
        ok = d.a - d.b <= limit
        reports.regressed |= not ok
        reports.gate_lines.append(
            (
                f"--codex-fail-regression={limit:g}: {pg.name} pass@1 {fmt_rate(d.b)} vs {fmt_rate(d.a)} in "
                f"{pg.base_name} ({fmt_signed(d.diff)} over {d.problems} problems): "
                + ("ok" if ok else f"REGRESSION (dropped by more than {limit:g})"),
                ok,
            )
        )


def partial_gate(results: Sequence[ModelResult], allow_partial: bool) -> list[tuple[str, bool]]:
    """(line, ok) per partial result: the gates refuse a partial run unless
    ``--codex-allow-partial`` (a pass@1 over part of the suite is not the suite's)."""
    lines = []
    for r in results:
        if not r.partial:
            continue
        why = f"gates: {r.label}: {r.coverage.describe()}"
        if allow_partial:
            lines.append((f"{why}; gated anyway (--codex-allow-partial)", True))
        else:
            fix = "run every problem, or pass --codex-allow-partial"
            lines.append((f"{why}; failing: a partial run is not gated ({fix})", False))
    return lines


def build(state: CodexState, results: Sequence[ModelResult], ks: Sequence[int]) -> SessionReports:
    reports = SessionReports(within=within_run(results, comparison_ks(ks)))
    baseline = state.baseline
    if baseline is not None:
        reports.baseline_name = (
            f"{baseline.name} ({baseline.path})" if baseline.name.startswith("run ") else baseline.name
        )
        params = {m.spec.label: (m, m.params_json()) for m in state.models}
        manifests = {r.label: build_manifest(state, *params[r.label]) for r in results if r.label in params}
        reports.compared, reports.compare_notes, reports.unmatched, reports.compare_warnings = compare_with(
            results, baseline, ks, manifests
        )
        limit = state.options.reports.fail_regression
        if limit is not None:
            regression_gate(reports, limit, baseline.name)
    return reports


def results_doc(state: CodexState, results: Sequence[ModelResult]) -> dict:
    params = [m.params_json() for m in state.models]
    by_label = {m.spec.label: (m, p) for m, p in zip(state.models, params)}
    manifests = [build_manifest(state, *by_label[r.label]) for r in results]
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return results_document(results, manifests, [by_label[r.label][1] for r in results], created=created)


def write_files(state: CodexState, results: Sequence[ModelResult], ks: Sequence[int], reports: SessionReports) -> None:
    """The files the options ask for; a failure to write one is reported, not raised.  The
    results document (the results file, the stored run) is built only when one is asked for."""
    opts, ropts = state.options, state.options.reports

    @functools.cache
    def document() -> dict:
        doc = results_doc(state, results)
        if state.experiments:
            doc["experiments"] = state.experiments
        return doc

    jobs: list[tuple[str, Callable[[], str]]] = []
    if (report := opts.report) is not None:

        def results_file() -> str:
            write_results(report, document())
            return report

        jobs.append(("results file", results_file))
    if opts.samples_out:
        samples_out = opts.samples_out

        def he_results() -> str:
            write_samples_out(samples_out, results)
            return samples_out

        jobs.append(("samples results", he_results))
    if ropts.save:

        def save() -> str:
            run_id, path = RunStore(ropts.runs_dir).save(document(), [r.label for r in results])
            return f"run {run_id}: {path}"

        jobs.append(("saved", save))
    if (badge_dir := ropts.badge_dir) is not None:

        def badges() -> str:
            paths = write_badges(badge_dir, badge_documents(results, state.suite.name))
            return f"{len(paths)} files in {badge_dir}"

        jobs.append(("badges", badges))
    if (markdown_path := ropts.markdown) is not None:

        def markdown() -> str:
            title = f"pytest-codex: {state.suite.name}"
            scope = scope_line(results, state.suite.name)
            text = markdown_document(
                title,
                results,
                ks,
                scope,
                reports.within,
                reports.compared,
                reports.compared_title,
                paper_figures=state.suite.name == "humaneval",
                compared_warnings=reports.compare_warnings,
            )
            atomic_write(markdown_path, text)
            return markdown_path

        jobs.append(("markdown", markdown))
    for what, job in jobs:
        try:
            reports.written.append(f"{what}: {job()}")
        except OSError as exc:
            reports.errors.append(f"{what}: could not write ({exc.__class__.__name__}: {exc})")


def summary_lines(reports: SessionReports, width: int | None = None) -> list[tuple[str, dict]]:
    """(line, terminal markup) for the terminal summary, after the pass@k table; tables
    wider than ``width`` split their columns."""
    out: list[tuple[str, dict]] = []
    if reports.within:
        out += [("", {}), ("paired differences (each model against the first):", {"bold": True})]
        out += [(line, {}) for line in render_comparison(reports.within, width=width)]
    if reports.compared or reports.compare_notes:
        out += [("", {}), (f"{reports.compared_title}:", {"bold": True})]
        out += [(line, {"yellow": True}) for line in reports.compare_warnings]
        out += [(line, {}) for line in render_comparison(reports.compared, width=width)]
        out += [(note, {"yellow": True}) for note in reports.compare_notes]
    out += [(line, {"green": True} if ok else {"red": True}) for line, ok in reports.gate_lines]
    out += [(line, {}) for line in reports.written]
    out += [(line, {"red": True}) for line in reports.errors]
    return out
