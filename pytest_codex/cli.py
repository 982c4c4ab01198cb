"""``pytest-codex`` / ``python -m pytest_codex``: reports from results files and stored runs,
and the tools around a run.

Commands: ``report``, ``compare``, ``badge``, ``plot``, ``show``, ``runs`` (a RUN is a
results file, a directory of them, a stored run id (``3``, ``0003``), or ``latest``);
``merge-stores`` (completion stores made on several machines) and ``serve-local`` (a local
OpenAI-compatible server on the embedded model).  Bad input ends with one line on stderr
and exit status 2; nothing is written then.  The tables are the same renderers as the
terminal summary (``pytest_codex.reports.tables``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_codex import __version__
from pytest_codex.core.errors import CodexError, CodexUsageError
from pytest_codex.core.files import atomic_write
from pytest_codex.core.records import ProblemPayload
from pytest_codex.models.local_server import LlamaServer
from pytest_codex.models.store import FILENAME
from pytest_codex.models.store_merge import merge, store_path
from pytest_codex.options import K
from pytest_codex.options.declare import ArgType
from pytest_codex.options.parse import Integer
from pytest_codex.options.report import DEFAULT_RUNS_DIR
from pytest_codex.reports.badges import badge_documents, write_badges
from pytest_codex.reports.compare import (
    check_datasets,
    differences_note,
    match,
    pair,
    within_run,
)
from pytest_codex.reports.plots import curves, draw, output_paths, temperature
from pytest_codex.reports.results import ModelResult
from pytest_codex.reports.runs import LoadedRun, RunFileError, RunStore, default_ks
from pytest_codex.reports.tables import (
    fmt_rate,
    markdown_document,
    render_comparison,
    render_table,
    text_table,
)


class CliError(CodexUsageError):
    pass


KS = K.arg_type("--k")  # the plugin's --codex-k validator
BADGE_K = ArgType("--k", Integer(1, "1"))


# --- inputs ------------------------------------------------------------------------------


def load_inputs(refs: Sequence[str], runs_dir: str) -> list[LoadedRun]:
    store = RunStore(runs_dir)
    loaded = []
    for ref in refs:
        path = Path(ref)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                raise CliError(
                    f"{ref}: contains no .json results files; write some with "
                    "`pytest --codex-report=PATH` or `tox -e reference`"
                )
            loaded += [store.load(str(p)) for p in files]
        else:
            loaded.append(store.load(ref))
    return loaded


def same_dataset(runs: Sequence[LoadedRun]) -> dict:
    for run in runs[1:]:
        check_datasets(run.dataset(), runs[0].dataset(), run.name, runs[0].name)
    return runs[0].dataset()


def merged_results(runs: Sequence[LoadedRun], ks: Sequence[int]) -> list[tuple[ModelResult, LoadedRun, dict]]:
    """Every model of every run; a label that occurs twice gets its run's name."""
    entries = [(r, run, raw) for run in runs for r, raw in zip(run.model_results(ks), run.runs)]
    labels = [r.label for r, _, _ in entries]
    for r, run, _ in entries:
        if labels.count(r.label) > 1:
            r.label = f"{r.label} ({run.short})"
    return entries


def pick_models(runs: Sequence[LoadedRun], ks: Sequence[int], wanted: Sequence[str]) -> list[ModelResult]:
    """The models named by ``--model`` (a label, or a --model value) from any of the runs, in
    the order given; a name that matches no model, or several, is an error listing the labels."""
    entries = merged_results(runs, ks)
    picked = []
    for name in wanted:
        hits = [r for r, _, raw in entries if name in (r.label, raw.get("label"), raw.get("model"))]
        if len(hits) != 1:
            labels = ", ".join(repr(r.label) for r, _, _ in entries)
            how = "no model" if not hits else f"{len(hits)} models"
            raise CliError(f"--model {name!r}: {how} of the given runs has this label; give one of {labels}")
        picked.append(hits[0])
    return picked


def _ks(runs: Sequence[LoadedRun], given: tuple[int, ...] | None) -> tuple[int, ...]:
    return given or default_ks(max(run.max_n() for run in runs))


def _suite_name(dataset: dict) -> str:
    return dataset.get("name") or "results"


def _scope(results: Sequence[ModelResult], runs: Sequence[LoadedRun]) -> str:
    ds = runs[0].dataset()
    sha = f", sha256 {ds['sha256'][:12]}" if ds.get("sha256") else ""
    return f"{_suite_name(ds)}{sha}: {len(results)} model(s) from {len(runs)} file(s): " + ", ".join(
        f"{r.label} over {len(r.problems)} of {r.suite_total}" for r in results
    )


def _emit(text: str, out: str | None) -> str | None:
    if out is None:
        sys.stdout.write(text)
        return None
    atomic_write(out, text)
    return out


# --- commands ----------------------------------------------------------------------------


