"""The cross-version extensions of the R4 and R4B outputs use the URL form the FHIR cross-version
rules give (docs/fhir-versions.md, "Cross-version extension URLs"): the R5 element's release
``5.0`` and its path. HL7 publishes the table of R5 paths that such extensions may carry
(``other/xver-paths-5.0.json`` of hl7.fhir.xver-extensions on npm, the table the HL7 validator
reads to accept them); every URL we write names a path there, with a value type it lists, in a
modifier extension where the element is a modifier."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evidence_publisher import jsonio
from evidence_publisher.convert import to_r4b
from evidence_publisher.convert.r4 import to_r4
from evidence_publisher.packages import PackageSpec

XVER_EXTENSIONS = PackageSpec("hl7.fhir.xver-extensions", "0.1.0")
URL = re.compile(r"^http://hl7\.org/fhir/(\d+\.\d+)/StructureDefinition/extension-(.+)$")


@pytest.fixture(scope="module")
def hl7_paths(package_cache) -> dict[str, Any]:
    (pkg,) = [p for p in package_cache.ensure([XVER_EXTENSIONS]) if p.spec == XVER_EXTENSIONS]
    return jsonio.load_file(pkg.path / "other" / "xver-paths-5.0.json")


def _extensions(node: Any) -> list[dict[str, Any]]:
    """Every extension or modifier extension with an absolute url, anywhere in ``node`` (the key
    it sits under is added as ``_in``)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key in ("extension", "modifierExtension"):
            for ext in node.get(key) or ():
                if isinstance(ext, dict) and "://" in str(ext.get("url", "")):
                    found.append({**ext, "_in": key})
        for value in node.values():
            found.extend(_extensions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_extensions(item))
    return found


def _cross_version(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in _extensions(resources) if "/StructureDefinition/extension-" in e["url"]]


def _check(extensions: list[dict[str, Any]], hl7_paths: dict[str, Any]) -> None:
    """Asserts each extension against HL7's table (a modifier element in a modifierExtension)."""
    assert extensions
    for ext in extensions:
        match = URL.match(ext["url"])
        assert match is not None and match.group(1) == "5.0", ext["url"]
        path = match.group(2)
        entry = hl7_paths.get(path)
        assert isinstance(entry, dict), f"{path} is not in HL7's table of R5 paths"
        assert ext["_in"] == ("modifierExtension" if entry.get("modifier") else "extension"), ext["url"]
        values = [k for k in ext if k.startswith("value")]
        if values:  # a simple extension: its value is of a type HL7 lists for the element
            types = {t.lstrip("!").partition("(")[0] for t in entry.get("types", ())}  # !: also in R4
            (key,) = values
            assert any(key == "value" + t[0].upper() + t[1:] for t in types), (ext["url"], key, types)
        else:  # a complex extension: one sub-extension per child element HL7 lists
            children = {c.removesuffix("[x]") for c in entry.get("elements", ())}  # event[x]: "event"
            assert {s["url"] for s in ext["extension"]} <= children, (ext["url"], children)


def test_r4_output_uses_hl7_cross_version_urls(golden_r5: list[dict], hl7_paths: dict[str, Any]) -> None:
    extensions = _cross_version(to_r4(golden_r5).resources)
    assert {e["url"].rsplit("-", 1)[-1] for e in extensions} >= {
        "RelatedArtifact.resourceReference",
        "PlanDefinition.action.input.title",
    }
    _check(extensions, hl7_paths)


def test_r4b_output_uses_hl7_cross_version_urls(golden_r5: list[dict], hl7_paths: dict[str, Any]) -> None:
    extensions = _cross_version(to_r4b(golden_r5).resources)
    _check(extensions, hl7_paths)
    # The two encodings HL7's table decided: a RelatedArtifact value, and a modifier extension.
    relates_to = next(e for e in extensions if e["url"].endswith("-Composition.relatesTo"))
    assert relates_to["valueRelatedArtifact"]["type"] == "derived-from"
    status = next(e for e in extensions if e["url"].endswith("-ResearchStudy.status"))
    assert status["_in"] == "modifierExtension" and status["valueCode"] == "active"


def test_a_wrong_release_or_path_is_caught(hl7_paths: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        _check(
            [{"url": "http://hl7.org/fhir/4.3/StructureDefinition/extension-Evidence.studyDesign"}], hl7_paths
        )
    with pytest.raises(AssertionError):
        _check(
            [
                {
                    "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Evidence.noSuch",
                    "valueString": "x",
                }
            ],
            hl7_paths,
        )
