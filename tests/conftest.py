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
