"""Shared fixtures: repository paths and one build of the seed corpus per test session; how the
suite splits over pytest-xdist workers (README: ``-n 2``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.xdist_support import lines_from_worker, work_unit, work_unit_scheduling, write_summary_lines

from evidence_publisher.fhirpath.fallbacks import strict_mode

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "mappings" / "lupus-msc"

# The longest work units (seconds on 2 cores, from --durations) go out first so that no worker is
# left with one of them at the end. Only the balance depends on this list, never a result.
LONGEST_FIRST = (
    "tests/validate/test_validate_compiled_differential.py",  # ~175 s
    "tests/real_hapi",  # ~150 s: two HAPI JVMs start, R5 and R4
    "tests/validate/test_validate_hl7_differential.py",  # ~90 s: the HL7 validator JVM
    "tests/validate/test_validate_outcome_golden.py",  # ~55 s
    "tests/test_readme_commands.py",  # ~45 s
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: the longest work units first (the order the scheduler deals them out)."""
    if hasattr(config, "workerinput"):
        rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n 2``: whole work units (tests/xdist_support.py) to a worker, in collection order."""
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist is obeyed
    config.option.loadscopereorder = False  # the order above, not "most tests first"
    return work_unit_scheduling(config, log)


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
