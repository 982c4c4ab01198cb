"""``openai:<model>@<base url>``: completions from an OpenAI-compatible server.

vLLM, TGI, SGLang, llama.cpp's server, llama-cpp-python, Ollama and OpenAI itself speak
this API.  Two endpoints:

* ``openai:<model>@<url>``: ``POST <url>/completions`` for base models: the problem's
  prompt as is, the stop sequences (also applied here, for servers that ignore them),
  ``n``, ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``logprobs``.
* ``openai-chat:<model>@<url>``: ``POST <url>/chat/completions`` for instruct models:
  the chat-style messages of ``pytest_codex.prompts``, the code extracted from the reply
  (``raw`` keeps the reply).

A base URL without a path gets ``/v1``.  The API key comes from an environment variable
(``--codex-api-key-env``, default ``OPENAI_API_KEY``) and is sent only in the request
header.  Requests run on a thread pool (``--codex-concurrency`` in flight).

Seeds: every request's seed derives from (seed, prompt, index of its first sample), so a
sample is the same whichever run generates it (on servers that honour ``seed``).
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import Completion, GenParams, ModelSpec
from pytest_codex.core.roles import Role
from pytest_codex.models import prompts
from pytest_codex.models.base import Generator
from pytest_codex.models.generated import GeneratedModel
from pytest_codex.models.openai_http import (
    RetryPolicy,
    ServerError,
    ServerRefused,
    request_events,
    request_json,
)
from pytest_codex.models.progress import terminal_progress
from pytest_codex.options.server import DEFAULT_KEY_ENV

if TYPE_CHECKING:
    from pytest_codex.session import CodexState


class OpenAISpecError(ModelError):
    """A ``--model=openai:...`` value or its settings are wrong (one line, with the fix)."""


def parse_target(raw: str, target: str) -> tuple[str, str]:
    """``<model>@<base url>`` -> (model, normalised base URL)."""
    example = "e.g. --model=openai:Qwen/Qwen2.5-Coder-1.5B@http://127.0.0.1:8000/v1"
    model, sep, url = target.rpartition("@")
    for scheme in ("@http://", "@https://"):  # a model name may itself contain '@'
        if scheme in target:
            model, _, rest = target.partition(scheme)
            url, sep = scheme[1:] + rest, "@"
            break
    if not sep or not model:
        raise OpenAISpecError(f"--model={raw!r}: expected <model>@<base url> after the prefix; {example}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OpenAISpecError(f"--model={raw!r}: the base URL {url!r} is not an http(s) URL; {example}")
    try:
        _ = parts.port  # urllib checks the port only when it is read
    except ValueError:
        raise OpenAISpecError(f"--model={raw!r}: the base URL {url!r} has a bad port; {example}") from None
    if parts.username or parts.password:
        shown = raw.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2])
        raise OpenAISpecError(
            f"--model={shown!r}: do not put credentials in the URL; put the key in the "
            f"environment variable named by --codex-api-key-env (default {DEFAULT_KEY_ENV})"
        )
    if parts.query or parts.fragment:
        raise OpenAISpecError(f"--model={raw!r}: the base URL {url!r} has a query or fragment; {example}")
    path = parts.path.rstrip("/") or "/v1"
    return model, urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def derive_seed(seed: int, prompt: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}\0{index}\0{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = prompts.find_stop(text, stop)
    return text if cut is None else text[:cut]


@dataclass
class _Job:
    prompt_index: int
    first: int  # index of the first sample this request produces
    count: int  # samples this request produces (n of the request)
    copies: int = 1  # greedy: one request, its answer repeated


@dataclass
class OpenAIGenerator(Generator):
    """A :class:`~pytest_codex.core.generation.Generator` backed by an OpenAI-compatible server."""

    model: str
    base_url: str
    endpoint: str = "completions"  # or "chat"
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    policy: RetryPolicy = RetryPolicy()
    samples_per_request: int = 1
    need_logprobs: bool = False
    prefix: str | None = None  # the --model prefix the user gave (default: from the endpoint)
    max_stops: int | None = None  # stop sequences sent (None: all); the answer is cut at every one
    logprobs_supported: bool | None = None  # None until a request tells

    def __post_init__(self) -> None:
        if self.endpoint not in ("completions", "chat"):
            raise OpenAISpecError(f"endpoint {self.endpoint!r}: expected 'completions' or 'chat'")

    # -- identity ------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.model}@{self.base_url}"

    def fingerprint(self) -> dict:
        """What identifies the outputs: served model name and endpoint, not the URL or key.

        The same model served again elsewhere (another port, another host) keeps its
        completions in the store; serve it under a name that identifies the weights.
        """
        fp = {
            "backend": "openai",
            "endpoint": self.endpoint,
            "model": self.model,
            "samples_per_request": self.samples_per_request,
            "prompt_style": prompts.CHAT if self.endpoint == "chat" else prompts.COMPLETION,
        }
        if self.endpoint == "chat":
            fp["chat_version"] = prompts.CHAT_VERSION
        return fp

    def describe(self) -> dict:
        """For the manifest: everything but the key."""
        return {
            **self.fingerprint(),
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            "timeout_s": self.policy.timeout_s,
            "retries": self.policy.retries,
            "logprobs": self.logprobs_supported,
        }

    # -- server checks -------------------------------------------------------------------
    def load(self) -> None:
        """Before generating (only when the store lacks samples): the server answers and
        serves the model.  A run whose samples are all in the store never contacts it."""
        try:
            self.check_server()
        except ServerError as exc:
            raise ModelError(f"--model={self.spec_value()}: {exc}") from None

    def spec_value(self) -> str:
        prefix = self.prefix or ("openai-chat" if self.endpoint == "chat" else "openai")
        return f"{prefix}:{self.where}"

    def check_server(self) -> list[Any]:
        """Fail early, with the fix, on a wrong URL, port, or model name. Returns the served ids
        (the ``id`` of each entry of the server's JSON model list, as it gives them)."""
        url = f"{self.base_url}/models"
        try:
            data = request_json(url, api_key=self.api_key, policy=self.policy)
        except ServerRefused as exc:
            if exc.status in (401, 403):
                raise ServerRefused(
                    f"{exc}; set the API key in the environment variable named by "
                    f"--codex-api-key-env (default {DEFAULT_KEY_ENV})",
                    status=exc.status,
                ) from None
            if exc.status == 404:  # some servers have no model list; requests will tell
                return []
            raise
        ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        if not ids and "data" not in data:
            raise ServerError(
                f"{url} answered JSON without a model list ('data'): is {self.base_url} "
                "the base URL of an OpenAI-compatible API?"
            )
        if ids and self.model not in ids:
            prefix = self.spec_value().partition(":")[0]
            raise ServerRefused(
                f"the server at {self.base_url} does not serve model {self.model!r}; it serves "
                f"{', '.join(map(repr, ids))}: use e.g. --model={prefix}:{ids[0]}@{self.base_url}"
            )
        return ids

    # -- generation ----------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], params: GenParams) -> list[list[Completion]]:
        out: list[list[Completion]] = [[] for _ in prompts]
        for i, comps in self.iter_generate(prompts, params):
            out[i].extend(comps)
        for comps in out:
            comps.sort(key=lambda c: c.index)
        return out

    def iter_generate(
        self, prompts: Sequence[str], params: GenParams, first_index: int = 0
    ) -> Iterator[tuple[int, list[Completion]]]:
        """Yield ``(prompt index, completions)`` as requests finish (any order).

        Samples ``first_index .. first_index + params.n - 1`` of every prompt.  On a
        failure no new request starts, the ones in flight finish, and the error is raised
        after what finished has been yielded.
        """
        jobs = list(self._jobs(len(prompts), params, first_index))
        if not jobs:
            return
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(self.concurrency, len(jobs))), thread_name_prefix="codex-openai"
        )
        try:
            pending = {pool.submit(self._run_job, prompts[j.prompt_index], j, params): j for j in jobs}
            error: BaseException | None = None
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    if fut.exception() is not None:
                        if error is None:
                            error = fut.exception()
                            for other in pending:
                                other.cancel()
                        continue
                    yield job.prompt_index, fut.result()
                pending = {f: j for f, j in pending.items() if not f.cancelled()}
            if error is not None:
                if isinstance(error, ServerError):
                    raise ServerFailed(
                        f"{error}; what finished is kept in the completion store: "
                        "fix the server and run again to resume"
                    ) from None
                raise error
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _jobs(self, n_prompts: int, params: GenParams, first_index: int) -> Iterator[_Job]:
        per = max(1, self.samples_per_request)
        for p in range(n_prompts):
            if params.temperature == 0:  # greedy: every sample is the same
                yield _Job(p, first_index, 1, copies=params.n)
                continue
            for start in range(first_index, first_index + params.n, per):
                yield _Job(p, start, min(per, first_index + params.n - start))

    def _payload(self, prompt: str, job: _Job, params: GenParams) -> dict:
        logprobs = self.logprobs_supported is not False
        body = {
            "model": self.model,
            "n": job.count,
            "temperature": params.temperature,
            "max_tokens": params.max_new_tokens,
            "seed": derive_seed(params.seed, prompt, job.first),
        }
        if params.temperature > 0:
            body["top_p"] = params.top_p
        if self.endpoint == "chat":
            body["messages"] = prompts.chat_messages(prompt)
            if logprobs:
                body.update(logprobs=True, top_logprobs=1)
        else:
            body["prompt"] = prompt
            if params.stop:  # all of them are applied to the answer anyway (cut_at_stop)
                body["stop"] = list(params.stop)[: self.max_stops]
            if logprobs:
                body["logprobs"] = 1
        return body

    def _post(self, prompt: str, job: _Job, params: GenParams) -> dict:
        url = f"{self.base_url}/{'chat/completions' if self.endpoint == 'chat' else 'completions'}"
        permanent = lambda status, msg: "logprob" not in msg.lower()  # noqa: E731
        while True:
            try:
                if self.endpoint == "chat":  # streamed, so that it can end when the code block closes
                    watch = _FenceWatch(job.count)
                    events = request_events(
                        url,
                        self._payload(prompt, job, params),
                        api_key=self.api_key,
                        policy=self.policy,
                        retry_if=permanent,
                        stop=watch,
                    )
                    if not watch.stopped and len(_finished(events)) < job.count:
                        raise ModelError(
                            f"openai model {self.where}: the server ended a streamed answer without finishing it "
                            "(llama-cpp-python cuts a stream short when another request arrives: start it with "
                            "--interrupt_requests false, or use --codex-concurrency=1)"
                        )
                    return _chat_answer(events)
                return request_json(
                    url,
                    self._payload(prompt, job, params),
                    api_key=self.api_key,
                    policy=self.policy,
                    retry_if=permanent,
                )
            except ServerError as exc:
                if not self._downgrade(exc.server_message.lower(), params):
                    raise self._explain(exc) from None

    def _downgrade(self, said: str, params: GenParams) -> bool:
        """Ask for less after a refusal the server explained: no log-probabilities, or at most
        four stop sequences (OpenAI's limit).  True if the request is worth sending again."""
        if "logprob" in said and self.logprobs_supported is not False:
            self._no_logprobs(said)
            return True
        if "stop" in said and self.max_stops is None and len(params.stop) > 4:
            self.max_stops = 4
            return True
        return False

    def _explain(self, exc: ServerError) -> ServerError:
        msg = str(exc)
        if exc.status == 404 and "model" in exc.server_message.lower():
            msg += f" (the model name is {self.model!r}; the server's /models lists what it serves)"
        return type(exc)(f"openai model {self.where}: {msg}", status=exc.status, server_message=exc.server_message)

    def _no_logprobs(self, server_said: str) -> None:
        self.logprobs_supported = False
        if self.need_logprobs:
            raise ModelError(
                f"openai model {self.where}: the server gives no log-probabilities ({server_said}); ranking "
                "by log-probability needs them: serve with log-probabilities on (llama.cpp: --logits_all "
                "true; vLLM gives them) or leave out --codex-require-logprobs"
            )

    def _run_job(self, prompt: str, job: _Job, params: GenParams) -> list[Completion]:
        data = self._post(prompt, job, params)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ServerError(
                f"openai model {self.where}: the answer has no 'choices'; is this an OpenAI-compatible API?"
            )
        if len(choices) < job.count:
            raise ModelError(
                f"openai model {self.where}: asked for n={job.count} samples, the server returned "
                f"{len(choices)}: it ignores 'n' (llama-cpp-python does); use --codex-samples-per-request=1"
            )
        choices = sorted(choices, key=lambda c: c.get("index", 0))[: job.count]
        comps = [self._completion(prompt, c, params) for c in choices]
        if job.copies > 1:
            comps = [Completion(**{**comps[0].__dict__}) for _ in range(job.copies)]
        for offset, comp in enumerate(comps):
            comp.index = job.first + offset
        return comps

    def _completion(self, prompt: str, choice: dict, params: GenParams) -> Completion:
        if self.endpoint == "chat":
            raw = (choice.get("message") or {}).get("content") or ""
            kept = raw[: prompts.closed_fence_end(raw) or len(raw)]  # up to the first code block's end
            lps = _chat_logprobs(choice.get("logprobs"), len(kept))
            text = prompts.extract_completion(prompt, kept)
        else:
            raw = choice.get("text") or ""
            text = cut_at_stop(raw, params.stop)
            lps = _completion_logprobs(choice.get("logprobs"), len(text))
        lps = [x for x in lps if isinstance(x, (int, float))]
        if self.logprobs_supported is None:
            self.logprobs_supported = bool(lps) or None
        if not lps:
            if self.need_logprobs and raw:
                self._no_logprobs("its answer has no log-probabilities")
            return Completion(text=text, raw=raw if raw != text else None)
        return Completion(
            text=text,
            raw=raw if raw != text else None,
            sum_logprob=float(sum(lps)),
            mean_logprob=float(sum(lps) / len(lps)),
            num_tokens=len(lps),
        )


