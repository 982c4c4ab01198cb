"""The unbiased pass@k estimator of the Codex paper, computed exactly.

pass@k for one problem with n samples of which c passed is 1 - C(n-c, k) / C(n, k).
Python's integers make the binomials exact, so the value is an exact rational and its
float is correctly rounded (0.5 prints as 0.5).  A k larger than n has no estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from math import comb


def pass_at_k_exact(n: int, c: int, k: int) -> Fraction:
    if not (0 <= c <= n):
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return Fraction(1)
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def pass_at_k(n: int, c: int, k: int) -> float:
    return float(pass_at_k_exact(n, c, k))


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float | None:
    """Mean pass@k over problems given (n, c) pairs; None when any problem has n < k
    (the estimate would be biased, so none is given)."""
    total = Fraction(0)
    m = 0
    for n, c in counts:
        if n < k:
            return None
        total += pass_at_k_exact(n, c, k)
        m += 1
    if m == 0:
        return None
    return float(total / m)
