"""Shared fixtures: repository paths and one build of the seed corpus per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "mappings" / "lupus-msc"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def built_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed corpus built once (structural checks only; validation has its own tests)."""
    from evidence_publisher.pipeline import build

    out = tmp_path_factory.mktemp("dist") / "dist"
    build([CORPUS], out_dir=out, validate=False)
    return out
