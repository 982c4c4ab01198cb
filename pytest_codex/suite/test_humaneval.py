"""The benchmark suite: one item per (model, problem).

The plugin parametrizes the ``codex_case`` fixture with every (model, problem) of the run:
``--model`` (each model), ``--codex-suite`` (the problem set) and ``--codex-tasks`` /
``--codex-limit`` (which problems).  ``codex_case.run()`` executes the model's completions
for the problem in the sandbox, records the result and fails the item when no sample passed.

pytest collects this module wherever it runs when ``--model`` is given without test paths.
A project can keep its own copy (any test function that takes ``codex_case``), as the
repository's ``problems/`` does.
"""


def test_humaneval(codex_case):
    codex_case.run()
