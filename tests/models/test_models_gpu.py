"""The GPU path of the transformers backend, as far as a machine without a GPU can test it:
the decisions (batch size from memory, device map, attention) as pure functions with
made-up numbers, and the order of a real run: the sandbox's fork server starts before torch
is imported (so before CUDA could be initialised), torch never reaches the fork server, and
the xdist workers never import torch."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codex.core.problems import load_suite
from pytest_codex.models.gpu import (
    CODEX_ATTENTION,
    GIB,
    MAX_AUTO_BATCH,
    RESERVE_BYTES,
    RESERVE_FRACTION,
    KVShape,
    auto_batch_size,
    choose_attention,
    device_map_for,
    gpu_layer_shares,
    row_bytes,
    safetensors_parameters,
    weight_bytes,
)

from models_support import tiny_model


class Config:  # the attribute names of a transformers config, shaped like Qwen2.5-Coder-1.5B
    num_hidden_layers = 28
    num_attention_heads = 12
    num_key_value_heads = 2
    hidden_size = 1536
    vocab_size = 151936


QWEN_KV_BF16 = 2 * 28 * 2 * 128 * 2  # keys and values x layers x kv heads x head dim x 2 bytes = 28,672


def test_kv_cache_per_token_from_a_config():
    assert KVShape.of(Config(), 2).bytes_per_token == QWEN_KV_BF16 == 28_672
    mha = type("MHA", (), {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64})()
    assert KVShape.of(mha, 4) == KVShape(layers=2, kv_heads=4, head_dim=16, dtype_bytes=4)  # no kv heads: MHA
    explicit = type("C", (Config,), {"head_dim": 64})()
    assert KVShape.of(explicit, 2).head_dim == 64  # head_dim given apart from hidden/heads (Gemma, Qwen3)


def test_batch_size_from_free_memory_worked_example():
    # 10 GiB free after loading; usable: 10 GiB x 0.9 - 1 GiB = 8 GiB = 8,589,934,592 bytes.
    # A row: 28,672 B/token x (640 prompt + 256 new + 128 slab room) tokens x 1.1 = 32,296,140.8
    # plus 49,152 logits x 40 B = 1,966,080 -> 34,262,220 B; 8,589,934,592 // 34,262,220 = 250.
    assert RESERVE_FRACTION == 0.10 and RESERVE_BYTES == GIB  # the constants this example uses
    assert row_bytes(kv_bytes_per_token=QWEN_KV_BF16, tokens_per_sequence=896, vocab_size=49152) == 34_262_220
    kw = dict(kv_bytes_per_token=QWEN_KV_BF16, tokens_per_sequence=896, vocab_size=49152)
    assert auto_batch_size(free_bytes=[10 * GIB], **kw) == 250
    assert auto_batch_size(free_bytes=[139 * GIB], **kw) == MAX_AUTO_BATCH  # an H200: the cap
    assert auto_batch_size(free_bytes=[139 * GIB], cap=4096, **kw) == 3889  # 124.1 GiB // 34,262,220 B
    assert auto_batch_size(free_bytes=[GIB // 2], **kw) == 1  # nothing fits: one row, and the OOM says why
    # two GPUs with half the layers each: each holds half of a row's cache
    assert (
        auto_batch_size(free_bytes=[10 * GIB, 10 * GIB], layer_shares=[0.5, 0.5], **kw) == 474
    )  # rows of 18,114,150 B
    # the GPU with least room decides
    assert auto_batch_size(free_bytes=[10 * GIB, 5 * GIB], layer_shares=[0.5, 0.5], **kw) == 207
    with pytest.raises(ValueError, match="one layer share per GPU"):
        auto_batch_size(free_bytes=[GIB], layer_shares=[0.5, 0.5], **kw)


@given(
    free=st.integers(0, 200 * GIB),
    kv=st.integers(1024, 2 << 20),
    tokens=st.integers(1, 32768),
    vocab=st.integers(1000, 260_000),
)
def test_the_chosen_batch_fits_and_one_more_row_would_not(free, kv, tokens, vocab):
    batch = auto_batch_size(free_bytes=[free], kv_bytes_per_token=kv, tokens_per_sequence=tokens, vocab_size=vocab)
    usable = free * (1 - RESERVE_FRACTION) - RESERVE_BYTES
    per_row = row_bytes(kv_bytes_per_token=kv, tokens_per_sequence=tokens, vocab_size=vocab)
    assert 1 <= batch <= MAX_AUTO_BATCH
    assert batch == 1 or batch * per_row <= usable
    assert batch == MAX_AUTO_BATCH or (batch + 1) * per_row > usable
    longer = auto_batch_size(
        free_bytes=[free], kv_bytes_per_token=kv, tokens_per_sequence=tokens + 512, vocab_size=vocab
    )
    more = auto_batch_size(free_bytes=[free + GIB], kv_bytes_per_token=kv, tokens_per_sequence=tokens, vocab_size=vocab)
    assert longer <= batch <= more


def test_device_map():
    assert device_map_for("cpu", [], 10 * GIB) is None
    assert device_map_for("cuda:1", [80 * GIB, 80 * GIB], 100 * GIB) == {"": "cuda:1"}  # asked for: kept
    assert device_map_for("cuda", [139 * GIB], 3 * GIB) == {"": "cuda:0"}
    assert device_map_for("cuda", [139 * GIB], 200 * GIB) == {"": "cuda:0"}  # one GPU: nowhere to spread
    assert device_map_for("cuda", [40 * GIB, 79 * GIB], 3 * GIB) == {"": "cuda:1"}  # the emptier GPU
    assert device_map_for("cuda", [79 * GIB, 79 * GIB], 30 * GIB) == {"": "cuda:0"}
    assert device_map_for("cuda", [79 * GIB, 79 * GIB], 45 * GIB) == "auto"  # > half a GPU: spread, room for the cache
    assert device_map_for("cuda", [79 * GIB] * 4, 140 * GIB) == "auto"  # a 70B model in bf16


def test_each_gpus_share_of_the_layers_from_a_device_map():
    assert gpu_layer_shares({"": 0}) == {"cuda:0": 1.0}
    assert gpu_layer_shares({"": "cuda:1"}) == {"cuda:1": 1.0}
    assert gpu_layer_shares({"": "cpu"}) == {}
    accelerate_auto = {
        "model.embed_tokens": 0,
        **{f"model.layers.{i}": 0 for i in range(10)},
        **{f"model.layers.{i}": 1 for i in range(10, 28)},
        "model.norm": 1,
        "lm_head": 1,
        "model.rotary_emb": "cuda:1",
    }
    assert gpu_layer_shares(accelerate_auto) == {"cuda:0": 10 / 28, "cuda:1": 18 / 28}
    offloaded = {"model.layers.0": 0, "model.layers.1": "cpu", "model.layers.2": "disk", "lm_head": 0}
    assert gpu_layer_shares(offloaded) == {"cuda:0": 1.0}


def test_attention_is_chosen_per_model():
    assert choose_attention("cpu", "sdpa", True) == CODEX_ATTENTION
    assert choose_attention("cpu", "sdpa", False) == "sdpa"  # a transformers that cannot register it
    assert choose_attention("cuda", "sdpa", True) == "sdpa"
    assert choose_attention("cpu", "eager", True) == "eager"  # a model without sdpa keeps its own
    assert choose_attention("cuda", "flash_attention_2", False) == "flash_attention_2"


def write_safetensors(path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    sizes = {"F32": 4, "BF16": 2, "I64": 8}
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


def test_weight_bytes_read_from_safetensors_headers(tmp_path):
    write_safetensors(tmp_path / "model-00001.safetensors", {"a": ("F32", [3, 4]), "b": ("BF16", [5])})
    write_safetensors(tmp_path / "model-00002.safetensors", {"c": ("F32", [2, 2, 2])})
    (tmp_path / "config.json").write_text("{}")
    assert safetensors_parameters(str(tmp_path / "model-00001.safetensors")) == 17
    assert weight_bytes(str(tmp_path), 2) == (17 + 8) * 2  # in bfloat16, whatever the files hold


def test_weight_bytes_of_a_real_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    path = tiny_model(tmp_path_factory)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    assert weight_bytes(path, 2) == 2 * sum(p.numel() for p in model.state_dict().values())
    assert torch  # (imported for transformers)


# -- the order of a real run ------------------------------------------------------------------
# Notes, per process, when the sandbox's fork server has started (and whether torch was
# imported by then), when torch is imported, when the backend resolves (the first point that
# may initialise CUDA) and loads, and at the load which shared libraries the fork server has
# mapped (the libraries of this process are noted too: the negative control).
ORDER_CONFTEST = """
import os, sys
from pytest_codex.sandbox import executor
from pytest_codex.models import hf

