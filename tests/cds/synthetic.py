"""Synthetic build output following docs/output-format.md, and synthetic patients.

The numbers and texts are invented for tests; the service must render whatever is published.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

from evidence_publisher.jsonio import dumps

BASE = "https://evidence.example.org/fhir"
VERSION = "1.0.0"
SCT, LOINC = "http://snomed.info/sct", "http://loinc.org"
LN_CODE = "68815009"  # lupus nephritis (SNOMED CT), used as a synthetic filter
PROTEIN_CODE = "2889-4"  # urine protein 24h (LOINC)
CERTAINTY = "http://hl7.org/fhir/certainty-rating"


def canonical(rtype: str, slug: str) -> str:
    return f"{BASE}/{rtype}/{slug}|{VERSION}"


def _ident(rtype: str, slug: str) -> list[dict[str, str]]:
    return [{"system": f"{BASE}/identifier", "value": f"{rtype}/{slug}"}]


def resources() -> list[dict[str, Any]]:
    cond_ln = (
        "entry.resource.ofType(Condition).where("
        f"code.coding.where(system = '{SCT}' and code = '{LN_CODE}').exists()"
        " and clinicalStatus.coding.where(code = 'active').exists()).exists()"
    )
    cond_protein = (
        "entry.resource.ofType(Observation).where("
        f"code.coding.where(system = '{LOINC}' and code = '{PROTEIN_CODE}').exists()"
        " and value.ofType(Quantity).value > 0.5).exists()"
    )
    plan = {
        "resourceType": "PlanDefinition",
        "id": "rec-msc-ln",
        "url": f"{BASE}/PlanDefinition/rec-msc-ln",
        "version": VERSION,
        "identifier": _ident("PlanDefinition", "rec-msc-ln"),
        "name": "RecMscLn",
        "title": "Synthetic recommendation: refer refractory lupus nephritis",
        "status": "active",
        "publisher": "Synthetic Publisher",
        "description": "Synthetic test recommendation for refractory lupus nephritis.",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                    "code": "eca-rule",
                }
            ]
        },
        "relatedArtifact": [
            {
                "type": "citation",
                "citation": "Synthetic guideline 2099",
                "resource": canonical("Citation", "synthetic-guideline"),
            }
        ],
        "action": [
            {
                "title": "Consider referral to a specialist centre for refractory lupus nephritis",
                "description": "Patients with active lupus nephritis and persistent proteinuria "
                "may "
                "be referred to a specialist centre.",
                "priority": "routine",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/recommendation-strength",
                                    "code": "weak",
                                    "display": "Weak",
                                }
                            ]
                        },
                    }
                ],
                "trigger": [
                    {"type": "named-event", "name": "patient-view"},
                    {"type": "named-event", "name": "order-select"},
                ],
                "input": [
                    {
                        "requirement": {
                            "type": "Condition",
                            "codeFilter": [{"path": "code", "code": [{"system": SCT, "code": LN_CODE}]}],
                        }
                    },
                    {
                        "requirement": {
                            "type": "Observation",
                            "codeFilter": [
                                {"path": "code", "code": [{"system": LOINC, "code": PROTEIN_CODE}]}
                            ],
                        }
                    },
                ],
                "condition": [
                    {
                        "kind": "applicability",
                        "expression": {"language": "text/fhirpath", "expression": cond_ln},
                    },
                    {
                        "kind": "applicability",
                        "expression": {"language": "text/fhirpath", "expression": cond_protein},
                    },
                ],
                "documentation": [
                    {
                        "type": "justification",
                        "display": "Remission evidence",
                        "resource": canonical("Evidence", "ev-remission"),
                    },
                    {
                        "type": "justification",
                        "display": "Safety evidence",
                        "resource": canonical("Evidence", "ev-safety"),
                    },
                ],
                "definitionCanonical": canonical("ActivityDefinition", "ad-referral"),
            }
        ],
    }
    ev1 = {
        "resourceType": "Evidence",
        "id": "ev-remission",
        "url": f"{BASE}/Evidence/ev-remission",
        "version": VERSION,
        "status": "active",
        "identifier": _ident("Evidence", "ev-remission"),
        "title": "Remission at 12 months (synthetic)",
        "description": "Synthetic single-arm study.",
        "statistic": [
            {
                "description": "Remission in 49 of 81 patients (60.5%)",
                "quantity": {"value": Decimal("0.605")},
                "sampleSize": {"numberOfParticipants": 81},
            }
        ],
    }
    ev2 = {
        "resourceType": "Evidence",
        "id": "ev-safety",
        "url": f"{BASE}/Evidence/ev-safety",
        "version": VERSION,
        "status": "active",
        "identifier": _ident("Evidence", "ev-safety"),
        "title": "Dose-limiting toxicity (synthetic)",
        "statistic": [
            {
                "description": "No dose-limiting toxicity among 7 patients",
                "quantity": {"value": 0},
                "sampleSize": {"numberOfParticipants": 7},
            }
        ],
    }

    def assessment(slug: str, ev: str, code: str, display: str, why: str) -> dict[str, Any]:
        return {
            "resourceType": "ArtifactAssessment",
            "id": slug,
            "identifier": _ident("ArtifactAssessment", slug),
            "artifactReference": {"reference": f"Evidence/{ev}"},
            "content": [
                {
                    "informationType": "rating",
                    "summary": why,
                    "type": {"coding": [{"system": "http://hl7.org/fhir/certainty-type", "code": "Overall"}]},
                    "classifier": [{"coding": [{"system": CERTAINTY, "code": code, "display": display}]}],
                }
            ],
        }

    ad = {
        "resourceType": "ActivityDefinition",
        "id": "ad-referral",
        "url": f"{BASE}/ActivityDefinition/ad-referral",
        "version": VERSION,
        "status": "active",
        "identifier": _ident("ActivityDefinition", "ad-referral"),
        "title": "Refer to a specialist centre",
        "kind": "ServiceRequest",
        "description": "Create a referral to a specialist centre",
        "intent": "proposal",
        "priority": "routine",
        "code": {"coding": [{"system": SCT, "code": "3457005", "display": "Patient referral"}]},
    }
    citation = {
        "resourceType": "Citation",
        "id": "synthetic-guideline",
        "url": f"{BASE}/Citation/synthetic-guideline",
        "version": VERSION,
        "status": "active",
        "identifier": _ident("Citation", "synthetic-guideline"),
        "title": "Synthetic guideline 2099",
    }
    return [
        plan,
        ev1,
        ev2,
        assessment("aa-remission", "ev-remission", "low", "Low", "single-arm study, risk of bias"),
        assessment("aa-safety", "ev-safety", "very-low", "Very low", "7 patients, imprecision"),
        ad,
        citation,
    ]


def write_dist(out: Path, res: list[dict[str, Any]] | None = None) -> Path:
    folder = out / "resources"
    folder.mkdir(parents=True, exist_ok=True)
    for r in res if res is not None else resources():
        (folder / f"{r['resourceType']}-{r['id']}.json").write_text(dumps(r), encoding="utf-8")
    return out


# ---- patients -----------------------------------------------------------------------------
def patient(pid: str = "pat-1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "birthDate": "1990-04-01", "gender": "female"}


def condition(pid: str = "pat-1", status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"{pid}-ln",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": status,
                }
            ]
        },
        "code": {"coding": [{"system": SCT, "code": LN_CODE}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def protein(pid: str = "pat-1", value: str = "1.2") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{pid}-prot",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": PROTEIN_CODE}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": Decimal(value), "unit": "g/(24.h)"},
    }


def searchset(*res: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(res),
        "entry": [{"resource": copy.deepcopy(r), "search": {"mode": "match"}} for r in res],
    }


def prefetch(pid: str = "pat-1", *, applies: bool = True) -> dict[str, Any]:
    return {
        "patient": patient(pid),
        "condition": searchset(condition(pid, "active" if applies else "resolved")),
        "observation": searchset(protein(pid)),
    }


def hook_request(service_hook: str = "patient-view", pid: str = "pat-1", **extra: Any) -> dict[str, Any]:
    import uuid

    body: dict[str, Any] = {
        "hook": service_hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/prac-1", "patientId": pid},
    }
    body.update(extra)
    return body


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


CYCLOPHOSPHAMIDE = {"system": SCT, "code": "74470007"}  # the code the seed recommendation checks
MMF_RXNORM = {"system": RXNORM, "code": "68149"}  # a code the seed recommendation does not publish


def real_build_prefetch(
    pid: str,
    *,
    severe: bool = True,
    course_status: str = "completed",
    medication: dict[str, str] = CYCLOPHOSPHAMIDE,
) -> dict[str, Any]:
    """Prefetch for which the real build's recommendation applies: severe active SLE and a
    finished (completed) cyclophosphamide course. ``course_status="active"`` is a patient who has
    only started it."""
    cond = {
        "resourceType": "Condition",
        "id": f"{pid}-sle",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": SCT, "code": "55464009"}]},
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
    }
    if severe:
        cond["severity"] = {"coding": [{"system": SCT, "code": "24484000"}]}
    med = {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-course",
        "status": course_status,
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medication": {"concept": {"coding": [dict(medication)]}},
    }
    return {
        "patient": patient(pid),
        "condition": searchset(cond),
        "medicationRequest": searchset(med),
    }
