"""bundle/references.py: finding and rewriting the references between resources."""

from __future__ import annotations

import copy

import pytest

from evidence_publisher.bundle import reference_targets, rewrite_references
from evidence_publisher.bundle.references import iter_references

from .resources import BASE, canonical, reference

EVIDENCE = canonical(
    "Evidence",
    "ev",
    relatedArtifact=[
        {"type": "derived-from", "resourceReference": reference("Citation/cit")},
        {"type": "citation", "resource": f"{BASE}/Citation/other|1.0.0"},  # a canonical
    ],
    variableDefinition=[
        {"observed": reference("Group/pop"), "intended": {"reference": "EvidenceVariable/m", "display": "M"}}
    ],
    subject=reference(f"{BASE}/Patient/p1"),
    contained=[{"resourceType": "Group", "id": "inner", "member": [{"entity": reference("Patient/p2")}]}],
    note=[{"text": "reference"}],
)


def test_every_reference_is_found_with_its_path() -> None:
    found = {path: ref["reference"] for path, ref in iter_references(EVIDENCE)}
    assert found == {
        "relatedArtifact[0].resourceReference": "Citation/cit",
        "variableDefinition[0].observed": "Group/pop",
        "variableDefinition[0].intended": "EvidenceVariable/m",
        "subject": f"{BASE}/Patient/p1",
        "contained[0].member[0].entity": "Patient/p2",
    }


def test_the_targets_are_the_relative_references_only() -> None:
    assert reference_targets(EVIDENCE) == {"Citation/cit", "Group/pop", "EvidenceVariable/m", "Patient/p2"}


@pytest.mark.parametrize(
    "target",
    [
        "urn:uuid:b3649311-f7f7-58ec-9a3e-7eccd336bddd",
        "#inner",
        "Patient/p1/_history/2",
        "group/pop",
        "Group/",
    ],
)
def test_other_reference_forms_are_not_targets(target: str) -> None:
    assert reference_targets({"resourceType": "Evidence", "subject": reference(target)}) == set()


def test_a_reference_inside_a_codeable_reference_is_a_target() -> None:
    study = {"resourceType": "ResearchStudy", "focus": [{"reference": reference("EvidenceVariable/msct")}]}
    assert reference_targets(study) == {"EvidenceVariable/msct"}


def test_rewriting_maps_each_reference_and_keeps_what_the_mapping_declines() -> None:
    before = copy.deepcopy(EVIDENCE)
    out = rewrite_references(EVIDENCE, {"Citation/cit": "urn:uuid:c", "Group/pop": "urn:uuid:g"}.get)
    assert EVIDENCE == before  # a copy, not an edit in place
    assert out["relatedArtifact"][0]["resourceReference"] == {"reference": "urn:uuid:c"}
    assert out["variableDefinition"][0]["observed"] == {"reference": "urn:uuid:g"}
    assert out["variableDefinition"][0]["intended"] == {"reference": "EvidenceVariable/m", "display": "M"}
    assert out["relatedArtifact"][1] == EVIDENCE["relatedArtifact"][1]  # canonicals untouched
    assert out["note"] == [{"text": "reference"}]
    unchanged = {k: v for k, v in out.items() if k not in ("relatedArtifact", "variableDefinition")}
    assert unchanged == {
        k: v for k, v in EVIDENCE.items() if k not in ("relatedArtifact", "variableDefinition")
    }


def test_rewriting_reaches_contained_resources_and_nested_references() -> None:
    study = {"resourceType": "ResearchStudy", "focus": [{"reference": reference("EvidenceVariable/msct")}]}
    assert rewrite_references(study, lambda ref: "urn:uuid:m")["focus"] == [
        {"reference": {"reference": "urn:uuid:m"}}
    ]
    out = rewrite_references(EVIDENCE, lambda ref: "urn:uuid:p" if ref == "Patient/p2" else None)
    assert out["contained"][0]["member"][0]["entity"] == {"reference": "urn:uuid:p"}
