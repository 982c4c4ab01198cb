"""The HTTP layer of the openai backend against a real scripted HTTP server on 127.0.0.1.

The server answers each request with the next scripted answer, so retries, backoff,
error messages and the classification of answers are checked on real sockets.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core.errors import ModelError
from pytest_codex.core.generation import GenParams
from pytest_codex.models.local_server import free_port
from pytest_codex.models.openai_api import OpenAIGenerator, ServerFailed
from pytest_codex.models.openai_http import (
    NotAnAPI,
    RetryPolicy,
    ServerRefused,
    ServerUnavailable,
    request_json,
    server_message,
)

FAST = RetryPolicy(retries=3, backoff_s=0.01, timeout_s=5)


class Scripted:
    """A real HTTP server: answers are (status, content type, body, headers) popped in order."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes, dict]] = []
        self.requests: list[dict] = []
        self.responder = None  # if set: request JSON -> answer JSON, instead of the script
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "json": json.loads(body) if body else None,
                    }
                )
                if outer.responder is not None:
                    answer = json.dumps(outer.responder(outer.requests[-1]["json"])).encode()
                    status, ctype, payload, headers = 200, "application/json", answer, {}
                else:
                    status, ctype, payload, headers = outer.answers.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, status: int, body, ctype: str = "application/json", **headers) -> None:
        payload = (
            json.dumps(body).encode()
            if not isinstance(body, (bytes, str))
            else (body.encode() if isinstance(body, str) else body)
        )
        self.answers.append((status, ctype, payload, headers))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    server = Scripted()
    yield server
    server.close()


def test_retries_429_and_5xx_then_succeeds(scripted):
    scripted.add(429, {"error": {"message": "slow down"}}, **{"Retry-After": "0"})
    scripted.add(503, {"error": {"message": "loading"}})
    scripted.add(200, {"ok": 1})
    assert request_json(scripted.url + "/x", {"a": 1}, policy=FAST) == {"ok": 1}
    assert len(scripted.requests) == 3
    assert all(r["method"] == "POST" and r["json"] == {"a": 1} for r in scripted.requests)


def test_gives_up_after_the_retries_naming_the_last_error(scripted):
    for _ in range(FAST.retries + 1):
        scripted.add(500, {"error": {"message": "out of memory"}})
    with pytest.raises(ServerUnavailable, match=r"HTTP 500: out of memory \(after 4 attempts\)"):
        request_json(scripted.url + "/x", {}, policy=FAST)
    assert len(scripted.requests) == FAST.retries + 1


def test_4xx_is_not_retried_and_names_the_servers_message(scripted):
    scripted.add(400, {"error": {"message": "max_tokens must be at most 2048"}})
    with pytest.raises(ServerRefused, match=r"HTTP 400\): max_tokens must be at most 2048$") as info:
        request_json(scripted.url + "/completions", {}, policy=FAST)
    assert info.value.status == 400 and len(scripted.requests) == 1


def test_fastapi_validation_errors_are_readable(scripted):
    scripted.add(422, {"detail": [{"loc": ["body", "temperature"], "msg": "Input should be a valid number"}]})
    with pytest.raises(ServerRefused, match=r"body\.temperature: Input should be a valid number"):
        request_json(scripted.url + "/completions", {}, policy=FAST)


def test_a_permanent_5xx_can_be_vetoed_from_retrying(scripted):
    scripted.add(500, {"error": {"message": "logprobs is not supported"}})
    with pytest.raises(ServerUnavailable, match="logprobs is not supported"):
        request_json(scripted.url + "/x", {}, policy=FAST, retry_if=lambda status, msg: "logprob" not in msg)
    assert len(scripted.requests) == 1


@pytest.mark.parametrize("status", [200, 404])
def test_an_html_page_is_not_an_api(scripted, status):
    scripted.add(status, "<!doctype html><html><body>Welcome</body></html>", ctype="text/html")
    with pytest.raises(NotAnAPI, match="answered .*HTML page, not JSON.*usually ending in /v1"):
        request_json(scripted.url + "/models", policy=FAST)


def test_plain_text_is_not_an_api(scripted):
    scripted.add(200, "hello", ctype="text/plain")
    with pytest.raises(NotAnAPI, match="not JSON"):
        request_json(scripted.url + "/models", policy=FAST)


