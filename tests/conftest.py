"""Shared fixtures: repository paths and one build of the seed corpus per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_publisher.fhirpath.fallbacks import strict_mode

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "mappings" / "lupus-msc"


@pytest.fixture(scope="session", autouse=True)
def fhirpath_strict() -> Iterator[None]:
    """A FHIRPath compiler bug fails the test that meets it instead of quietly going to fhirpathpy
    (evidence_publisher/fhirpath/fallbacks.py)."""
    with strict_mode():
        yield


@pytest.fixture(scope="session", autouse=True)
def build_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI's build cache goes to a directory of this test session, never the user's."""
    import os

    from evidence_publisher.build_cache import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("build-cache"))
    yield
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


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