LOG = os.environ["CODEX_TEST_ORDER"]
SERVERS = []

def note(event):
    with open(LOG, "a") as fh:
        fh.write(f"{os.getpid()} {event}\\n")

def torch_libs(pid):
    with open(f"/proc/{pid}/maps") as fh:
        return sorted({line.split("/")[-1].strip() for line in fh if "libtorch" in line or "libc10" in line or "libcuda" in line})

class SeeTorch:  # a finder asked first: sees every import of torch, however it is made
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" and "torch" not in sys.modules:
            note("import-torch")
        return None

sys.meta_path.insert(0, SeeTorch)

_init = executor.SandboxExecutor.__init__
def init(self, *a, **kw):
    _init(self, *a, **kw)
    SERVERS.append(self._proc.pid)
    note(f"forkserver {self._proc.pid} torch-imported={'torch' in sys.modules}")
executor.SandboxExecutor.__init__ = init

_resolve = hf.HFGenerator.resolve
def resolve(self):
    note("resolve")
    return _resolve(self)
hf.HFGenerator.resolve = resolve

_load = hf.HFGenerator.load
def load(self):
    if self.model is None:
        _load(self)
        import torch
        note(f"load cuda-initialised={torch.cuda.is_initialized()} own-libs={len(torch_libs(os.getpid()))}")
        for pid in SERVERS:
            note(f"forkserver-libs {pid} {','.join(torch_libs(pid)) or '-'}")
