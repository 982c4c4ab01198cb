"""The benchmark suite for runs from the repository's root (``testpaths = ["problems"]``).

It is the module the package ships (``pytest_codex/suite/test_humaneval.py``): outside the
clone, ``pytest --model=NAME`` collects that one by itself.
"""

from pytest_codex.suite.test_humaneval import test_humaneval

__all__ = ["test_humaneval"]
