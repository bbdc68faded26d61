"""Shared fixtures: repository paths and one build of the seed corpus per test session; how the
suite splits over pytest-xdist workers (README: ``-n 2 --dist loadgroup --no-loadscope-reorder``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.xdist_support import lines_from_worker, write_summary_lines

from evidence_publisher.fhirpath.fallbacks import strict_mode

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "mappings" / "lupus-msc"

# A real server (or one install of it) per run: every test using it runs in one worker.
SERVER_GROUPS = {"hapi_url": "real-hapi", "hapi_r4_url": "real-hapi", "redis_exe": "redis"}
# The longest groups (seconds on 2 cores, from --durations) go out first so that no worker is left
# with one of them at the end. Only the balance depends on this list, never a result.
LONGEST_FIRST = (
    "tests/validate/test_validate_compiled_differential.py",  # ~175 s
    "real-hapi",  # ~150 s: two HAPI JVMs start, R5 and R4
    "tests/validate/test_validate_hl7_differential.py",  # ~90 s: the HL7 validator JVM
    "tests/validate/test_validate_outcome_golden.py",  # ~55 s
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests for ``--dist loadgroup``: those of one real server together, and those of a
    module with a module-scoped fixture together (so that it is set up once, not once per worker);
    the rest are dealt out one by one. Under xdist the longest groups come first."""
    groups: dict[pytest.Item, str] = {}
    for item in items:
        names = getattr(item, "fixturenames", ())
        server = sorted({SERVER_GROUPS[n] for n in names if n in SERVER_GROUPS})
        if server:
            groups[item] = server[0]
            continue
        fixtureinfo = getattr(item, "_fixtureinfo", None)
        defs = fixtureinfo.name2fixturedefs.values() if fixtureinfo else ()
        if any(d.scope in ("module", "class") for fixturedefs in defs for d in fixturedefs):
            groups[item] = item.nodeid.split("::", 1)[0]
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):
        rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(groups.get(item, ""), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    lines_from_worker(node.config, getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    write_summary_lines(config, terminalreporter)


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
