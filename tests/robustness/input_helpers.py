"""Helpers for the input-robustness tests: a writable copy of the seed corpus, in-process and
bounded subprocess runs of the CLI, and the exit codes the CLI documents."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evidence_publisher import limits
from evidence_publisher.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "mappings" / "lupus-msc"
SOURCES = ROOT / "examples" / "lupus-msc" / "sources"
FHIR_CACHE = ROOT / ".fhir-cache"
# every exit code the README documents; 1 (internal error) is deliberately absent
DOCUMENTED = {0, 2, 10, 11, 12, 13, 14, 15, 20, 21, 30, 31, 32, 33, 34, 35, 40, 41, 130, 143}


def copy_corpus(dest: Path) -> Path:
    """A copy of the seed corpus whose corpus.yaml points at the real source documents."""
    shutil.copytree(CORPUS, dest)
    corpus = dest / "corpus.yaml"
    corpus.write_text(corpus.read_text().replace("../../examples/lupus-msc/sources", str(SOURCES)))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the CLI in-process; any exception other than a clean exit fails the test."""
    try:
        code = main(argv)
    finally:
        limits.reset()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_bounded(
    argv: list[str], *, memory_mb: int = 1024, seconds: int = 120, env: dict | None = None, stdin=None
) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess with an address-space limit and a timeout."""
    prelude = (
        "import resource, sys\n"
        f"lim = {memory_mb} * 1024 * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (lim, lim))\n"
        "from evidence_publisher.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude, *argv],
        capture_output=True,
        text=True,
        timeout=seconds,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


def assert_clean_failure(code: int, err: str, expected: int) -> None:
    assert code == expected, err
    assert "Traceback" not in err
