"""The benchmark's test module, shipped inside the package (see ``test_humaneval``).

Nothing imports this package: pytest collects its module when ``--model`` is given and no test
paths are (``pytest --model=reference`` anywhere), or when it is named (``--pyargs
pytest_codex.suite``).
"""
