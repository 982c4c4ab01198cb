"""The README's set-up commands and .ci/run stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup, re.S)


def test_readme_has_two_setup_commands_one_benchmark_one_tests():
    bench, tests = readme_commands()
    assert "pytest --model=" in bench and "torch==2.13.0" in bench
    assert bench.rstrip().split("&&")[-1].strip().startswith(".venv/bin/pytest --model=")
    assert tests.rstrip().endswith("pytest tests -n 2") and "torch==2.13.0" in tests


def test_ci_runs_the_readmes_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests.strip() in [line.strip() for line in ci_lines]
    assert ci_lines[-1].strip() == tests.strip()  # the test command is what decides CI's status
