"""The README's two commands: CI runs the test command; this test runs the main one from a clean clone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", text, re.S)
    assert match, marker
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = readme_command("test-command")
    ci_lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci_lines[-1] == command.replace("pip install -q", "pip install -q")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_main_command_works_in_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    command = readme_command("main-command")
    result = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (clone / "dist" / "bundle-transaction.json").is_file()
    assert len(list((clone / "dist" / "resources").glob("*.json"))) > 50


def test_site_command_makes_the_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's one command for the site, run as written (in a scratch directory)."""
    import shlex

    from evidence_publisher.cli import main

    command = readme_command("site-command")
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/evidence-publisher"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mappings").symlink_to(ROOT / "mappings")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    assert main([*argv[1:], "--no-validate"]) == 0
    assert (tmp_path / "site" / "index.html").is_file()
    assert len(list((tmp_path / "site" / "studies").glob("*.html"))) >= 3
