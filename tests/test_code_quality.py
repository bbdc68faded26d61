"""The code checks CI relies on, run inside the test suite so that ``.ci/run`` (the README's test
command) fails on a finding: ruff's lint rules, ruff's formatting, and mypy (strict on ``src/``;
configuration in pyproject.toml).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["src", "tests", "bench"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *CHECKED],
        ["ruff", "format", "--check", *CHECKED],
        ["mypy"],  # the files and the strictness come from [tool.mypy]
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_checks_pass(command: list[str]) -> None:
    proc = subprocess.run(  # the tools of this environment, whatever is on PATH
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"{' '.join(command)} found problems:\n{proc.stdout}{proc.stderr}"
