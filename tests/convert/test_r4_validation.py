"""The R4 form of the recommendation (`convert r4`) against the official R4 definitions, with the
validator set to R4: zero errors. The definitions come from hl7.fhir.r4.core#4.0.1 where a source
has it, else from hl7.fhir.r4.examples#4.0.1 (npm), which carries the same R4 definitions."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from evidence_publisher import jsonio
from evidence_publisher.cli import main
from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.convert.errors import R4ConversionError
from evidence_publisher.convert.r4 import (
    EXT_RESOURCE_REFERENCE,
    REFERENCE_TYPES_R4,
    R4Result,
    to_r4,
    transaction,
)
from evidence_publisher.errors import ExitCode
from evidence_publisher.validate import Validator

from .conftest import CACHE

R4 = FHIR_VERSIONS["R4"]


@pytest.fixture(scope="module")
def validator(package_cache) -> Validator:
    return Validator(package_cache.definitions(fhir=R4), fhir=R4)


@pytest.fixture(scope="module")
def r4(golden_r5: list[dict]) -> R4Result:
    return to_r4(golden_r5)


def _issues(validator: Validator, resource: dict) -> list[tuple[str, str]]:
    outcome = validator.validate_resource(resource)
    return [(i["severity"], i.get("diagnostics", "")) for i in outcome.get("issue", [])]


def _errors(validator: Validator, resource: dict) -> list[str]:
    return [m for s, m in _issues(validator, resource) if s in ("error", "fatal")]


def test_the_validator_reads_r4_definitions(validator: Validator) -> None:
    plan = validator.definitions.structure_definition("PlanDefinition")
    assert plan is not None and plan["fhirVersion"] == "4.0.1"
    # The extension checks know the release, also when the stand-in holds the core definitions.
    assert validator.walker.extensions.fhir is R4
    assert not validator.profile_rules  # the EBM rules are written for R5


def test_the_r4_output_has_no_error_against_r4(validator: Validator, r4: R4Result) -> None:
    assert [r["resourceType"] for r in r4.resources] == ["ActivityDefinition", "PlanDefinition"]
    for res in r4.resources:
        issues = _issues(validator, res)
        assert [i for i in issues if i[0] in ("error", "fatal")] == [], res["id"]
        assert not [i for i in issues if "extension-unknown" in i[1] or "not defined in any" in i[1]]
    # The transaction an R4 server loads: only the references to the assessments (not part of the
    # R4 output) stay unresolved, as warnings.
    report = validator.validate([transaction(r4.resources)])
    found: list[dict[str, Any]] = [i for _, outcome in report.outcomes for i in outcome.get("issue", [])]
    assert [i for i in found if i["severity"] in ("error", "fatal")] == []
    warnings = [i["diagnostics"] for i in found if i["severity"] == "warning"]
    assert warnings and all(w.startswith("[reference-resolve] reference 'Basic/") for w in warnings)


def test_r5_shapes_are_errors_in_r4(validator: Validator, r4: R4Result, golden_r5: list[dict]) -> None:
    """What the conversion changes is wrong in R4: the validator does not judge R4 by R5 rules."""
    r5_plan = next(r for r in golden_r5 if r["resourceType"] == "PlanDefinition")
    plan = copy.deepcopy(next(r for r in r4.resources if r["resourceType"] == "PlanDefinition"))
    plan["action"][0]["input"] = r5_plan["action"][0]["input"]  # R5 backbone (title, requirement)
    ref = next(e for ra in plan["relatedArtifact"] for e in ra.get("extension", []))
    ref["valueReference"] = {"reference": "ArtifactAssessment/x"}  # no such type in R4
    errors = _errors(validator, plan)
    assert "[unknown-element] unknown element 'requirement'" in errors, errors
    assert "[cardinality] DataRequirement.type is required (min 1, found 0)" in errors, errors
    assert any("unknown resource type 'ArtifactAssessment'" in m for m in errors), errors
    assert "must name a concrete FHIR R4 resource type" in " ".join(
        _errors(validator, {"resourceType": "ArtifactAssessment", "id": "x"})
    )


def test_references_to_types_r4_lacks_name_the_basic_that_represents_them(
    validator: Validator, r4: R4Result, golden_r5: list[dict]
) -> None:
    for rtype, r4_type in REFERENCE_TYPES_R4.items():
        assert r4_type == (rtype if validator.registry.is_resource_type(rtype) else "Basic"), rtype
    r5_refs = [
        ra["resourceReference"]["reference"]
        for r in golden_r5
        if r["resourceType"] == "PlanDefinition"
        for ra in r["relatedArtifact"]
        if "resourceReference" in ra
    ]
    plan = next(r for r in r4.resources if r["resourceType"] == "PlanDefinition")
    carried = [
        e["valueReference"]["reference"] for ra in plan["relatedArtifact"] for e in ra.get("extension", [])
    ]
    assert r5_refs and all(r.startswith("ArtifactAssessment/") for r in r5_refs)
    assert carried == [r.replace("ArtifactAssessment/", "Basic/") for r in r5_refs]
    listed = [c for c in r4.conversions if "resourceReference" in c]
    assert len(listed) == len(r5_refs) and all("R4 has no ArtifactAssessment" in c for c in listed)


def test_a_reference_without_an_r4_rule_stops_the_conversion(golden_r5: list[dict]) -> None:
    changed = copy.deepcopy(golden_r5)
    plan = next(r for r in changed if r["resourceType"] == "PlanDefinition")
    next(ra for ra in plan["relatedArtifact"] if "resourceReference" in ra)["resourceReference"] = {
        "reference": "DeviceDefinition/x"
    }
    with pytest.raises(R4ConversionError, match="references to DeviceDefinition have no R4 rule"):
        to_r4(changed)
    assert EXT_RESOURCE_REFERENCE.startswith("http://hl7.org/fhir/5.0/StructureDefinition/extension-")


def test_cli_validates_the_r4_files_as_r4(
    r4: R4Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(CACHE))
    monkeypatch.setenv("FHIR_PACKAGE_REGISTRY", os.environ.get("FHIR_PACKAGE_REGISTRY", "off"))
    for res in r4.resources:
        (tmp_path / f"{res['resourceType']}-{res['id']}.json").write_text(jsonio.dumps(res), encoding="utf-8")
    assert main(["validate", str(tmp_path), "--fhir-version", "R4", "--format", "json"]) == ExitCode.OK
    notes = json.loads(capsys.readouterr().out)["notes"]
    # What the R4 validation cannot judge is said, not passed over in silence.
    assert any("ebm-*" in n and "not run on these R4 resources" in n for n in notes), notes
    assert any("cross-version extensions" in n and "placed on are not checked" in n for n in notes), notes
    # The same files against R5 are not valid: the choice of version matters.
    assert main(["validate", str(tmp_path), "--format", "json"]) != ExitCode.OK
    out: Any = capsys.readouterr().out
    assert "error" in out
