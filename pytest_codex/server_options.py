"""Options of the server backends (``openai:`` / ``openai-chat:`` models).

Parsed once in ``CodexOptions.from_config`` into ``CodexOptions.server``; every bad value
is a ``pytest.UsageError`` naming the option, the value and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from .generation_options import _int

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def addoption(group) -> None:
    group.addoption("--codex-concurrency", default="8", metavar="N",
                    help="openai: models: requests in flight at once (default 8)")
    group.addoption("--codex-request-timeout", default="600", metavar="SECONDS",
                    help="openai: models: time limit of one request (default 600)")
    group.addoption("--codex-retries", default="5", metavar="N",
                    help="openai: models: retries of a request after 429/5xx/connection errors, "
                         "with exponential backoff (default 5)")
    group.addoption("--codex-samples-per-request", default="1", metavar="N",
                    help="openai: models: samples asked for in one request ('n'; default 1, one "
                         "seed per sample; raise it for servers that share the prompt across n)")
    group.addoption("--codex-require-logprobs", action="store_true", default=False,
                    help="openai: models: stop with the fix if the server gives no token log-probabilities "
                         "(the ranking heuristics need them); default: go on without them")
    group.addoption("--codex-generate-only", action="store_true", default=False,
                    help="fill the completion store for the selected problems and execute nothing "
                         "(then copy the store to the machines that execute, see README 'Running at scale')")
    group.addoption("--codex-api-key-env", default=DEFAULT_KEY_ENV, metavar="VAR",
                    help=f"openai: models: environment variable holding the API key (default {DEFAULT_KEY_ENV}; "
                         "unset = no key); the key is never written anywhere")


@dataclass(frozen=True)
class ServerOptions:
    concurrency: int = 8
    request_timeout: float = 600.0
    retries: int = 5
    samples_per_request: int = 1
    api_key_env: str = DEFAULT_KEY_ENV
    require_logprobs: bool = False
    generate_only: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> "ServerOptions":
        from .options import parse_positive_float

        key_env = str(config.getoption("codex_api_key_env")).strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
            raise pytest.UsageError(f"--codex-api-key-env={key_env!r}: not an environment variable name; "
                                    f"give the variable's name, e.g. --codex-api-key-env={DEFAULT_KEY_ENV}, "
                                    "not the key itself")
        return cls(
            concurrency=_int("--codex-concurrency", config.getoption("codex_concurrency"), 1, "8"),
            request_timeout=parse_positive_float("--codex-request-timeout",
                                                 config.getoption("codex_request_timeout"), allow_none=False),
            retries=_int("--codex-retries", config.getoption("codex_retries"), 0, "5"),
            samples_per_request=_int("--codex-samples-per-request",
                                     config.getoption("codex_samples_per_request"), 1, "1"),
            api_key_env=key_env,
            require_logprobs=bool(config.getoption("codex_require_logprobs")),
            generate_only=bool(config.getoption("codex_generate_only")),
        )
