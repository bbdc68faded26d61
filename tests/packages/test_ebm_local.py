"""The generated local package of EBM extension definitions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evidence_publisher import jsonio
from evidence_publisher.packages import LOCAL_EBM_PACKAGE, PackageCache
from evidence_publisher.packages.ebm_local import EXTENSIONS, ExtensionDef, structure_definition

EBM = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"

EXPECTED = {
    "variable-definition-variable-role-code": ("code", "Evidence.variableDefinition"),
    "evidence-variable-definition": ("CodeableReference", "EvidenceVariable"),
    "variable-definition-comparator-category": ("string", "Evidence.variableDefinition"),
}


@pytest.fixture
def installed(cache_root: Path):
    cache = PackageCache(cache_root, registry_url="off", use_npm=False)
    return cache, cache.ensure([LOCAL_EBM_PACKAGE])[0]


def test_package_is_installed_like_any_other(installed):
    _, pkg = installed
    assert pkg.source == "generated"
    assert pkg.manifest["fhirVersions"] == ["5.0.0"]
    assert pkg.manifest["name"] == LOCAL_EBM_PACKAGE.name
    index = json.loads((pkg.path / ".index.json").read_text())
    assert index["index-version"] == 2
    assert {e["url"] for e in index["files"]} == {EBM + i for i in EXPECTED}
    assert all(e["derivation"] == "constraint" and e["type"] == "Extension" for e in index["files"])


@pytest.mark.parametrize("ext_id", sorted(EXPECTED))
def test_extension_definition(installed, ext_id: str):
    cache, _ = installed
    value_type, context = EXPECTED[ext_id]
    sd = cache.definitions([LOCAL_EBM_PACKAGE]).structure_definition(EBM + ext_id)
    assert sd["kind"] == "complex-type" and sd["type"] == "Extension"
    assert sd["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/Extension"
    assert sd["derivation"] == "constraint"
    assert sd["context"] == [{"type": "element", "expression": context}]
    assert sd["fhirVersion"] == "5.0.0"
    versioned = cache.definitions([LOCAL_EBM_PACKAGE]).by_url(f"{EBM}{ext_id}|{LOCAL_EBM_PACKAGE.version}")
    assert versioned is sd
    snap = {e["id"]: e for e in sd["snapshot"]["element"]}
    assert list(snap) == [
        "Extension",
        "Extension.id",
        "Extension.extension",
        "Extension.url",
        "Extension.value[x]",
    ]
    assert (snap["Extension"]["min"], snap["Extension"]["max"]) == (0, "1")
    assert {c["key"] for c in snap["Extension"]["constraint"]} == {"ele-1", "ext-1"}
    assert snap["Extension.extension"]["max"] == "0"
    assert snap["Extension.url"]["fixedUri"] == EBM + ext_id
    value = snap["Extension.value[x]"]
    assert (value["min"], value["max"]) == (1, "1")
    assert [t["code"] for t in value["type"]] == [value_type]
    diff = {e["id"]: e for e in sd["differential"]["element"]}
    assert diff["Extension.url"]["fixedUri"] == EBM + ext_id
    assert [t["code"] for t in diff["Extension.value[x]"]["type"]] == [value_type]


def test_codeable_reference_targets_group():
    sd = structure_definition(next(e for e in EXTENSIONS if e.id == "evidence-variable-definition"))
    value = sd["snapshot"]["element"][-1]
    assert value["type"][0]["targetProfile"] == ["http://hl7.org/fhir/StructureDefinition/Group"]


def test_names_satisfy_cnl_0():
    import re

    assert all(re.match(r"^[A-Z]([A-Za-z0-9_]){1,254}$", e.name) for e in EXTENSIONS)
    assert len({e.id for e in EXTENSIONS}) == len(EXTENSIONS)


def test_changed_table_regenerates_installed_copy(installed, monkeypatch: pytest.MonkeyPatch):
    cache, _pkg = installed
    from evidence_publisher.packages import ebm_local

    extra = ExtensionDef(
        id="new-thing",
        name="NewThing",
        title="New thing",
        description="d",
        value_type="boolean",
        contexts=("Evidence",),
        source="test",
    )
    monkeypatch.setattr(ebm_local, "EXTENSIONS", (*EXTENSIONS, extra))
    messages: list[str] = []
    again = PackageCache(cache.root, registry_url="off", use_npm=False).ensure(
        [LOCAL_EBM_PACKAGE], progress=messages.append
    )[0]
    assert (again.path / "StructureDefinition-new-thing.json").is_file()
    assert any("generated EBM extension definitions" in m for m in messages)
    assert jsonio.load_file(again.path / "StructureDefinition-new-thing.json")["context"] == [
        {"type": "element", "expression": "Evidence"}
    ]


def test_unchanged_table_is_not_rewritten(installed):
    cache, _pkg = installed
    messages: list[str] = []
    PackageCache(cache.root, registry_url="off", use_npm=False).ensure(
        [LOCAL_EBM_PACKAGE], progress=messages.append
    )
    assert messages == []


def test_two_processes_installing_it_at_once_both_get_it(cache_root: Path, monkeypatch):
    """Test workers on a fresh cache: another process moves the package into place between this
    one's check and its rename; both end with one complete copy and no error."""
    real_rename = os.rename
    raced: list[str] = []

    def rename_after_the_other_process(src, dst) -> None:
        if not raced and Path(dst).name == LOCAL_EBM_PACKAGE.dirname:
            raced.append(str(dst))
            PackageCache(cache_root, registry_url="off", use_npm=False).ensure([LOCAL_EBM_PACKAGE])
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_after_the_other_process)
    (pkg, *_) = PackageCache(cache_root, registry_url="off", use_npm=False).ensure([LOCAL_EBM_PACKAGE])
    assert raced
    assert pkg.source == "generated"
    assert (pkg.path / "package.json").is_file()
    assert [p.name for p in cache_root.iterdir() if p.name.startswith(LOCAL_EBM_PACKAGE.name)] == [
        LOCAL_EBM_PACKAGE.dirname
    ]
