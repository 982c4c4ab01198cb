"""Type-aware mutation of known inputs (``experiments.mutation``): pure functions, no sandbox."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codex.experiments.mutation import edge_inputs, mutate_inputs

scalars = st.one_of(st.integers(-1000, 1000), st.text(max_size=8), st.floats(-100, 100, allow_nan=False))
arg_lists = st.lists(st.lists(scalars, min_size=1, max_size=3), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(arg_lists, st.integers(1, 40), st.integers(0, 2**32))
def test_reproducible_distinct_and_only_boundaries_may_repeat_a_seed(seeds, count, seed):
    first = mutate_inputs(seeds, count, seed)
    assert first == mutate_inputs(seeds, count, seed)  # the same seed draws the same inputs
    assert len(first) <= count
    assert len({repr(a) for a in first}) == len(first)  # no two alike
    edges = {repr(a) for a in edge_inputs(seeds, random.Random(seed), max(1, count // 5))}
    known = {repr(s) for s in seeds}
    for args in first:
        # a mutated input is new; a boundary input is a test of its own even where a seed is the same
        assert repr(args) not in known or repr(args) in edges


def test_a_boundary_input_that_is_also_a_seed_is_kept():
    # modp(0, 1): the one input on which a wrong modp (returning 1 for n == 0) fails
    seeds = [[0, 1], [3, 5], [1101, 101]]
    drawn = mutate_inputs(seeds, 30, 0)
    assert [0, 1] in drawn
    assert [3, 5] not in drawn and [1101, 101] not in drawn  # seeds that are no boundary: never drawn again


def test_an_argument_copied_mirrored_gives_reciprocal_fractions():
    seeds = [["1/5", "5/1"], ["1/6", "2/1"], ["7/10", "10/2"], ["15/17", "3/4"]]
    drawn = mutate_inputs(seeds, 200, 1)
    reciprocal = [a for a in drawn if a[1] == "/".join(reversed(a[0].split("/"))) and a[0] != a[1]]
    assert reciprocal, drawn