hf.HFGenerator.load = load

def pytest_sessionfinish(session):
    role = "worker" if hasattr(session.config, "workerinput") else "main"
    note(f"finish {role} torch-imported={'torch' in sys.modules}")
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> str:
    """Built (torch and transformers imported) before pytester snapshots ``sys.modules``."""
    pytest.importorskip("transformers")
    return tiny_model(tmp_path_factory)


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "n2"])
def test_fork_servers_start_before_torch_and_cuda_and_workers_never_import_torch(project, tiny_dir, monkeypatch, xdist):
    path = tiny_dir
    project.makeconftest(ORDER_CONFTEST)
    log = project.path / "order.txt"
    monkeypatch.setenv("CODEX_TEST_ORDER", str(log))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    suite = project.path / "suite.jsonl"
    suite.write_text("".join(json.dumps(p.__dict__) + "\n" for p in load_suite("humaneval").problems[:4]))
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--model=hf:{path}",
        f"--codex-suite={suite}",
        f"--codex-cache-dir={project.path / 'cache'}",
        "--codex-max-new-tokens=8",
        "--codex-n=2",
        "--codex-temperature=0.5",
        *(["-n", "2"] if xdist else []),
    )
    assert result.ret in (0, 1), result.stdout.str()
    events: dict[int, list[str]] = {}
    for line in log.read_text().splitlines():
        pid, _, event = line.partition(" ")
        events.setdefault(int(pid), []).append(event)
    (main,) = [pid for pid, ev in events.items() if "finish main torch-imported=True" in ev]
    ev = events[main]
    kinds = [e.split()[0] for e in ev]
    assert kinds.count("load") == 1 and kinds.count("import-torch") == 1
    assert kinds.index("import-torch") < kinds.index("resolve") < kinds.index("load")
    load = next(e for e in ev if e.startswith("load "))
    assert "own-libs=0" not in load  # negative control: torch's libraries are seen where they are
    workers = [pid for pid, e in events.items() if pid != main]
    if xdist:
        assert "forkserver" not in kinds  # the controller executes nothing
        assert len(workers) == 2
        for pid in workers:
            assert events[pid][0].endswith("torch-imported=False") and events[pid][0].startswith("forkserver")
            assert events[pid][-1] == "finish worker torch-imported=False"
            assert "import-torch" not in [e.split()[0] for e in events[pid]]
    else:
        assert workers == []
        assert kinds[0] == "forkserver" and ev[0].endswith("torch-imported=False")  # before torch, so before CUDA
        server = int(ev[0].split()[1])
        assert f"forkserver-libs {server} -" in ev  # torch never reached the fork server
    assert os.path.exists(log)