def _completion_logprobs(logprobs: dict | None, kept_chars: int) -> list:
    """Token log-probabilities of the completions endpoint, for the tokens of the kept text."""
    if not isinstance(logprobs, dict):
        return []
    values = list(logprobs.get("token_logprobs") or [])
    offsets = logprobs.get("text_offset")
    if isinstance(offsets, list) and len(offsets) == len(values) and offsets:
        base = offsets[0]
        values = [v for v, off in zip(values, offsets) if off - base < kept_chars]
    return values


def _chat_logprobs(logprobs: dict | None, kept_chars: int) -> list:
    """Token log-probabilities of the chat endpoint, for the tokens that begin in the kept text."""
    out, offset = [], 0
    for entry in (logprobs or {}).get("content") or []:
        if offset >= kept_chars:
            break
        out.append(entry.get("logprob"))
        offset += len(entry.get("token") or "")
    return out


class _FenceWatch:
    """Stop predicate of a streamed chat answer: every choice has closed its first code block."""

    def __init__(self, count: int) -> None:
        self.texts: dict[int, str]  # choice index -> the text streamed so far
        self.count, self.texts, self.stopped = count, {}, False

    def __call__(self, events: list[dict]) -> bool:
        if len(events) == 1:  # a new attempt
            self.texts = {}
        for ch in events[-1].get("choices") or []:
            i = ch.get("index", 0)
            self.texts[i] = self.texts.get(i, "") + ((ch.get("delta") or {}).get("content") or "")
        self.stopped = len(self.texts) >= self.count and all(
            prompts.closed_fence_end(t) is not None for t in self.texts.values()
        )
        return self.stopped


