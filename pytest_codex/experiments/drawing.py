"""Deterministic draws from hypothesis strategies (for generated tests).

``draw_examples(strategy, count, seed)`` returns the same list for the same arguments and
hypothesis version, in any process: only hypothesis's *generate* phase runs, seeded,
with no example database, and without the constants hypothesis harvests from the source
of the modules loaded in the process (which differ between a pytest run, an xdist worker
and a plain interpreter).  hypothesis is imported here only, and only when called.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any

from pytest_codex.core.errors import CodexUsageError


class MissingHypothesis(CodexUsageError):
    pass


def hypothesis_version() -> str:
    import hypothesis  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn

    return hypothesis.__version__


@contextmanager
def _without_local_constants():
    """Hide the constants hypothesis collects from loaded modules' source (private API,
    guarded: on a hypothesis without it there is nothing to hide)."""
    try:
        from hypothesis.internal.conjecture import (
            providers,  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn
        )
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if original is None or not hasattr(providers, "Constants"):
        yield
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    if cache is not None:
        cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        if cache is not None:
            cache.cache.clear()


def draw_examples(strategy_factory, count: int, seed: int) -> list[Any]:
    """Up to ``count`` distinct values (by ``repr``) of ``strategy_factory(st)``, where ``st``
    is ``hypothesis.strategies``; deterministic per ``seed``."""
    try:
        from hypothesis import (  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn
            HealthCheck,
            Phase,
            given,
            settings,
        )
        from hypothesis import (
            seed as hseed,  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn
        )
        from hypothesis import (
            strategies as st,  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn
        )
    except ImportError:
        raise MissingHypothesis(
            "generated tests need the 'hypothesis' package; install it with `pip install 'pytest-codex[experiments]'`"
        ) from None
    try:  # hypothesis warns when strategies are built while pytest configures plugins
        from hypothesis.errors import (
            HypothesisSideeffectWarning,  # lazy: hypothesis is the optional 'experiments' extra, imported only when tests are drawn
        )
    except ImportError:  # older hypothesis
        HypothesisSideeffectWarning = Warning  # type: ignore[misc,assignment]  # the older name of the same warning class
    seen: dict[str, Any] = {}

    @hseed(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy_factory(st))
    def collect(value):
        seen.setdefault(repr(value), value)

    with warnings.catch_warnings(), _without_local_constants():
        warnings.simplefilter("ignore", HypothesisSideeffectWarning)
        collect()
    return list(seen.values())[:count]
