"""Lazy resolution of canonical resources across packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evidence_publisher.packages import Definitions, InstalledPackage, PackageCache

from .conftest import package_files, sd

BASE = "http://hl7.org/fhir/StructureDefinition/"
VS = "http://hl7.org/fhir/ValueSet/publication-status"
CS = "http://terminology.hl7.org/CodeSystem/statistic-type"


def _install_by_hand(root: Path, name: str, version: str, resources: dict[str, dict[str, Any]]) -> None:
    for path, data in package_files(name, version, resources=resources).items():
        target = root / f"{name}#{version}" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture
def defs(cache_root: Path) -> Definitions:
    _install_by_hand(
        cache_root,
        "fake.core",
        "5.0.0",
        {
            "StructureDefinition-Evidence.json": sd("Evidence", BASE + "Evidence", version="5.0.0"),
            "StructureDefinition-Old.json": sd("Old", "http://example.org/Old", version="1.0.0"),
            "ValueSet-publication-status.json": {
                "resourceType": "ValueSet",
                "id": "publication-status",
                "url": VS,
                "version": "5.0.0",
            },
            "CodeSystem-statistic-type.json": {
                "resourceType": "CodeSystem",
                "id": "st",
                "url": CS,
                "content": "not-present",
            },
        },
    )
    _install_by_hand(
        cache_root,
        "fake.expansions",
        "5.0.0",
        {
            "ValueSet-publication-status.json": {
                "resourceType": "ValueSet",
                "id": "publication-status",
                "url": VS,
                "version": "5.0.0",
                "expansion": {"contains": [{"code": "draft", "value": 0.050}]},
            },
            "StructureDefinition-Old2.json": sd("Old", "http://example.org/Old", version="2.0.0"),
        },
    )
    _install_by_hand(
        cache_root,
        "fake.terminology",
        "1.0.0",
        {
            "CodeSystem-statistic-type.json": {
                "resourceType": "CodeSystem",
                "id": "st",
                "url": CS,
                "content": "complete",
                "concept": [{"code": "C53319"}],
            },
        },
    )
    cache = PackageCache(cache_root, registry_url="off", use_npm=False)
    return cache.definitions(["fake.core#5.0.0", "fake.expansions#5.0.0", "fake.terminology#1.0.0"])


def test_structure_definition_by_type_name_and_url(defs: Definitions):
    assert defs.structure_definition("Evidence")["id"] == "Evidence"
    assert defs.structure_definition(BASE + "Evidence") is defs.structure_definition("Evidence")
    assert defs.structure_definition("Nope") is None


def test_by_url_prefers_earlier_packages_and_honours_versions(defs: Definitions):
    assert defs.by_url("http://example.org/Old")["version"] == "1.0.0"
    assert defs.by_url("http://example.org/Old|2.0.0")["version"] == "2.0.0"
    assert defs.by_url("http://example.org/Old", "2.0.0")["version"] == "2.0.0"
    assert defs.by_url("http://example.org/Old|3.0.0") is None
    assert defs.package_of("http://example.org/Old").name == "fake.core"


def test_value_set_prefers_the_expanded_copy_and_keeps_decimals(defs: Definitions):
    vs = defs.value_set(VS)
    assert vs["expansion"]["contains"][0]["code"] == "draft"
    assert str(vs["expansion"]["contains"][0]["value"]) == "0.05"  # a Decimal, not a float
    assert type(vs["expansion"]["contains"][0]["value"]).__name__ == "Decimal"


def test_code_system_prefers_complete_content(defs: Definitions):
    assert defs.code_system(CS)["content"] == "complete"


def test_iter_resources(defs: Definitions):
    assert sorted(r["id"] for r in defs.iter_resources("StructureDefinition")) == [
        "Evidence",
        "Old",
        "Old",
    ]


def test_files_are_parsed_lazily_and_once(defs: Definitions, monkeypatch: pytest.MonkeyPatch):
    from evidence_publisher.packages import cache as cache_module

    defs.by_url("http://example.org/none")  # reads the three .index.json files, nothing else
    loads: list[str] = []
    real = cache_module.jsonio.load_file

    def counting(path):
        loads.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(cache_module.jsonio, "load_file", counting)
    defs.structure_definition("Evidence")
    defs.structure_definition("Evidence")
    assert loads == ["StructureDefinition-Evidence.json"]


def test_installed_package_load_refuses_paths(cache_root: Path):
    _install_by_hand(cache_root, "fake.core", "5.0.0", {})
    pkg = PackageCache(cache_root).get("fake.core", "5.0.0")
    assert isinstance(pkg, InstalledPackage)
    with pytest.raises(ValueError, match="not a file name"):
        pkg.load("../../etc/passwd")