def _finished(events: list[dict]) -> set[int]:
    """Indices of the choices that the server finished (a ``finish_reason``)."""
    return {ch.get("index", 0) for e in events for ch in e.get("choices") or [] if ch.get("finish_reason")}


def _chat_answer(events: list[dict]) -> dict:
    """The chat answer of a stream's events (or of one unstreamed answer), as ``choices``."""
    choices: dict[int, dict] = {}
    for event in events:
        for ch in event.get("choices") or []:
            i = ch.get("index", 0)
            c = choices.setdefault(i, {"index": i, "message": {"content": ""}, "logprobs": {"content": []}})
            part = ch.get("delta") or ch.get("message") or {}
            c["message"]["content"] += part.get("content") or ""
            c["logprobs"]["content"] += (ch.get("logprobs") or {}).get("content") or []
    return {"choices": [choices[i] for i in sorted(choices)]} if choices else events[-1] if events else {}


def api_key_from_env(name: str | None) -> str | None:
    return os.environ.get(name or DEFAULT_KEY_ENV) or None


class ServerFailed(ModelError):
    """Generation stopped because the server failed; what finished is kept."""


def endpoint_for(spec, prompt_style: str) -> str:
    """``openai-chat:`` is the chat endpoint; ``openai:`` follows --codex-prompt-style
    (``chat`` -> chat endpoint; ``auto``/``completion`` -> completions endpoint)."""
    if spec.kind == "openai-chat":
        if prompt_style == prompts.COMPLETION:
            raise OpenAISpecError(
                f"--model={spec.raw!r} with --codex-prompt-style=completion: the chat endpoint "
                f"always uses the chat style; use --model=openai:{spec.target} for the "
                "completions endpoint"
            )
        return "chat"
    return "chat" if prompt_style == prompts.CHAT else "completions"


def create(spec: ModelSpec, context: CodexState) -> GeneratedModel:
    """Registry factory for ``openai:`` and ``openai-chat:``: the generator behind the store."""
    model, base_url = parse_target(spec.raw, spec.target)
    so = context.options.server
    generator = OpenAIGenerator(
        model,
        base_url,
        endpoint=endpoint_for(spec, context.options.generation.prompt_style),
        api_key=api_key_from_env(so.api_key_env),
        concurrency=so.concurrency,
        policy=RetryPolicy(retries=so.retries, timeout_s=so.request_timeout),
        samples_per_request=so.samples_per_request,
        need_logprobs=so.require_logprobs,
        prefix=spec.kind,
    )
    progress = terminal_progress(context.config) if context.role is not Role.WORKER else None
    return GeneratedModel(spec, context, generator, on_progress=progress)
