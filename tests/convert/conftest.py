"""Fixtures for the R4B conversion tests: the golden R5 build and the R5 and R4B definitions
(from the repo-local package cache of the validate tests; installed on first use)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.packages import PackageCache, PackageSpec

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "lupus-msc"
CACHE = REPO / ".fhir-cache"


@pytest.fixture(scope="package")
def golden_r5() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(GOLDEN.glob("*.json"))]


@pytest.fixture(scope="package")
def package_cache(tmp_path_factory: pytest.TempPathFactory) -> PackageCache:
    return PackageCache(CACHE)


@pytest.fixture(scope="package")
def r5_definitions(package_cache: PackageCache):
    return package_cache.definitions([PackageSpec(*FHIR_VERSIONS["R5"].core)])


@pytest.fixture(scope="package")
def r4b_definitions(package_cache: PackageCache):
    return package_cache.definitions([PackageSpec(*FHIR_VERSIONS["R4B"].core)])
