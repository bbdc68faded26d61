"""A small, valid EBM R5 evidence package (NonComparative + SingleStudy Evidence) as a Bundle."""

from __future__ import annotations

import copy
from decimal import Decimal

EBM = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"
ROLE = EBM + "variable-definition-variable-role-code"
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}


def _vd(role: str, tho: str, ref: str) -> dict:
    return {
        "extension": [{"url": ROLE, "valueCode": role}],
        "note": [{"text": role}],
        "variableRole": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/variable-role", "code": tho}],
            "text": "Use extension:variableRoleCode instead.",
        },
        "observed": {"reference": ref},
    }


def evidence() -> dict:
    return {
        "resourceType": "Evidence",
        "id": "remission",
        "meta": {"profile": [EBM + "non-comparative-evidence", EBM + "single-study-evidence"]},
        "text": NARRATIVE,
        "url": "http://example.org/fhir/Evidence/remission",
        "name": "Remission",
        "status": "active",
        "variableDefinition": [
            _vd("population", "population", "Group/cohort"),
            _vd("outcome", "measuredVariable", "EvidenceVariable/remission"),
        ],
        "synthesisType": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/synthesis-type", "code": "NotApplicable"}
            ]
        },
        "statistic": [
            {
                "description": "49 of 81 patients (60.5%) were in remission; 95% CI 0.496 to 0.706",
                "statisticType": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/statistic-type",
                            "code": "C44256",
                            "display": "Proportion",
                        }
                    ]
                },
                "quantity": {"value": Decimal("0.605")},
                "numberAffected": 49,
                "sampleSize": {"numberOfStudies": 1, "numberOfParticipants": 81},
                "attributeEstimate": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/attribute-estimate-type",
                                    "code": "C53324",
                                    "display": "Confidence interval",
                                }
                            ]
                        },
                        "level": Decimal("0.95"),
                        "range": {"low": {"value": Decimal("0.496")}, "high": {"value": Decimal("0.706")}},
                    },
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/attribute-estimate-type",
                                    "code": "C44185",
                                    "display": "P-value",
                                }
                            ]
                        },
                        "quantity": {"value": Decimal("0.03")},
                    },
                ],
            }
        ],
    }


def group() -> dict:
    return {
        "resourceType": "Group",
        "id": "cohort",
        "meta": {"profile": [EBM + "study-group"]},
        "text": NARRATIVE,
        "type": "person",
        "membership": "enumerated",
        "quantity": 81,
    }


def variable() -> dict:
    return {
        "resourceType": "EvidenceVariable",
        "id": "remission",
        "meta": {"profile": [EBM + "variable-definition"]},
        "text": NARRATIVE,
        "extension": [
            {
                "url": EBM + "evidence-variable-definition",
                "valueCodeableReference": {"concept": {"text": "Remission"}},
            }
        ],
        "status": "active",
        "name": "Remission",
        "handling": "dichotomous",
    }


def bundle(ev: dict | None = None, grp: dict | None = None, var: dict | None = None) -> dict:
    entries = [ev or evidence(), grp or group(), var or variable()]
    return {
        "resourceType": "Bundle",
        "id": "ebm",
        "type": "collection",
        "entry": [
            {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in entries
        ],
    }


def clone(obj: dict) -> dict:
    return copy.deepcopy(obj)
