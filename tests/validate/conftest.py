"""Fixtures for the validate tests: the repo-local FHIR package cache and shared validators.

Packages live in ``<repo>/.fhir-cache`` (gitignored). On a fresh checkout the first run installs
them through the packages stage (FHIR registry or ``npm pack``); later runs are offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_publisher.jsonio import load_file

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".fhir-cache"
TARGET_TYPES = (
    "Evidence",
    "EvidenceVariable",
    "Citation",
    "PlanDefinition",
    "ActivityDefinition",
    "ArtifactAssessment",
    "Group",
    "Composition",
)


@pytest.fixture(scope="package", autouse=True)
def fhir_package_cache() -> Iterator[Path]:
    old = os.environ.get("FHIR_PACKAGE_CACHE")
    os.environ["FHIR_PACKAGE_CACHE"] = str(CACHE)
    yield CACHE
    if old is None:
        os.environ.pop("FHIR_PACKAGE_CACHE", None)
    else:
        os.environ["FHIR_PACKAGE_CACHE"] = old


@pytest.fixture(scope="package")
def package_cache(fhir_package_cache: Path):
    from evidence_publisher.packages import PackageCache

    return PackageCache(fhir_package_cache)


@pytest.fixture(scope="package")
def definitions(package_cache):
    return package_cache.definitions()


@pytest.fixture(scope="package")
def validator(definitions):
    from evidence_publisher.validate import Validator

    return Validator(definitions)


@pytest.fixture(scope="package")
def examples_dir(package_cache) -> Path:
    from evidence_publisher.packages import R5_EXAMPLES

    (pkg,) = [p for p in package_cache.ensure([R5_EXAMPLES]) if p.spec == R5_EXAMPLES]
    return pkg.path


def example_files(examples: Path, types: tuple[str, ...] = TARGET_TYPES) -> list[Path]:
    files: list[Path] = []
    for t in types:
        files.extend(sorted(examples.glob(f"{t}-*.json")))
    return files


@pytest.fixture(scope="package")
def target_examples(examples_dir: Path) -> list[tuple[str, dict]]:
    """(file name, resource) for every top-level official example of the 8 target types."""
    return [(f.name, load_file(f)) for f in example_files(examples_dir)]


def errors_of(outcome: dict) -> list[dict]:
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def rule_of(issue: dict) -> str:
    text = issue.get("diagnostics", "")
    return text[1:].split("]", 1)[0] if text.startswith("[") else ""