# -- benchmarks/gpu_check.py ------------------------------------------------------------------
GPU_CHECK = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "gpu_check.py")


def gpu_check_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", GPU_CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules["gpu_check"])
    return sys.modules["gpu_check"]


def test_the_hardware_limit_formula_worked_example():
    gc = gpu_check_module()
    shape = dict(matmul_params=100, weight_bytes_per_step=1000, kv_bytes_per_token=10, layers=1, heads=1, head_dim=1)
    peaks = gc.Peaks(hbm_bytes_per_s=1000.0, flops_per_s=1000.0)
    # prompt (2 tokens): 2 x 2 x 100 flops = 0.4 s; step 1: 2 tokens in the cache: bytes 1000 + 20 -> 1.02 s
    # (flops 200 + 4 x 2 = 0.208 s); step 2: 3 tokens: 1.03 s
    assert gc.limit_seconds(shape, [2], 1, 2, 1, peaks) == pytest.approx(0.4 + 1.02 + 1.03)
    # two samples of the prompt in one batch: the weights are read once per step for both rows
    assert gc.limit_seconds(shape, [2], 2, 2, 2, peaks) == pytest.approx(0.4 + 1.04 + 1.06)
    fast_memory = gc.Peaks(hbm_bytes_per_s=1e9, flops_per_s=1000.0)  # now compute-bound
    assert gc.limit_seconds(shape, [2], 1, 1, 1, fast_memory) == pytest.approx(0.4 + 0.208)
    assert gc.peaks_for("NVIDIA H200", None, None)[0] == gc.Peaks(4.8e12, 989e12)
    assert gc.peaks_for("cpu", None, None)[0] is None


def test_gpu_check_runs_tiny_on_the_cpu(tmp_path):
    """``benchmarks/gpu_check.py --tiny``: the same script as on a GPU, with a tiny model on the
    CPU: every contender generates exactly the work asked for, the ratios and the fraction of
    the (given) limit are printed, and the product runs end to end under xdist."""
    pytest.importorskip("transformers")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, GPU_CHECK, "--tiny", "--hbm-tbps=0.02", "--bf16-tflops=0.2", f"--work={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "workload: 3 HumanEval prompts x n = 2" in out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["static"], ["cb"], ["codex"])
    }
    assert set(rows) == {"static", "cb", "codex"} and not any("FAILED:" in r for r in rows.values())
    assert {r[1] for r in rows.values()} == {str(3 * 2 * 12)}  # every sample ran to the budget, in every contender
    assert "attention pytest_codex_sdpa" in " ".join(rows["codex"])
    assert re.search(r"hardware limit at the codex batch of 32 rows: [\d,]+ tokens/s", out)
    assert re.search(r"ratio codex / static generate: [\d.]+x", out)
    assert re.search(r"ratio codex / transformers continuous batching: [\d.]+x", out)
    assert re.search(r"wall [\d.]+ s = load [\d.]+ s \+ generate [\d.]+ s \+ execute [\d.]+ s", out)
    assert "6 samples, 3 problems" in out
