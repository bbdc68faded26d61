"""Targeted structural checks: JSON form, primitives, choice types, references and Bundles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence_publisher.validate.primitives import check_primitive

from . import ebm_fixtures as fx
from .conftest import errors_of, rule_of


def _errs(validator, res: dict) -> set[tuple[str, str]]:
    return {(rule_of(i), i["expression"][0]) for i in errors_of(validator.validate_resource(res))}


def _basic(**extra) -> dict:
    return {"resourceType": "Basic", "id": "b", "text": fx.NARRATIVE, "code": {"text": "x"}, **extra}


@pytest.mark.parametrize(
    ("type_code", "value", "ok"),
    [
        ("id", "a" * 64, True),
        ("id", "a" * 65, False),
        ("id", "a_b", False),
        ("uri", "http://example.org/x", True),
        ("uri", "http://exa mple.org", False),
        ("canonical", "http://example.org/x|1.0", True),
        ("dateTime", "2023", True),
        ("dateTime", "2023-02", True),
        ("dateTime", "2023-01-01T10:00:00Z", True),
        ("dateTime", "2023-01-01T10:00:00", False),
        ("dateTime", "2023-13-45", False),
        ("dateTime", 20230101, False),
        ("date", "2023-02-30", False),
        ("date", "2024-02-29", True),
        ("instant", "2023-01-01T10:00:00.123+02:00", True),
        ("instant", "2023-01-01", False),
        ("time", "10:00:00", True),
        ("time", "10:00", False),
        ("decimal", Decimal("0.050"), True),
        ("decimal", "0.05", False),
        ("decimal", True, False),
        ("integer", 2**31, False),
        ("integer", -(2**31), True),
        ("unsignedInt", -1, False),
        ("positiveInt", 0, False),
        ("integer64", "-9223372036854775808", True),
        ("integer64", 12, False),
        ("integer64", "9223372036854775808", False),
        ("code", "a b", True),
        ("code", " a", False),
        ("code", "a  b", False),
        ("string", "", False),
        ("string", "   ", False),
        ("string", "x", True),
        ("base64Binary", "aGVsbG8=", True),
        ("base64Binary", "not base64!", False),
        ("boolean", False, True),
        ("boolean", "false", False),
        ("xhtml", '<div xmlns="http://www.w3.org/1999/xhtml">x</div>', True),
        ("xhtml", "<div>x</div>", False),
        ("xhtml", "hello", False),
    ],
)
def test_primitive_formats(type_code, value, ok):
    assert (check_primitive(type_code, value) is None) is ok


def test_null_and_empty_array_are_errors(validator):
    errs = _errs(validator, _basic(identifier=[], author=None))
    assert ("json-empty-array", "Basic.identifier") in errs
    assert ("json-null", "Basic.author") in errs


def test_primitive_extension_sibling(validator):
    ext = {
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
        ]
    }
    ev = fx.evidence()
    ev.pop("status")
    ev["_status"] = ext
    assert _errs(validator, ev) == set()  # status is present through its extension
    ev["_status"] = {"id": "only"}
    assert ("ele-1", "Evidence.status") in _errs(validator, ev)
    ev["_status"] = {"bogus": 1}
    assert ("unknown-element", "Evidence.status.bogus") in _errs(validator, ev)
    ev["_nosuch"] = ext
    assert ("unknown-element", "Evidence._nosuch") in _errs(validator, ev)


def test_choice_types(validator):
    errs = _errs(
        validator,
        _basic(extension=[{"url": "http://example.org/x", "valueString": "a", "valueBoolean": True}]),
    )
    assert ("cardinality", "Basic.extension[0].value") in errs
    ev = fx.evidence()
    ev["citeAsString"] = "x"
    assert ("unknown-element", "Evidence.citeAsString") in _errs(validator, ev)


def test_content_reference_recursion(validator):
    ev = fx.evidence()
    ev["certainty"] = [{"subcomponent": [{"subcomponent": [{"rating": "not an object"}]}]}]
    assert ("json-type", "Evidence.certainty[0].subcomponent[0].subcomponent[0].rating") in _errs(
        validator, ev
    )


def test_datatype_binding_and_invariant(validator):
    ev = fx.evidence()
    ev["relatedArtifact"] = [{"type": "nope"}]
    ev["effectivePeriod"] = None
    ev.pop("effectivePeriod")
    ev["statistic"][0]["quantity"]["comparator"] = "~"
    errs = _errs(validator, ev)
    assert ("http://hl7.org/fhir/ValueSet/related-artifact-type", "Evidence.relatedArtifact[0].type") in errs
    assert (
        "http://hl7.org/fhir/ValueSet/quantity-comparator",
        "Evidence.statistic[0].quantity.comparator",
    ) in errs


def test_reference_format_target_and_contained(validator):
    ev = fx.evidence()
    ev["variableDefinition"][0]["observed"] = {"reference": "Patient/1"}
    ev["variableDefinition"][1]["observed"] = {"reference": "#missing"}
    ev["relatedArtifact"] = [{"type": "derived-from", "resourceReference": {"reference": "Nope/1"}}]
    errs = _errs(validator, ev)
    assert ("reference-target", "Evidence.variableDefinition[0].observed.reference") in errs
    assert ("ref-1", "Evidence.variableDefinition[1].observed") in errs
    assert ("reference-format", "Evidence.relatedArtifact[0].resourceReference.reference") in errs


def test_contained_resources_are_validated_and_must_be_referenced(validator):
    ev = fx.evidence()
    ev["contained"] = [{"resourceType": "Group", "id": "g", "type": "person"}]
    errs = _errs(validator, ev)
    assert ("cardinality", "Evidence.contained[0].membership") in errs
    assert ("dom-3", "Evidence.contained[0]") in errs
    ev["variableDefinition"][0]["observed"] = {"reference": "#g"}
    assert ("dom-3", "Evidence.contained[0]") not in _errs(validator, ev)


def test_unknown_resource_type(validator):
    assert ("resource-type", "Nope") in _errs(validator, {"resourceType": "Nope"})
    ev = fx.evidence()
    ev["contained"] = [{"resourceType": "Nope", "id": "n"}]
    assert ("resource-type", "Evidence.contained[0]") in _errs(validator, ev)


def test_bundle_references_resolve_inside_the_bundle(validator):
    b = fx.bundle()
    b["type"] = "transaction"
    for e in b["entry"]:
        e["request"] = {"method": "PUT", "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"}
    assert validator.validate([b]).error_count == 0
    b["entry"][0]["resource"]["variableDefinition"][0]["observed"] = {
        "reference": "urn:uuid:0b6ec6fd-7f1d-4a4f-9d35-2b0e8f2d6a11"
    }
    b["entry"][0]["resource"]["variableDefinition"][1]["observed"] = {"reference": "Group/cohort"}
    report = validator.validate([b])
    ev_outcome = next(o for r, o in report.outcomes if r.get("resourceType") == "Evidence")
    found = {(rule_of(i), i["expression"][0]) for i in errors_of(ev_outcome)}
    assert ("reference-resolve", "Evidence.variableDefinition[0].observed.reference") in found
    # resolves, but to a Group where the outcome slice needs an EvidenceVariable
    assert ("ebm-nce-outcome", "Evidence.variableDefinition[1].observed") in found


def test_bundle_invariants_and_entries(validator):
    b = fx.bundle()
    b["type"] = "transaction"  # bdl-3c: transaction entries need request
    report = validator.validate([b])
    bundle_outcome = report.outcomes[0][1]
    assert "bdl-3c" in {rule_of(i) for i in errors_of(bundle_outcome)}
    assert [r.get("resourceType") for r, _o in report.outcomes] == [
        "Bundle",
        "Evidence",
        "Group",
        "EvidenceVariable",
    ]


def test_validate_with_bundle_argument(validator):
    b = fx.bundle()
    ev = b["entry"][0]["resource"]
    report = validator.validate([ev], bundle=b)
    assert len(report.outcomes) == 4 and report.error_count == 0


def test_installed_core_profile_in_meta_profile_is_checked(validator, examples_dir):
    from evidence_publisher.jsonio import load_file

    pd = load_file(examples_dir / "PlanDefinition-example-cardiology-os.json")
    # its two dangling '#...' canonicals are a known defect of the example (test_validate_conformance)
    next(c for c in pd["contained"] if c["resourceType"] == "Questionnaire")["item"][0].pop("answerValueSet")
    pd["action"][0]["action"][1]["action"][1]["action"][2].pop("definitionCanonical")
    pd["meta"] = {"profile": ["http://hl7.org/fhir/StructureDefinition/shareableplandefinition"]}
    assert not _errs(validator, pd)
    pd.pop("version", None)
    assert ("cardinality", "PlanDefinition.version") in _errs(validator, pd)
    pd["meta"]["profile"] = ["http://example.org/fhir/StructureDefinition/not-installed"]
    outcome = validator.validate_resource(pd)
    assert "profile-unknown" in {rule_of(i) for i in outcome["issue"]}
    assert not _errs(validator, pd)
    pd["meta"]["profile"] = ["http://hl7.org/fhir/StructureDefinition/shareablevalueset"]
    assert ("profile-type", "PlanDefinition.meta.profile[0]") in _errs(validator, pd)
