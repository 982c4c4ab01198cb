"""The package's one error root.

``CodexError`` is every error the package raises on purpose.  ``CodexUsageError`` is bad
input (an option, a file, a model name): its message is one line that names the value,
where it came from and the fix; the plugin turns it into ``pytest.UsageError`` and the
command-line tool into exit status 2.
"""

from __future__ import annotations


class CodexError(Exception):
    """Any error pytest-codex raises on purpose."""


class CodexUsageError(CodexError, ValueError):
    """Bad input: one line naming the value, where it came from and the fix."""

    def one_line(self) -> str:
        return str(self).replace("\n", " ")


def usage_error(option: str, value: object, why: str, fix: str) -> CodexUsageError:
    """The usage error of a bad option value: ``--opt='value': why; fix``."""
    return CodexUsageError(f"{option}={value!r}: {why}; {fix}")


class ProblemFileError(CodexUsageError):
    """A problem file that cannot be used; the message names the file, line and field."""


class ModelError(CodexUsageError):
    """A model that cannot be used as given (missing file, no GPU, damaged store, ...)."""


class UnknownModelError(ModelError):
    """A ``--model`` value that names no model."""
