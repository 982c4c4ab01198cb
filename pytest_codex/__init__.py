"""pytest-codex: HumanEval functional-correctness benchmarking as a pytest plugin."""

__version__ = "0.1.0"
