"""``--model=openai:...`` end to end: real inner pytest runs against a real llama-cpp-python server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import usage_error

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'pytest-codex[server]'")

from pytest_codex.models.local_server import LlamaServer, free_port

TWO = "HumanEval/0] or HumanEval/2]"
FOUR = "HumanEval/0] or HumanEval/2] or HumanEval/4] or HumanEval/7]"
SECRET = "sk-test-do-not-write-me"


@pytest.fixture(scope="module")
def llama():
    with LlamaServer() as server:
        yield server


@pytest.fixture
def project(project: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    monkeypatch.setenv("CODEX_TEST_KEY", SECRET)
    return project


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess(
        "--codex-max-new-tokens=24",
        "--codex-retries=1",
        "--codex-api-key-env=CODEX_TEST_KEY",
        "-p",
        "no:cacheprovider",
        *args,
    )


def generated(result: pytest.RunResult, label: str) -> tuple[int, int]:
    line = next(ln for ln in result.outlines if ln.startswith(f"time {label}:"))
    gen, store = line.split("(")[1].split(")")[0].split(", ")
    return int(gen.split()[0]), int(store.split()[0])


def samples(report: Path) -> dict:
    return {
        (r["label"], p["task_id"]): [(s["completion"], s["verdict"]) for s in p["samples"]]
        for r in json.loads(report.read_text())["runs"]
        for p in r["problems"]
    }


def test_both_endpoints_end_to_end_then_an_xdist_run_from_the_store(project, llama, tmp_path):
    store = tmp_path / "store"
    models = [f"--model={llama.model_arg()}", f"--model={llama.model_arg('openai-chat')}"]
    first = run(project, *models, "-k", TWO, f"--codex-cache-dir={store}", f"--codex-report={tmp_path / 'a.json'}")
    assert first.ret in (0, 1), first.stdout.str()
    assert generated(first, "openai:smollm2") == (2, 0) and generated(first, "openai-chat:smollm2") == (2, 0)
    doc = json.loads((tmp_path / "a.json").read_text())
    base, chat = doc["runs"]
    # the completions endpoint gives token log-probabilities; the chat run keeps the raw reply
    assert all(
        s["num_tokens"] >= 1 and s["sum_logprob"] <= 0
        for p in base["problems"]
        for s in p["samples"]
        if s["completion"]
    )
    assert all("raw" in s for p in chat["problems"] for s in p["samples"])
    assert base["manifest"]["model"]["base_url"] == llama.base_url
    assert base["manifest"]["model"]["fingerprint"] == {
        "backend": "openai",
        "endpoint": "completions",
        "model": "smollm2",
        "samples_per_request": 1,
        "prompt_style": "completion",
    }
    # the key is sent but written nowhere
    for path in [tmp_path / "a.json", *store.iterdir()]:
        assert SECRET.encode() not in path.read_bytes(), path

    # the xdist twin: workers read the store; nothing is generated again; same samples, same verdicts
    second = run(
        project, *models, "-k", TWO, "-n", "2", f"--codex-cache-dir={store}", f"--codex-report={tmp_path / 'b.json'}"
    )
    assert generated(second, "openai:smollm2") == (0, 2) and generated(second, "openai-chat:smollm2") == (0, 2)
    assert samples(tmp_path / "b.json") == samples(tmp_path / "a.json")


def _stored(store: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{store / 'completions.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_a_server_that_dies_mid_run_then_a_rerun_resumes_from_the_store(project, tmp_path):
    store = tmp_path / "store"
    server = LlamaServer().start()
    args = [
        "--codex-max-new-tokens=24",
        "--codex-retries=1",
        "--codex-concurrency=1",
        "-k",
        FOUR,
        f"--codex-cache-dir={store}",
        "-p",
        "no:cacheprovider",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--model={server.model_arg()}", *args],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _stored(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # mid-run: at least one sample stored, requests in flight or queued
        out, _ = proc.communicate(timeout=120)
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    kept = _stored(store)
    assert proc.returncode == 4, out
    assert "ERROR: openai model smollm2@" in out and "what finished is kept in the completion store" in out
    assert "INTERNALERROR" not in out and 1 <= kept < 4, out

    # the same model served again, on another port: only the missing samples are generated
    with LlamaServer() as again:
        result = run(project, f"--model={again.model_arg()}", "-k", FOUR, f"--codex-cache-dir={store}")
    assert generated(result, "openai:smollm2") == (4 - kept, kept)
    assert _stored(store) == 4


def test_generate_on_two_machines_merge_the_stores_then_execute_elsewhere_with_no_server(project, llama, tmp_path):
    for shard, select in (("a", "HumanEval/0]"), ("b", "HumanEval/2]")):
        result = run(
            project,
            f"--model={llama.model_arg()}",
            "-k",
            select,
            "--codex-generate-only",
            f"--codex-cache-dir={tmp_path / shard}",
        )
        assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
        result.stdout.fnmatch_lines(
            [
                "codex: --codex-generate-only: openai:smollm2: 1 generated, 0 already in the "
                f"store * store: {tmp_path / shard}"
            ]
        )
    merged = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_codex",
            "merge-stores",
            str(tmp_path / "merged"),
            str(tmp_path / "a"),
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    assert merged.returncode == 0 and "2 samples added" in merged.stdout, merged.stderr
    # the executing run needs no server when the store has every sample: point at a dead port
    dead = f"--model=openai:smollm2@http://127.0.0.1:{free_port()}/v1"
    result = run(project, dead, "-k", TWO, "--tx", "2*popen", "--dist=load", f"--codex-cache-dir={tmp_path / 'merged'}")
    assert result.ret in (0, 1) and generated(result, "openai:smollm2") == (0, 2), result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2


@pytest.mark.parametrize(
    "model, message",
    [
        (
            "openai:gpt-4@{url}",
            "ERROR: --model=openai:gpt-4@{url}: the server at {url} does not serve model 'gpt-4'; "
            "it serves 'smollm2': use e.g. --model=openai:smollm2@{url}",
        ),
        (
            "openai:smollm2@http://127.0.0.1:{port}/v1",
            "ERROR: --model=openai:smollm2@http://127.0.0.1:{port}/v1: cannot reach http://127.0.0.1:{port}/v1/models: "
            "*refused (after 2 attempts)",
        ),
        (
            "openai:smollm2@127.0.0.1:8000",
            "ERROR: --model='openai:smollm2@127.0.0.1:8000': the base URL "
            "'127.0.0.1:8000' is not an http(s) URL; e.g. *",
        ),
    ],
)
def test_bad_servers_and_urls_are_one_line_usage_errors(project, llama, tmp_path, model, message):
    port = free_port()
    fill = {"url": llama.base_url, "port": port}
    result = run(project, f"--model={model.format(**fill)}", "-k", TWO, f"--codex-cache-dir={tmp_path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message.format(**fill)])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    "option, value",
    [
        ("--codex-concurrency", "0"),
        ("--codex-retries", "-1"),
        ("--codex-request-timeout", "0"),
        ("--codex-samples-per-request", "x"),
        ("--codex-api-key-env", "sk-abc 123"),
    ],
)
def test_bad_server_options(project, option, value):
    line = usage_error(project.runpytest_subprocess("--model=reference", f"{option}={value}"))
    assert f"{option}={value!r}: " in line
