"""fhir/plan_definition.py: the recommendation as an ECA rule with computable conditions."""

from __future__ import annotations

from evidence_publisher.constants import PLAN_DEFINITION_TYPE
from evidence_publisher.fhir.plan_definition import (
    criterion_fhirpath,
    map_plan_definition,
    plan_definition_id,
)
from evidence_publisher.sources.model import Coding, Criterion

from .models import CTX, recommendation

SNOMED = "http://snomed.info/sct"


def _plan(**changes: object) -> dict:
    rec = recommendation(**changes)
    return map_plan_definition(
        CTX,
        rec,
        activity_id="refer",
        citation_id="blog",
        evidence=[("trial-2010-sledai-12m", "Trial 2010: SLEDAI")],
        justification_id="rec-msct-justification",
        certainty_ids=["trial-2010-sledai-12m-certainty"],
    )


def test_a_condition_criterion_reads_code_clinical_status_and_severity() -> None:
    crit = recommendation().population.criteria[0]
    assert criterion_fhirpath(crit) == (
        "entry.resource.ofType(Condition).where("
        f"code.coding.where((system = '{SNOMED}' and code = '55464009')).exists() and "
        "clinicalStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/condition-clinical' "
        "and (code = 'active')).exists() and "
        f"severity.coding.where((system = '{SNOMED}' and code = '24484000')).exists()).exists()"
    )


def test_a_medication_criterion_reads_the_medication_and_the_order_status() -> None:
    crit = recommendation().population.criteria[1]
    expression = criterion_fhirpath(crit)
    assert expression.startswith("entry.resource.ofType(MedicationRequest).where(medication.concept.coding")
    assert "(status = 'completed')" in expression


def test_quotes_and_backslashes_in_codes_are_escaped() -> None:
    crit = (
        recommendation()
        .population.criteria[0]
        .model_copy(
            update={"codes": [Coding(system="urn:x", code="it's\\")], "clinical_status": [], "severity": []}
        )
    )
    assert criterion_fhirpath(crit) == (
        "entry.resource.ofType(Condition).where("
        "code.coding.where((system = 'urn:x' and code = 'it\\'s\\\\')).exists()).exists()"
    )


def test_the_rule_has_its_conditions_inputs_and_justification() -> None:
    res = _plan()
    assert res["id"] == plan_definition_id(recommendation()) == "rec-msct-plan"
    assert res["type"]["coding"][0] == {
        "system": PLAN_DEFINITION_TYPE,
        "code": "eca-rule",
        "display": "ECA Rule",
    }
    action = res["action"][0]
    assert [c["expression"]["name"] for c in action["condition"]] == ["severe_sle", "had_cyclophosphamide"]
    assert action["condition"][0]["expression"]["description"].endswith(
        "Reading: An active SLE Condition recorded as severe."
    )
    assert action["definitionCanonical"].endswith("/ActivityDefinition/refer|2.0.0")
    assert {"reference": "ArtifactAssessment/trial-2010-sledai-12m-certainty"} in [
        r.get("resourceReference") for r in res["relatedArtifact"]
    ]


def test_data_requirements_filter_on_code_and_on_severity_with_its_display() -> None:
    inputs = _plan()["action"][0]["input"]
    condition = inputs[0]["requirement"]
    assert condition["type"] == "Condition"
    assert condition["codeFilter"][1] == {
        "path": "severity",
        "code": [{"system": SNOMED, "code": "24484000", "display": "Severe"}],
    }
    medication = inputs[1]["requirement"]
    assert [f["path"] for f in medication["codeFilter"]] == ["medication"]


def test_an_experimental_rule_says_so_and_carries_its_caution() -> None:
    res = _plan(experimental=True, caution="Check with a specialist.")
    assert res["experimental"] is True
    assert res["usage"].startswith("Check with a specialist. ")
    assert _plan()["experimental"] is False


def test_an_observation_criterion_reads_its_code() -> None:
    crit = Criterion.model_validate(
        {
            "id": "low-complement",
            "description": "Low C3.",
            "resource": "Observation",
            "codes": [{"system": "http://loinc.org", "code": "4485-9"}],
            "reading": "A C3 result.",
            "quote": "low C3",
        }
    )
    assert criterion_fhirpath(crit) == (
        "entry.resource.ofType(Observation).where(code.coding.where("
        "(system = 'http://loinc.org' and code = '4485-9')).exists()).exists()"
    )


def test_the_rule_fires_on_patient_view_and_order_select() -> None:
    assert _plan()["action"][0]["trigger"] == [
        {"type": "named-event", "name": "patient-view"},
        {"type": "named-event", "name": "order-select"},
    ]


def test_the_evidence_and_the_stating_document_are_versioned_canonicals() -> None:
    res = _plan()
    assert res["action"][0]["documentation"] == [
        {
            "type": "justification",
            "display": "Trial 2010: SLEDAI",
            "resource": "https://unit.example.org/fhir/Evidence/trial-2010-sledai-12m|2.0.0",
        }
    ]
    assert res["relatedArtifact"][0]["resource"] == "https://unit.example.org/fhir/Citation/blog|2.0.0"
