"""Every Coding is checked against its code system, bound or not (as the HL7 validator does)."""

from __future__ import annotations

import pytest

from .conftest import errors_of, rule_of

CERTAINTY_TYPE = "http://hl7.org/fhir/certainty-type"  # complete, in R5 core


def _basic(coding: dict) -> dict:
    return {
        "resourceType": "Basic",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        "code": {"coding": [coding]},
    }


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        ({"system": CERTAINTY_TYPE, "code": "Overall", "display": "overall  CERTAINTY"}, set()),
        ({"system": CERTAINTY_TYPE, "code": "Overall"}, set()),
        (
            {"system": CERTAINTY_TYPE, "code": "Overall", "display": "Overall quality"},
            {("coding-display", "Basic.code.coding[0].display")},
        ),
        ({"system": CERTAINTY_TYPE, "code": "Nope"}, {("coding-code", "Basic.code.coding[0].code")}),
        (
            {"system": "http://hl7.org/fhir/resource-types", "code": "Condition"},
            {("coding-system", "Basic.code.coding[0].system")},
        ),
        ({"system": "http://hl7.org/fhir/sid/icd-10", "code": "A00"}, set()),
        ({"system": "http://example.org/codes", "code": "x", "display": "anything"}, set()),
        ({"system": "http://snomed.info/sct", "code": "64572001", "display": "whatever"}, set()),
    ],
)
def test_coding_against_its_code_system(validator, coding, expected):
    outcome = validator.validate_resource(_basic(coding))
    assert {(rule_of(i), i["expression"][0]) for i in errors_of(outcome)} == expected


def test_concept_map_codes_belong_to_the_group_systems(validator):
    status = "http://hl7.org/fhir/resource-status"  # complete, in R5 core
    cm = {
        "resourceType": "ConceptMap",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        "status": "draft",
        "group": [
            {
                "source": "http://hl7.org/fhir/publication-status",
                "target": status,
                "element": [
                    {"code": "draft", "target": [{"code": "draft", "relationship": "equivalent"}]},
                    {"code": "active", "target": [{"code": "not-done", "relationship": "equivalent"}]},
                    {"code": "bogus", "noMap": True},
                ],
            }
        ],
    }
    errors = {(rule_of(i), i["expression"][0]) for i in errors_of(validator.validate_resource(cm))}
    assert errors == {
        ("conceptmap-code", "ConceptMap.group[0].element[1].target[0].code"),
        ("conceptmap-code", "ConceptMap.group[0].element[2].code"),
    }