def cmd_report(args) -> int:
    runs = load_inputs(args.runs, args.runs_dir)
    dataset = same_dataset(runs)
    ks = _ks(runs, args.k)
    results = [r for r, _, _ in merged_results(runs, ks)]
    results.sort(key=lambda r: (-(r.pass_at_k.get(ks[0]) or -1.0), r.label))
    pairings = within_run(results, ks)
    title = args.title or f"pytest-codex leaderboard: {_suite_name(dataset)}"
    if args.markdown:
        text = markdown_document(
            title, results, ks, _scope(results, runs), pairings, paper_figures=_suite_name(dataset) == "humaneval"
        )
    else:
        lines = [title, _scope(results, runs), ""] + render_table(results, ks, width=args.width)
        comparison = render_comparison(pairings)
        if comparison:
            lines += ["", "paired differences (each model against the leader):"] + comparison
        text = "\n".join(lines) + "\n"
    written = _emit(text, args.out)
    if written:
        print(f"wrote {written}")
    return 0


def cmd_compare(args) -> int:
    runs = load_inputs(args.runs, args.runs_dir)
    same_dataset(runs)
    ks = _ks(runs, args.k)
    pairings, notes = [], []
    if args.model:
        picked = pick_models(runs, ks, args.model)
        if len(picked) < 2:
            raise CliError("--model: name two or more models; the first is the baseline of the others")
        pairings = [pair(new, picked[0], ks) for new in picked[1:]]
    elif len(runs) == 1:
        pairings = within_run(runs[0].model_results(ks), ks)
        if not pairings:
            raise CliError(f"{runs[0].name}: has one model; give two or more runs to compare")
    base = runs[0]
    base_results = base.model_results(ks)
    warnings = []
    if len(runs) == 1 and not args.model:
        first = (runs[0].runs[0].get("manifest") or {}, runs[0].model_results(ks)[0].label)
        for r, raw in list(zip(runs[0].model_results(ks), runs[0].runs))[1:]:
            warnings.append(differences_note(r.label, first[1], raw.get("manifest") or {}, first[0]))
    manifests = {id(r): raw.get("manifest") or {} for r, raw in zip(base_results, base.runs)}
    for run in runs[1:] if not args.model else ():
        results = run.model_results(ks)
        pairs, unmatched = match(results, base_results)
        notes += [f"{label} ({run.name}): no model of {base.name} has this label; not compared" for label in unmatched]
        run_manifests = {id(r): raw.get("manifest") or {} for r, raw in zip(results, run.runs)}
        for new, old in pairs:
            name, base_name = f"{new.label} ({run.short})", f"{old.label} ({base.short})"
            warnings.append(differences_note(name, base_name, run_manifests[id(new)], manifests[id(old)]))
            pairings.append(pair(new, old, ks, name=name, base_name=base_name))
    if not pairings:
        raise CliError("nothing to compare: " + "; ".join(notes))
    said = [w for w in warnings if w]
    if args.markdown:
        text = "\n".join([f"> {w}\n" for w in said] + render_comparison(pairings, markdown=True) + notes) + "\n"
    else:
        text = "\n".join([f"note: {w}" for w in said] + render_comparison(pairings) + notes) + "\n"
    _emit(text, args.out)
    return 0


def cmd_badge(args) -> int:
    runs = load_inputs(args.runs, args.runs_dir)
    dataset = same_dataset(runs)
    if args.model:
        results = pick_models(runs, (args.k,), args.model)
    else:
        results = [r for r, _, _ in merged_results(runs, (args.k,))]
    paths = write_badges(args.out, badge_documents(results, _suite_name(dataset), k=args.k))
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_plot(args) -> int:
    runs = load_inputs(args.runs, args.runs_dir)
    dataset = same_dataset(runs)
    paths = output_paths(args.out)
    entries = [(r, temperature(raw)) for r, _, raw in merged_results(runs, (1,))]
    title = args.title or f"{_suite_name(dataset)}: pass@k against k"
    for p in draw(curves(entries), paths, title):
        print(f"wrote {p}")
    return 0


def cmd_show(args) -> int:
    runs = load_inputs(args.runs or ["latest"], args.runs_dir)
    shown = 0
    for loaded in runs:
        for run in loaded.runs:
            if args.model and args.model not in (run["label"], run["model"]):
                continue
            problem = next((p for p in run["problems"] if p["task_id"] == args.task_id), None)
            if problem is None:
                if args.task_id in (run.get("not_attempted") or ()):
                    print(f"{args.task_id} — {run['label']} ({loaded.name}): not attempted (no samples)")
                    shown += 1
                continue
            shown += 1
            print(show_problem(ProblemPayload.from_json(problem, run["label"]), run["label"], loaded.name))
    if not shown:
        ids = [p["task_id"] for lr in runs for run in lr.runs for p in run["problems"]]
        which = f" for model {args.model!r}" if args.model else ""
        raise CliError(
            f"{args.task_id!r} is not in {runs[0].name}{which} "
            f"({len(set(ids))} problems, e.g. {ids[0] if ids else 'none'}); give a task id it ran"
        )
    return 0


