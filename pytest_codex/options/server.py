"""Options of the server backends (``openai:`` / ``openai-chat:`` models)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_codex.options.declare import Option, Values
from pytest_codex.options.parse import Integer, Number, Pattern

DEFAULT_KEY_ENV = "OPENAI_API_KEY"

CONCURRENCY = Option("--codex-concurrency", "openai: models: requests in flight at once", Integer(1, "8"), 8, "N")
REQUEST_TIMEOUT = Option(
    "--codex-request-timeout",
    "openai: models: time limit of one request in seconds",
    Number(0.0, float("inf"), "600", lo_open=True),
    600.0,
    "SECONDS",
)
RETRIES = Option(
    "--codex-retries",
    "openai: models: retries of a request after 429/5xx/connection errors, with exponential backoff",
    Integer(0, "5"),
    5,
    "N",
)
SAMPLES_PER_REQUEST = Option(
    "--codex-samples-per-request",
    "openai: models: samples asked for in one request "
    "('n'; 1 = one seed per sample; raise it for servers that share the prompt across n)",
    Integer(1, "1"),
    1,
    "N",
)
REQUIRE_LOGPROBS = Option(
    "--codex-require-logprobs",
    "openai: models: stop with the fix if the server gives no "
    "token log-probabilities (the ranking heuristics need them)",
    kind="flag",
)
GENERATE_ONLY = Option(
    "--codex-generate-only",
    "fill the completion store for the selected problems and execute "
    "nothing (then copy the store to the machines that execute; docs/scale.md)",
    kind="flag",
)
API_KEY_ENV = Option(
    "--codex-api-key-env",
    "openai: models: environment variable holding the API key (unset = no key); the key is never written anywhere",
    Pattern(
        r"[A-Za-z_][A-Za-z0-9_]*",
        "not an environment variable name",
        f"give the variable's name, e.g. {{option}}={DEFAULT_KEY_ENV}, not the key itself",
    ),
    DEFAULT_KEY_ENV,
    "VAR",
)

OPTIONS = (CONCURRENCY, REQUEST_TIMEOUT, RETRIES, SAMPLES_PER_REQUEST, REQUIRE_LOGPROBS, GENERATE_ONLY, API_KEY_ENV)


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
    def from_values(cls, values: Values) -> ServerOptions:
        return cls(
            concurrency=values.get(CONCURRENCY),
            request_timeout=values.get(REQUEST_TIMEOUT),
            retries=values.get(RETRIES),
            samples_per_request=values.get(SAMPLES_PER_REQUEST),
            api_key_env=values.get(API_KEY_ENV),
            require_logprobs=values.get(REQUIRE_LOGPROBS),
            generate_only=values.get(GENERATE_ONLY),
        )