def test_api_key_goes_in_the_header_only(scripted):
    scripted.add(401, {"error": {"message": "invalid key"}})
    with pytest.raises(ServerRefused) as info:
        request_json(scripted.url + "/models", api_key="sk-secret-123", policy=FAST)
    assert scripted.requests[0]["auth"] == "Bearer sk-secret-123"
    assert "sk-secret" not in str(info.value)


def test_refused_connection_is_retried_then_reported():
    url = f"http://127.0.0.1:{free_port()}/v1/models"
    with pytest.raises(ServerUnavailable, match=r"cannot reach .*refused.*\(after 4 attempts\)"):
        request_json(url, policy=FAST)


@given(st.text(max_size=400))
def test_server_message_is_always_one_bounded_line(text):
    for body in (text, json.dumps({"error": {"message": text}}), json.dumps({"detail": text})):
        msg = server_message(body.encode())
        assert "\n" not in msg and len(msg) <= 300


# -- the generator's request scheduling, against a scripted server that counts overlap ----------


class Counting:
    """Answers a completion request after ``delay`` seconds, recording the requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay, self.in_flight, self.max_in_flight = delay, 0, 0
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> dict:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return {"choices": [{"index": 0, "text": f"    return {body['seed']}\ndef more():\n"}]}


@pytest.fixture
def counting(scripted):
    scripted.responder = Counting(delay=0.1)
    return scripted


@pytest.mark.parametrize("concurrency", [1, 4])
def test_requests_overlap_up_to_the_concurrency_limit(counting, concurrency):
    gen = OpenAIGenerator("m", counting.url, concurrency=concurrency, policy=FAST)
    out = gen.generate(["def a():\n", "def b():\n"], GenParams(n=4, temperature=0.8))
    assert counting.responder.max_in_flight == concurrency
    assert [[c.index for c in comps] for comps in out] == [[0, 1, 2, 3]] * 2
    # one request per sample, each with its own seed; the stop sequence is applied here too
    seeds = [r["json"]["seed"] for r in counting.requests]
    assert len(set(seeds)) == 8 and all(r["json"]["n"] == 1 for r in counting.requests)
    assert sorted(c.text for comps in out for c in comps) == sorted(f"    return {s}" for s in seeds)
    assert all(c.raw == c.text + "\ndef more():\n" for comps in out for c in comps)


def test_greedy_asks_once_and_repeats(counting):
    gen = OpenAIGenerator("m", counting.url, policy=FAST)
    (comps,) = gen.generate(["def a():\n"], GenParams(n=3, temperature=0.0))
    assert len(counting.requests) == 1 and "top_p" not in counting.requests[0]["json"]
    assert [c.index for c in comps] == [0, 1, 2] and len({c.text for c in comps}) == 1


def test_an_answer_without_choices_is_an_error(scripted):
    scripted.add(200, {"id": "x"})
    gen = OpenAIGenerator("m", scripted.url, policy=FAST)
    with pytest.raises(ServerFailed, match="no 'choices'"):
        gen.generate(["def a():\n"], GenParams())


def test_models_list_without_the_model_names_what_it_serves(scripted):
    scripted.add(200, {"object": "list", "data": [{"id": "llama-3"}, {"id": "qwen"}]})
    gen = OpenAIGenerator("gpt-x", scripted.url, policy=FAST)
    with pytest.raises(
        ServerRefused,
        match=r"does not serve model 'gpt-x'; it serves 'llama-3', 'qwen': "
        r"use e\.g\. --model=openai:llama-3@http",
    ):
        gen.check_server()


def test_a_web_page_instead_of_the_api_is_a_one_line_model_error(scripted):
    scripted.add(200, "<html><body><h1>Welcome to nginx!</h1></body></html>", ctype="text/html")
    gen = OpenAIGenerator("m", scripted.url, policy=FAST)
    with pytest.raises(
        ModelError,
        match=rf"^--model=openai:m@{scripted.url}: {scripted.url}/models answered an "
        r"HTML page, not JSON: .*usually ending in /v1\)$",
    ):
        gen.load()


def test_a_server_that_takes_four_stop_sequences_gets_four_and_the_fifth_is_applied_here(scripted):
    scripted.add(400, {"error": {"message": "'stop' must have at most 4 items", "param": "stop"}})
    scripted.add(200, {"choices": [{"index": 0, "text": "    return 1\nprint(f())\n"}]})
    gen = OpenAIGenerator("m", scripted.url, policy=FAST)
    (row,) = gen.generate(["def f():\n"], GenParams())  # the five Codex stop sequences
    assert [len(r["json"]["stop"]) for r in scripted.requests] == [5, 4]
    assert "\nprint" not in scripted.requests[1]["json"]["stop"]
    assert row[0].text == "    return 1"


def test_a_refusal_that_is_not_about_stops_or_logprobs_is_not_retried(scripted):
    scripted.add(400, {"error": {"message": "max_tokens is too large"}})
    gen = OpenAIGenerator("m", scripted.url, policy=FAST)
    with pytest.raises(ServerFailed, match=r"openai model m@.*HTTP 400\): max_tokens is too large"):
        gen.generate(["def f():\n"], GenParams())
    assert len(scripted.requests) == 1


# -- the chat endpoint, streamed ---------------------------------------------------------------


def sse(*chunks: dict, done: bool = True) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + ("data: [DONE]\n\n" if done else "")


def delta(text: str, logprob: float | None = None, finish: str | None = None) -> dict:
    lp = {"content": [{"token": text, "logprob": logprob}]} if logprob is not None else None
    return {"choices": [{"index": 0, "delta": {"content": text}, "logprobs": lp, "finish_reason": finish}]}


CHAT_PROMPT = 'def f(x):\n    """Double x."""\n'


def test_a_streamed_chat_answer_ends_where_the_code_block_closes(scripted):
    scripted.add(
        200,
        sse(
            {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            delta("```python\ndef f(x):\n", -0.5),
            delta("    return 2 * x\n", -0.25),
            delta("```\n", -0.125),
            delta("This doubles x.", -3.0),
            delta("", None, "length"),
        ),
        ctype="text/event-stream",
    )
    gen = OpenAIGenerator("m", scripted.url, endpoint="chat", policy=FAST)
    ((c,),) = gen.generate([CHAT_PROMPT], GenParams(n=1, temperature=0.0, max_new_tokens=50))
    body = scripted.requests[0]["json"]
    assert body["stream"] is True and "stop" not in body and body["messages"][0]["role"] == "user"
    assert c.text == "    return 2 * x\n"
    assert c.raw == "```python\ndef f(x):\n    return 2 * x\n```\n"  # nothing after the block was read
    assert (c.sum_logprob, c.num_tokens) == (-0.875, 3)


def test_a_stream_that_ends_unfinished_is_refused_not_kept(scripted):
    scripted.add(200, sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}), ctype="text/event-stream")
    gen = OpenAIGenerator("m", scripted.url, endpoint="chat", policy=FAST)
    with pytest.raises(ModelError, match="ended a streamed answer without finishing it.*--interrupt_requests false"):
        gen.generate([CHAT_PROMPT], GenParams())


def test_an_error_in_the_stream_is_retried(scripted):
    scripted.add(
        200, sse(delta("```py"), {"error": {"message": "engine overloaded"}}, done=False), ctype="text/event-stream"
    )
    scripted.add(200, sse(delta("```python\n    return x + x\n```\n", -1.0, "stop")), ctype="text/event-stream")
    gen = OpenAIGenerator("m", scripted.url, endpoint="chat", policy=FAST)
    ((c,),) = gen.generate([CHAT_PROMPT], GenParams())
    assert c.text == "    return x + x\n" and len(scripted.requests) == 2


def test_a_server_that_does_not_stream_is_read_whole(scripted):
    scripted.add(
        200,
        {
            "choices": [
                {"index": 0, "message": {"content": "```python\n    return x * 2\n```"}, "finish_reason": "stop"}
            ]
        },
    )
    gen = OpenAIGenerator("m", scripted.url, endpoint="chat", policy=FAST)
    ((c,),) = gen.generate([CHAT_PROMPT], GenParams())
    assert c.text == "    return x * 2\n" and c.sum_logprob is None
