"""``python -m pytest_codex``: the same command line as ``pytest-codex``."""

import sys

from .cli import main

sys.exit(main())
