"""Fixtures shared by the tests of every layer."""

from __future__ import annotations

import pytest

from support import SUITE_FILE


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: the HumanEval suite module, run with pytester (a test module may
    extend it by defining ``project(project)``)."""
    pytester.makepyfile(test_humaneval=SUITE_FILE)
    return pytester


@pytest.fixture(autouse=True)
def _no_evalplus_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test runs without the machine's HumanEval+ (EvalPlus's cache directory and
    $HUMANEVAL_OVERRIDE_PATH): --codex-suite=humanevalplus and --codex-plus look there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("HUMANEVAL_OVERRIDE_PATH", raising=False)
