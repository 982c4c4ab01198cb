"""The benchmark suite: one item per (model, problem).

The plugin parametrizes ``codex_case`` from ``--model`` and ``--codex-suite``; ``run``
executes the model's completions for the problem (see pytest_codex/item.py) and fails
when no sample passed.
"""


def test_humaneval(codex_case):
    codex_case.run()
