"""Properties of the bootstrap intervals and the paired comparison (pytest_codex.reports.stats)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.core.passk import pass_at_k
from pytest_codex.core.records import ProblemPayload
from pytest_codex.reports import stats

# Per-problem pass@k estimates are fractions in [0, 1]; these are the values a problem
# with n <= 10 samples can have at k = 1.
values = st.lists(st.integers(0, 10).map(lambda c: c / 10), min_size=1, max_size=40)
fast = settings(max_examples=40, deadline=None)


@fast
@given(values)
def test_interval_holds_the_point_estimate(vs):
    lo, hi = stats.bootstrap_interval(vs)
    assert 0.0 <= lo <= stats.mean(vs) <= hi <= 1.0


@fast
@given(values)
def test_interval_narrows_as_problems_are_added(vs):
    """Four times as many problems with the same distribution: the interval is not wider,
    and strictly narrower whenever the problems disagree."""
    lo, hi = stats.bootstrap_interval(vs)
    lo4, hi4 = stats.bootstrap_interval(vs * 4)
    assert hi4 - lo4 <= hi - lo + 1e-12
    if len(set(vs)) > 1 and len(vs) >= 3:
        assert hi4 - lo4 < hi - lo


@fast
@given(values)
def test_identical_runs_compare_as_equal(vs):
    d = stats.paired_difference(vs, list(vs), k=1)
    assert (d.diff, d.low, d.high, d.p_value, d.differing) == (0.0, 0.0, 0.0, 1.0, 0)
    assert d.verdict == "identical"


@fast
@given(
    st.lists(
        st.tuples(st.integers(0, 4).map(lambda c: c / 4), st.integers(0, 4).map(lambda c: c / 4)),
        min_size=1,
        max_size=30,
    )
)
def test_swapping_the_models_mirrors_the_difference(pairs):
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    ab, ba = stats.paired_difference(a, b, 1), stats.paired_difference(b, a, 1)
    assert math.isclose(ab.diff, -ba.diff, abs_tol=1e-12)
    assert math.isclose(ab.p_value, ba.p_value)
    assert ab.low <= ab.diff <= ab.high and 0.0 <= ab.p_value <= 1.0


def test_intervals_are_deterministic():
    vs = [0.0, 0.3, 1.0, 0.5, 0.0, 0.0, 0.9] * 3
    assert stats.bootstrap_interval(vs) == stats.bootstrap_interval(list(vs))
    assert stats.paired_difference(vs, vs[::-1], 1) == stats.paired_difference(vs, vs[::-1], 1)


def test_interval_of_a_known_proportion():
    """30 of 100 problems solved: the percentile bootstrap is close to the normal
    approximation 0.3 +- 1.96 * sqrt(0.3 * 0.7 / 100) = [0.210, 0.390]."""
    lo, hi = stats.bootstrap_interval([1.0] * 30 + [0.0] * 70)
    assert abs(lo - 0.21) <= 0.015 and abs(hi - 0.39) <= 0.015


def test_exact_permutation_p_value():
    # Five problems, all better by the same amount: 2 of the 2**5 sign patterns are as extreme.
    assert stats.permutation_p_value([0.5] * 5) == 2 / 32
    # Ties (zero differences) do not count as problems that differ.
    assert stats.permutation_p_value([0.0, 0.0, 1.0]) == 1.0
    assert stats.permutation_p_value([]) == 1.0


def test_clear_difference_is_called_and_a_small_one_is_not():
    a = [0.0] * 60 + [1.0] * 40
    better = [1.0] * 100
    d = stats.paired_difference(a, better, 1)
    assert d.verdict == "better" and d.low > 0 and d.p_value < 0.001
    assert stats.paired_difference(better, a, 1).verdict == "worse"
    slight = [1.0] + a[1:]  # one problem more
    assert stats.paired_difference(a, slight, 1).verdict == "no clear difference"


def test_pass_at_k_intervals_use_each_problems_estimate():
    problems = [ProblemPayload("m", f"t/{i}", n=10, c=c) for i, c in enumerate((0, 1, 5, 10, 3))]
    ivs = stats.pass_at_k_intervals(problems, [1, 5, 20])
    assert ivs[20] is None  # n < k: no estimate, no interval
    for k in (1, 5):
        point = sum(pass_at_k(10, p.c, k) for p in problems) / len(problems)
        assert ivs[k][0] <= point <= ivs[k][1]
    assert ivs[5][0] >= ivs[1][0]  # pass@5 >= pass@1 problem by problem
