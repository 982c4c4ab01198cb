# Repository-level pytest configuration only; the plugin itself is pytest_codex.plugin,
# loaded through its pytest11 entry point.  pytester is used by the project's tests.
pytest_plugins = ["pytester"]
