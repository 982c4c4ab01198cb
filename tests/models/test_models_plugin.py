"""Generating models through the plugin: real inner pytest runs with a tiny real model
(random weights from a config, ``--model=hf:<dir>``), its completion store, xdist, and the
errors a user can run into."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.core.problems import load_suite

from models_support import tiny_model
from support import descendants, survivors, terminal_signals, usage_error

pytest.importorskip("transformers")

PROBLEMS = load_suite("humaneval").problems

# Counts model loads in every process of an inner run (xdist workers included) and notes
# whether torch was ever imported there.
COUNTING_CONFTEST = """
import os, sys
from pytest_codex.models import hf

_load = hf.HFGenerator.load

def load(self):
    if self.model is None:
        with open(os.environ["CODEX_TEST_LOADS"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
    _load(self)

hf.HFGenerator.load = load

def pytest_sessionfinish(session):
    role = "worker" if hasattr(session.config, "workerinput") else "main"
    with open(os.environ["CODEX_TEST_LOADS"] + ".torch", "a") as fh:
        fh.write(f"{role} {os.getpid()} {'torch' in sys.modules}\\n")
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> str:
    return tiny_model(tmp_path_factory)


@pytest.fixture
def project(project: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    project.makeconftest(COUNTING_CONFTEST)
    monkeypatch.setenv("CODEX_TEST_LOADS", str(project.path / "loads.txt"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads only add waiting on a busy machine
    return project


def suite(pytester: pytest.Pytester, count: int) -> str:
    path = pytester.path / f"suite{count}.jsonl"
    path.write_text("".join(json.dumps(p.__dict__) + "\n" for p in PROBLEMS[:count]))
    return str(path)


def args(pytester, model: str, count: int = 3, *extra: str) -> list[str]:
    return [
        "-p",
        "no:cacheprovider",
        f"--model={model}",
        f"--codex-suite={suite(pytester, count)}",
        f"--codex-cache-dir={pytester.path / 'cache'}",
        "--codex-max-new-tokens=12",
        "--codex-dtype=float32",
        *extra,
    ]


def loads(pytester) -> list[str]:
    path = pytester.path / "loads.txt"
    return path.read_text().split() if path.exists() else []


def time_line(result, label: str) -> str:
    return next(ln for ln in result.outlines if ln.startswith(f"time {label}"))


def report(pytester, name: str = "r.json") -> dict:
    return json.loads((pytester.path / name).read_text())["runs"][0]


def test_generates_once_then_reads_the_store(project, tiny_dir):
    first = project.runpytest_subprocess(
        *args(
            project,
            f"hf:{tiny_dir}",
            3,
            "--codex-n=2",
            "--codex-temperature=0.8",
            f"--codex-report={project.path / 'r.json'}",
        )
    )
    assert first.ret in (0, 1)
    assert "6 generated, 0 from store" in time_line(first, "hf:tiny")
    assert len(loads(project)) == 1
    run = report(project)
    assert [p["n"] for p in run["problems"]] == [2, 2, 2]
    sample = run["problems"][0]["samples"][0]
    assert {"completion", "sum_logprob", "mean_logprob", "num_tokens"} <= set(sample)
    params = run["params"]
    assert params["n"] == 2 and params["temperature"] == 0.8 and params["prompt_style"] == "completion"
    assert params["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    assert params["dtype"] == "float32" and params["device"] == "cpu" and params["batch_size"] == 32
    model = run["manifest"]["model"]
    assert set(model["fingerprint"]["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert model["store"] == {
        "path": str(project.path / "cache" / "completions.sqlite"),
        "generated": 6,
        "from_store": 0,
    }
    # the same run again: everything from the store, and the model is not even loaded
    again = project.runpytest_subprocess(
        *args(
            project,
            f"hf:{tiny_dir}",
            3,
            "--codex-n=2",
            "--codex-temperature=0.8",
            f"--codex-report={project.path / 'r2.json'}",
        )
    )
    assert "0 generated, 6 from store" in time_line(again, "hf:tiny")
    assert len(loads(project)) == 1
    assert _same_samples(report(project, "r2.json"), run)
    # more samples: only the new indices are generated
    more = project.runpytest_subprocess(*args(project, f"hf:{tiny_dir}", 3, "--codex-n=3", "--codex-temperature=0.8"))
    assert "3 generated, 6 from store" in time_line(more, "hf:tiny")
    # --codex-regenerate replaces them, with the same seeds: the same completions
    regen = project.runpytest_subprocess(
        *args(
            project,
            f"hf:{tiny_dir}",
            3,
            "--codex-n=2",
            "--codex-temperature=0.8",
            "--codex-regenerate",
            f"--codex-report={project.path / 'r3.json'}",
        )
    )
    assert "6 generated, 0 from store" in time_line(regen, "hf:tiny")
    assert _same_samples(report(project, "r3.json"), run)


def _same_samples(a: dict, b: dict) -> bool:
    def texts(run):
        return [[(s["index"], s["completion"], s.get("num_tokens")) for s in p["samples"]] for p in run["problems"]]

    return texts(a) == texts(b)


def test_a_seed_changes_samples_but_not_greedy_ones(project, tiny_dir):
    out = {}
    for name, extra in {
        "s0": ("--codex-temperature=1.0",),
        "s1": ("--codex-temperature=1.0", "--codex-seed=1"),
        "g0": (),
        "g1": ("--codex-seed=1",),
    }.items():
        project.runpytest_subprocess(
            *args(project, f"hf:{tiny_dir}", 4, *extra, f"--codex-report={project.path / name}.json")
        )
        out[name] = report(project, f"{name}.json")
    assert not _same_samples(out["s0"], out["s1"])
    assert _same_samples(out["g0"], out["g1"])


def test_xdist_loads_the_model_once_and_workers_never_import_torch(project, tiny_dir):
    single = project.runpytest_subprocess(
        *args(
            project,
            f"hf:{tiny_dir}",
            4,
            "--codex-temperature=0.5",
            "--codex-n=2",
            f"--codex-cache-dir={project.path / 'c1'}",
            f"--codex-report={project.path / 'single.json'}",
        )
    )
    assert single.ret in (0, 1)
    (project.path / "loads.txt").unlink()
    (project.path / "loads.txt.torch").unlink()
    dist = project.runpytest_subprocess(
        *args(
            project,
            f"hf:{tiny_dir}",
            4,
            "--codex-temperature=0.5",
            "--codex-n=2",
            f"--codex-cache-dir={project.path / 'c2'}",
            "-n",
            "2",
            f"--codex-report={project.path / 'dist.json'}",
        )
    )
    assert dist.ret in (0, 1)
    assert "8 generated, 0 from store" in time_line(dist, "hf:tiny")
    (loader,) = loads(project)  # one load in the whole run ...
    seen = [line.split() for line in (project.path / "loads.txt.torch").read_text().splitlines()]
    assert sorted(role for role, _, _ in seen) == ["main", "worker", "worker"]
    main_pid = next(pid for role, pid, _ in seen if role == "main")
    assert loader == main_pid  # ... in the controller
    assert all(torch == "False" for role, _, torch in seen if role == "worker")
    assert _same_samples(report(project, "dist.json"), report(project, "single.json"))


def wait_until_stored(proc: subprocess.Popen, store: Path, count: int, timeout: float = 240) -> None:
    """Wait until the run ``proc`` has stored ``count`` samples (or has ended, or ``timeout``)."""
    deadline = time.time() + timeout
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if store.exists():
            try:
                with sqlite3.connect(store) as db:
                    stored = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
        if stored >= count:
            return
        time.sleep(0.02)


def slow_generation(project, tiny_dir: str, count: int, n: int) -> tuple[list[str], Path]:
    """Arguments of a run that generates ``n`` samples for ``count`` problems one at a time
    (slow enough to be interrupted midway), and the path of its completion store."""
    common = args(
        project,
        f"hf:{tiny_dir}",
        count,
        f"--codex-n={n}",
        "--codex-temperature=0.9",
        "--codex-batch-size=1",
        "--codex-max-new-tokens=64",
    )
    return common, project.path / "cache" / "completions.sqlite"


def test_sigkill_during_generation_loses_nothing_that_finished(project, tiny_dir):
    """Kill a real pytest run with SIGKILL in the middle of generation; the rerun generates
    only the missing samples, and the results equal an uninterrupted run's."""
    count, n = 6, 4
    common, store = slow_generation(project, tiny_dir, count, n)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *common],
        cwd=project.path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_stored(proc, store, 3)
        assert proc.poll() is None, "generation finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(store) as db:
        kept = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert 3 <= kept < count * n
    resumed = project.runpytest_subprocess(*common, f"--codex-report={project.path / 'resumed.json'}")
    assert f"{count * n - kept} generated, {kept} from store" in time_line(resumed, "hf:tiny")
    fresh = project.runpytest_subprocess(
        *common, f"--codex-cache-dir={project.path / 'fresh'}", f"--codex-report={project.path / 'fresh.json'}"
    )
    assert f"{count * n} generated, 0 from store" in time_line(fresh, "hf:tiny")
    assert _same_samples(report(project, "resumed.json"), report(project, "fresh.json"))


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_during_generation_keeps_what_was_generated(project, tiny_dir, workers):
    """SIGINT to the process group of a real run in the middle of generation: pytest's exit
    status for an interrupt, no results file, no process left; the store keeps every sample
    that finished, and the rerun generates only the missing ones."""
    count, n = 6, 4
    common, store = slow_generation(project, tiny_dir, count, n)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *common, "-n", workers, "--codex-report=r.json"],
        cwd=project.path,
        start_new_session=True,
        preexec_fn=terminal_signals,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_stored(proc, store, 3)
        assert proc.poll() is None, "generation finished before it could be interrupted"
        tree = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out and not (project.path / "r.json").exists()
    assert survivors(tree) == []
    with sqlite3.connect(store) as db:
        kept = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert 3 <= kept < count * n
    resumed = project.runpytest_subprocess(*common, "-n", workers, f"--codex-report={project.path / 'r.json'}")
    assert f"{count * n - kept} generated, {kept} from store" in time_line(resumed, "hf:tiny")
    assert report(project)["coverage"]["complete"] is True


def test_compare_names_the_settings_that_change_completions(project, tiny_dir):
    """float32 is the CPU default; bfloat16 is opt-in and said in the header; --codex-compare
    says, before the comparison, that the two runs differ in dtype and batch size."""
    first = project.runpytest_subprocess(
        *args(project, f"hf:{tiny_dir}", 2, "--codex-dtype=auto", "--codex-batch-size=1", "--codex-save")
    )
    assert first.ret in (0, 1)
    stored = json.loads(next((project.path / ".codex" / "runs").glob("0001_*.json")).read_text())
    assert stored["runs"][0]["params"]["dtype"] == "float32"  # auto on a CPU
    assert "bfloat16 on CPU" not in first.stdout.str()
    second = project.runpytest_subprocess(
        *args(project, f"hf:{tiny_dir}", 2, "--codex-batch-size=2", "--codex-compare=latest"),
        "--codex-dtype=bfloat16",
    )
    assert second.ret in (0, 1)
    out = second.stdout.str()
    assert "codex: hf:tiny: bfloat16 on CPU (opted in with --codex-dtype)" in out
    note = next(ln for ln in second.outlines if "the runs differ in what changes completions" in ln)
    assert "batch_size 2 vs 1" in note and "dtype bfloat16 vs float32" in note
    assert out.index(note) < out.index("pass@1 ", out.index("compared with run 0001"))


def test_progress_line_and_quiet(project, tiny_dir):
    loud = project.runpytest_subprocess(*args(project, f"hf:{tiny_dir}", 2))
    line = next(ln for ln in loud.outlines if ln.startswith("codex: generating hf:tiny"))
    assert "2/2 samples" in loud.stdout.str() and "tok/s" in loud.stdout.str()
    assert line
    quiet = project.runpytest_subprocess(*args(project, f"hf:{tiny_dir}", 2, "--codex-regenerate", "-q"))
    assert "codex: generating" not in quiet.stdout.str()


def test_chat_style_keeps_the_reply_and_records_the_template(project, tmp_path_factory):
    chat_dir = tiny_model(tmp_path_factory, chat=True)
    result = project.runpytest_subprocess(
        *args(project, f"hf:{chat_dir}", 2, f"--codex-report={project.path / 'r.json'}")
    )
    assert result.ret in (0, 1)
    run = report(project)
    assert run["params"]["prompt_style"] == "chat" and run["params"]["stop"] == []
    assert run["manifest"]["model"]["resolved"]["chat_template_sha256"]
    for problem in run["problems"]:
        for s in problem["samples"]:
            assert "raw" in s or s["completion"] == ""
    forced = project.runpytest_subprocess(
        *args(
            project, f"hf:{chat_dir}", 2, "--codex-prompt-style=completion", f"--codex-report={project.path / 'c.json'}"
        )
    )
    assert "2 generated, 0 from store" in time_line(forced, "hf:tiny")  # another style, other samples
    assert report(project, "c.json")["params"]["prompt_style"] == "completion"


# -- bad input: one line, naming the value and the fix, exit status 4 -----------------------------
def test_unknown_model(project):
    line = usage_error(project.runpytest("--model=nosuch"))
    assert "'nosuch' is not a known model" in line and "smollm2" in line and "hf:..." in line


def test_hub_id_while_offline(project, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    line = usage_error(project.runpytest_subprocess(*args(project, "hf:HuggingFaceTB/SmolLM2-135M")))
    assert "not in the Hugging Face cache" in line and "HF_HUB_OFFLINE" in line and "hf download" in line


def test_missing_or_bad_local_paths(project, tmp_path, tiny_dir):
    line = usage_error(project.runpytest(*args(project, f"gguf:{tmp_path}/missing.gguf")))
    assert "does not exist" in line and "missing.gguf" in line
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 this is a zip, not a GGUF")
    line = usage_error(project.runpytest(*args(project, f"gguf:{junk}")))
    assert "is not a GGUF file" in line and "b'PK" in line
    line = usage_error(project.runpytest(*args(project, f"hf:{junk}")))
    assert "is a file" in line
    line = usage_error(project.runpytest(*args(project, f"hf:{tmp_path}")))
    assert "has no config.json" in line
    line = usage_error(project.runpytest(*args(project, f"hf:{tmp_path}/nope")))
    assert "no such directory" in line


def test_cuda_without_a_gpu(project, tiny_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = usage_error(project.runpytest(*args(project, f"hf:{tiny_dir}", 1, "--codex-device=cuda")))
    assert "--codex-device=cuda: no CUDA GPU is available" in line and "--codex-device=cpu" in line
    line = usage_error(project.runpytest(*args(project, f"hf:{tiny_dir}", 1, "--codex-device=tpu")))
    assert "unknown device" in line


def test_a_dtype_the_device_cannot_run():
    import torch

    from pytest_codex.core.errors import ModelError
    from pytest_codex.models.hf import probe_dtype

    for dtype in ("float32", "bfloat16", "float16"):
        probe_dtype("cpu", dtype)  # torch computes all three on a CPU
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(
        ModelError,
        match=r"--codex-dtype=bfloat16: the device cuda cannot compute in bfloat16.*"
        r"--codex-dtype=float32",
    ):
        probe_dtype("cuda", "bfloat16")


def test_damaged_store_and_chat_style_without_template(project, tiny_dir):
    cache = project.path / "cache"
    cache.mkdir()
    (cache / "completions.sqlite").write_bytes(b"garbage" * 1000)
    line = usage_error(project.runpytest(*args(project, f"hf:{tiny_dir}", 1)))
    assert "damaged or not an SQLite database" in line and "--codex-cache-dir" in line
    (cache / "completions.sqlite").unlink()
    line = usage_error(project.runpytest(*args(project, f"hf:{tiny_dir}", 1, "--codex-prompt-style=chat")))
    assert "has no chat template" in line and "--codex-prompt-style=completion" in line


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--codex-n", "0", "must be at least 1"),
        ("--codex-temperature", "-1", "must be between 0 and 100"),
        ("--codex-top-p", "0", "must be in (0, 1]"),
        ("--codex-max-new-tokens", "x", "not an integer"),
        ("--codex-batch-size", "0", "must be at least 1"),
        ("--codex-dtype", "int8", "unknown value"),
        ("--codex-prompt-style", "fim", "unknown value"),
    ],
)
def test_bad_generation_options(project, option, value, message):
    line = usage_error(project.runpytest("--model=reference", f"{option}={value}"))
    assert f"{option}={value!r}" in line and message in line
