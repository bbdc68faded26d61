"""Helpers for the CLI robustness tests: a throwaway copy of the repository layout to build in.

Every test that could delete files runs in such a copy, never in the real checkout, so that a
regression costs a temporary directory, not the repository.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = Path("mappings") / "lupus-msc"
SOURCES = Path("examples") / "lupus-msc" / "sources"


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the mappings and sources under a fake checkout (with .git and a README), as cwd."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / MAPPINGS, repo / MAPPINGS)
    shutil.copytree(ROOT / SOURCES, repo / SOURCES)
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "README.md").write_text("precious\n")
    monkeypatch.chdir(repo)
    return repo


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> content hash), to prove nothing changed."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(
    *argv: str, cwd: Path, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """The real entry point in a child process (stdout and stderr are pipes, not a terminal)."""
    return subprocess.run(
        [sys.executable, "-c", "from evidence_publisher.cli import main_cli; main_cli()", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