def show_problem(problem: ProblemPayload, label: str, source: str) -> str:
    lines = [f"{problem.task_id} — {label} ({source}): {problem.c}/{problem.n} samples passed"]
    for s in problem.samples:
        head = f"#{s.index} {s.verdict}"
        if s.error_type and not s.passed:
            head += f" ({s.error_type})"
        if s.duration is not None:
            head += f", {s.duration:.3f} s"
        lines += ["", head]
        if s.detail:
            lines += ["  " + line for line in s.detail.splitlines()]
        lines.append("  completion:")
        lines += ["  | " + line for line in s.completion.splitlines()] or ["  | (empty)"]
        if s.output:
            lines.append("  output (tail):")
            lines += ["  > " + line for line in s.output.splitlines()]
    return "\n".join(lines)


def cmd_runs(args) -> int:
    store = RunStore(args.runs_dir)
    rows = []
    for num, path in store.entries():
        try:
            loaded = store.load(str(path))
        except RunFileError as exc:
            rows.append([f"{num:04d}", "?", f"unreadable: {exc}", ""])
            continue
        pass1 = ", ".join(
            f"{r.label} {fmt_rate(r.pass_at_k.get(1))}" + (f" ({r.coverage.short()})" if r.partial else "")
            for r in loaded.model_results((1,))
        )
        rows.append([f"{num:04d}", str(loaded.document.get("created") or "—"), pass1, path.name])
    if not rows:
        print(f"no runs stored in {args.runs_dir} (save one with `pytest --model=... --codex-save`)")
        return 0
    print("\n".join(text_table(["run", "created", "pass@1", "file"], rows, left=(0, 1, 2, 3))))
    return 0


def cmd_merge_stores(args) -> int:
    for source in args.sources:
        if not Path(store_path(source)).is_file():
            raise CliError(
                f"{store_path(source)} does not exist; give --codex-cache-dir folders (or "
                f"{FILENAME} files) of earlier runs"
            )
    stats = merge(args.dest, args.sources)
    print(
        f"merged {len(args.sources)} store(s) into {store_path(args.dest)}: {stats.added} samples added, "
        f"{stats.already} already there, {stats.conflicts} conflicting (kept the destination's)"
        + (
            f", {stats.resolution_conflicts} conflicting resolved settings (kept the destination's)"
            if stats.resolution_conflicts
            else ""
        )
    )
    return 0


def cmd_serve_local(args) -> int:
    server = LlamaServer(args.gguf, n_threads=max(1, (os.cpu_count() or 2) // 2))
    with server:
        print(
            f"serving {server.gguf.name} at {server.base_url}; use --model={server.model_arg()} "
            f"or --model={server.model_arg('openai-chat')}; Ctrl-C stops it",
            flush=True,
        )
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
    return 0


# --- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-codex", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version",
        action="version",
        version=f"pytest-codex {__version__} (distribution pytest-humaneval, {Path(__file__).parent})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--runs-dir", default=DEFAULT_RUNS_DIR, help=f"directory of stored runs (default {DEFAULT_RUNS_DIR})"
    )

    p = sub.add_parser("report", parents=[common], help="pass@k table (leaderboard) of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--markdown", action="store_true", help="markdown instead of plain text")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.add_argument("--k", type=KS, help="ks of pass@k, e.g. 1,10,100 (default: those the samples allow)")
    p.add_argument("--title", help="heading of the report")
    p.add_argument("--width", type=int, default=None, help="split the table when wider than this")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "compare",
        parents=[common],
        help="paired differences: each run against the first (or each --model against the first --model)",
    )
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--out")
    p.add_argument("--k", type=KS)
    p.add_argument(
        "--model",
        action="append",
        metavar="LABEL",
        help="compare these models, from any of the runs (repeat; the first is the baseline)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("badge", parents=[common], help="SVG badge + shields.io endpoint JSON per model")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--k", type=BADGE_K, default=1, help="the pass@k on the badge (default 1)")
    p.add_argument("--model", action="append", metavar="LABEL", help="only these models (repeat; default: all)")
    p.set_defaults(func=cmd_badge)

    p = sub.add_parser("plot", parents=[common], help="pass@k against k with 95%% intervals (SVG)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", required=True, help="a .svg file, or a directory (gets pass_at_k.svg)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("show", parents=[common], help="one problem's samples: completion, verdict, failure detail")
    p.add_argument("task_id", metavar="TASK_ID")
    p.add_argument("runs", nargs="*", metavar="RUN", help="default: latest stored run")
    p.add_argument("--model", metavar="LABEL", help="only this model (label or --model value)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("runs", parents=[common], help="list the stored runs")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "merge-stores",
        help="merge completion stores made on several machines into DEST "
        "(each a --codex-cache-dir or a completions.sqlite file)",
    )
    p.add_argument("dest", metavar="DEST_DIR")
    p.add_argument("sources", nargs="+", metavar="SOURCE_DIR")
    p.set_defaults(func=cmd_merge_stores)

    p = sub.add_parser(
        "serve-local",
        help="serve a GGUF (default: the embedded SmolLM2) with llama-cpp-python's "
        "OpenAI-compatible server on 127.0.0.1; prints the --model values",
    )
    p.add_argument("gguf", nargs="?", default=None, metavar="GGUF")
    p.set_defaults(func=cmd_serve_local)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except (CodexError, ValueError, OSError) as exc:
        msg = str(exc).replace("\n", " ")
        print(f"pytest-codex {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
