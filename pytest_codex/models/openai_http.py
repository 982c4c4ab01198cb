"""JSON over HTTP for OpenAI-compatible servers, with the standard library only.

One function does one request and classifies what went wrong:

* retryable (HTTP 429 and 5xx, refused or reset connections, timeouts): retried with
  exponential backoff and jitter, honouring ``Retry-After``; the last failure is raised
  as :class:`ServerUnavailable`.
* the server refused the request (other 4xx): :class:`ServerRefused`, never retried, with
  the server's own message.
* an answer that is not JSON (an HTML page: a web UI or a proxy, not the API):
  :class:`NotAnAPI`.

The API key goes into the ``Authorization`` header only; no message here contains it.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class ServerError(RuntimeError):
    """Any failure talking to the server; the message is one line."""

    def __init__(
        self, message: str, *, status: int | None = None, server_message: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.retry_after = retry_after  # seconds the server asked us to wait, if it did


class ServerUnavailable(ServerError):
    """Connection errors, timeouts, 429 and 5xx, after every retry."""


class ServerRefused(ServerError):
    """A 4xx answer (other than 408/429): the request itself is wrong."""


class NotAnAPI(ServerError):
    """The URL answers, but not with JSON (an HTML page, a proxy's error page)."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5  # attempts after the first one
    backoff_s: float = 0.5  # first wait; doubles each retry, capped at MAX_BACKOFF_S
    timeout_s: float = 600.0  # per request (connect + read)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_BACKOFF_S)
        base = min(self.backoff_s * (2**attempt), MAX_BACKOFF_S)
        return base * (0.5 + random.random() / 2)


def server_message(body: bytes) -> str:
    """The error text in an answer: OpenAI's ``error.message``, FastAPI's ``detail``, or the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err
        if isinstance(err, list):  # FastAPI validation errors
            err = "; ".join(
                f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" if isinstance(e, dict) else str(e)
                for e in err
            )
        if err:
            return " ".join(str(err).split())[:300]
    return " ".join(text.split())[:300]


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _decode(url: str, body: bytes, content_type: str) -> dict:
    head = body.lstrip()[:1]
    if "html" in content_type.lower() or head == b"<":
        raise NotAnAPI(
            f"{url} answered an HTML page, not JSON: it is not an OpenAI-compatible API "
            "(give the API's base URL, usually ending in /v1)"
        )
    try:
        data = json.loads(body)
    except ValueError:
        raise NotAnAPI(
            f"{url} answered something that is not JSON ({server_message(body)[:80]!r}); "
            "give the base URL of an OpenAI-compatible API, usually ending in /v1"
        ) from None
    if not isinstance(data, dict):
        raise NotAnAPI(
            f"{url} answered JSON that is not an object; give the base URL of an "
            "OpenAI-compatible API, usually ending in /v1"
        )
    return data


def request_json(
    url: str,
    payload: dict | None = None,
    *,
    api_key: str | None = None,
    policy: RetryPolicy = RetryPolicy(),
    retry_if=None,
) -> dict:
    """GET (``payload`` None) or POST ``payload`` as JSON; return the decoded JSON object.

    ``retry_if(status, message)`` may veto retrying an error answer that is known to be
    permanent (e.g. a 500 that says the model cannot give log-probabilities).
    """
    return _with_retries(
        url,
        payload,
        api_key,
        policy,
        retry_if,
        lambda resp: _decode(url, resp.read(), resp.headers.get("Content-Type", "")),
    )


def request_events(
    url: str,
    payload: dict,
    *,
    api_key: str | None = None,
    policy: RetryPolicy = RetryPolicy(),
    retry_if=None,
    stop=None,
) -> list[dict]:
    """POST ``payload`` with ``stream: true``; the server-sent events' JSON objects, in order,
    up to ``[DONE]`` or until ``stop(events)`` is true: then the connection is closed, which
    ends the generation on servers that notice (vLLM, llama.cpp).  A server that answers
    with one JSON object instead of a stream gives a list of that one object."""

    def read(resp) -> list[dict]:
        ctype = resp.headers.get("Content-Type", "")
        if "event-stream" not in ctype:
            return [_decode(url, resp.read(), ctype)]
        events: list[dict] = []
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = _decode(url, data.encode(), "application/json")
            if "error" in event:  # an error after the stream began
                msg = server_message(data.encode())
                raise ServerUnavailable(f"{url} failed while streaming: {msg}", server_message=msg)
            events.append(event)
            if stop is not None and stop(events):
                break
        return events

    return _with_retries(url, {**payload, "stream": True}, api_key, policy, retry_if, read)


def _with_retries(url: str, payload: dict | None, api_key: str | None, policy: RetryPolicy, retry_if, read):
    headers = {"Accept": "application/json", "User-Agent": "pytest-codex"}
    data = None
    if payload is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(payload).encode()
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    last: ServerError | None = None
    for attempt in range(policy.retries + 1):
        if attempt:
            assert last is not None  # every attempt that does not return or raise sets it
            time.sleep(policy.wait(attempt - 1, last.retry_after))
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(req, timeout=policy.timeout_s) as resp:
                return read(resp)
        except urllib.error.HTTPError as exc:
            body = exc.read() or b""
            msg = server_message(body) or exc.reason
            if exc.code in RETRY_STATUSES and (retry_if is None or retry_if(exc.code, msg)):
                last = ServerUnavailable(
                    f"{url} answered HTTP {exc.code}: {msg}",
                    status=exc.code,
                    server_message=msg,
                    retry_after=_retry_after(exc.headers),
                )
                continue
            if body.lstrip()[:1] == b"<" or "html" in (exc.headers.get("Content-Type") or "").lower():
                raise NotAnAPI(
                    f"{url} answered HTTP {exc.code} with an HTML page, not JSON: it is not "
                    "an OpenAI-compatible API (give the API's base URL, usually ending in /v1)",
                    status=exc.code,
                ) from None
            cls = ServerRefused if 400 <= exc.code < 500 else ServerUnavailable
            raise cls(
                f"{url} refused the request (HTTP {exc.code}): {msg}", status=exc.code, server_message=msg
            ) from None
        except ServerUnavailable as exc:  # a stream that broke off with an error event
            if retry_if is not None and not retry_if(None, exc.server_message):
                raise
            last = exc
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            last = ServerUnavailable(f"cannot reach {url}: {reason}")
    tries = policy.retries + 1
    assert last is not None  # there was at least one attempt
    raise ServerUnavailable(
        f"{last} (after {tries} attempt{'s' if tries > 1 else ''})",
        status=last.status,
        server_message=last.server_message,
    )
