"""fhir/group.py: enumerated study populations and definitional eligibility groups."""

from __future__ import annotations

from evidence_publisher.constants import ARTIFACT_EXPERIMENTAL_EXT, EBM_SD
from evidence_publisher.fhir.group import map_eligibility_group, map_study_group

from .models import CTX, publication, recommendation


def test_a_study_group_is_enumerated_with_its_count_and_condition() -> None:
    pop = publication().study.population
    res = map_study_group(CTX, pop, "2026-01-02", [("Women", "14 of 15")])
    assert (res["membership"], res["quantity"], res["type"]) == ("enumerated", 15, "person")
    assert res["meta"]["profile"] == [EBM_SD + "study-group"]
    assert res["description"] == "Patients with refractory lupus. Women: 14 of 15."
    condition = res["characteristic"][1]
    assert condition["valueCodeableConcept"]["coding"][0]["code"] == "55464009"
    assert all(c["exclude"] is False for c in res["characteristic"])


def test_an_unknown_count_is_said_not_invented() -> None:
    pop = publication().study.population.model_copy(update={"count": None})
    res = map_study_group(CTX, pop, "2026-01-02", [])
    assert "quantity" not in res
    assert "<th>Patients</th><td>number not stated</td>" in res["text"]["div"]


def test_an_eligibility_group_lists_each_criterion_with_its_reading() -> None:
    rec = recommendation()
    res = map_eligibility_group(CTX, rec.population, "Eligible", "2026-01-02", experimental=True)
    assert res["membership"] == "definitional"
    assert [c["code"]["text"] for c in res["characteristic"]] == [
        "Active severe SLE.",
        "A finished cyclophosphamide course.",
    ]
    assert (
        res["characteristic"][0]["valueCodeableConcept"]["text"]
        == "An active SLE Condition recorded as severe."
    )
    assert {"url": ARTIFACT_EXPERIMENTAL_EXT, "valueBoolean": True} in res["extension"]
    vetted = map_eligibility_group(CTX, rec.population, "Eligible", "2026-01-02")
    assert {"url": ARTIFACT_EXPERIMENTAL_EXT, "valueBoolean": True} not in vetted["extension"]


def test_each_eligibility_characteristic_carries_the_criterion_codes() -> None:
    res = map_eligibility_group(CTX, recommendation().population, "Eligible", "2026-01-02")
    assert res["name"] == "Eligible"
    assert res["description"] == "Refractory lupus"
    assert res["meta"]["profile"] == [EBM_SD + "cohort-definition"]
    assert res["characteristic"][1]["valueCodeableConcept"] == {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3002"}],
        "text": "A completed cyclophosphamide order.",
    }


def test_a_study_group_without_a_coded_condition_has_only_its_description() -> None:
    pop = publication().study.population.model_copy(update={"condition": []})
    res = map_study_group(CTX, pop, "2026-01-02", [])
    assert res["name"] == "Trial patients"
    assert res["characteristic"] == [
        {
            "code": {"text": "Study population"},
            "valueCodeableConcept": {"text": "Patients with refractory lupus"},
            "exclude": False,
        }
    ]
