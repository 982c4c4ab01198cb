"""``python -m pytest_codex``: the same command line as ``pytest-codex``."""

import sys

from pytest_codex.cli import main

sys.exit(main())
