"""What the reports add at the end of a session: the pass@k table alone (baseline) against
the full reports (contender: 95% intervals in the table, paired differences between the
models, the results document with intervals, markdown and badges), on the same results.

The results are synthetic but of the size of a real run: 164 problems, n samples per
problem (default 200, the paper's), two models; only counts and verdicts matter here.

    .venv/bin/python benchmarks/bench_reports.py [--n 200] [--models 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time

from pytest_codex.reports.badges import badge_documents, svg
from pytest_codex.reports.compare import within_run
from pytest_codex.reports.results import build_model_result
from pytest_codex.reports.runs import default_ks
from pytest_codex.reports.tables import markdown_document, render_comparison, render_table


def synthetic(label: str, n: int, rng: random.Random, problems: int = 164) -> list[dict]:
    out = []
    for i in range(problems):
        c = rng.choice([0, 0, n, rng.randint(0, n)])
        samples = [{"index": j, "verdict": "passed" if j < c else "failed"} for j in range(n)]
        out.append({"task_id": f"HumanEval/{i}", "n": n, "c": c, "samples": samples, "attempted": True})
    return out


def baseline(payloads: dict[str, list[dict]], ks) -> list[str]:
    """The table without intervals: pass@k per model (what the summary computed before)."""
    results = [build_model_result(m, m, p, 164, ks) for m, p in payloads.items()]
    return [f"{r.label} " + " ".join(str(r.pass_at_k[k]) for k in ks) for r in results]


def contender(payloads: dict[str, list[dict]], ks) -> list[str]:
    from pytest_codex.reports.stats import _intervals, pass_at_k_intervals

    _intervals.cache_clear()  # as at the end of a session: nothing computed yet
    results = [build_model_result(m, m, p, 164, ks) for m, p in payloads.items()]
    lines = render_table(results, ks, width=80)
    pairings = within_run(results, ks)
    lines += render_comparison(pairings)
    for r in results:  # the results document's intervals
        pass_at_k_intervals(r.problems, ks)
    lines.append(markdown_document("bench", results, ks, "scope", pairings))
    lines += [svg(doc) for _, doc in badge_documents(results, "humaneval")]
    return lines


def best_of(fn, repeat: int, *args) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(0)
    payloads = {f"model-{i}": synthetic(f"model-{i}", args.n, rng) for i in range(args.models)}
    ks = default_ks(args.n)
    contender(payloads, ks)  # warm-up: numpy import
    base = best_of(baseline, args.repeat, payloads, ks)
    cont = best_of(contender, args.repeat, payloads, ks)
    print(f"164 problems x {args.n} samples x {args.models} models, ks {','.join(map(str, ks))}, best of {args.repeat}")
    print(f"baseline  (pass@k table only):             {base * 1000:8.1f} ms")
    print(f"contender (intervals, paired, md, badges): {cont * 1000:8.1f} ms")
    print(f"ratio contender/baseline: {cont / base:.2f}x (+{(cont - base) * 1000:.0f} ms per session end)")


if __name__ == "__main__":
    main()
