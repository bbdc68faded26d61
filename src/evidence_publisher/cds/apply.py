"""``PlanDefinition/$apply`` (R5): a RequestOrchestration and a CarePlan for one patient.

Uses the same evaluation as the CDS service. The result is a collection Bundle holding the
RequestOrchestration (with the ServiceRequest contained and referenced from its action) and the
CarePlan that points to it. When the conditions do not hold, the RequestOrchestration has no
action and the CarePlan no activity.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evidence_publisher.cds.errors import PatientDataError
from evidence_publisher.cds.evaluate import Evaluation, evaluate
from evidence_publisher.cds.recommendation import Recommendation
from evidence_publisher.cds.requests_from_definition import service_request


def _uuid4() -> str:
    return str(uuid.uuid4())


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def split_patient_data(doc: Any, origin: str = "patient data") -> tuple[str, list[dict[str, Any]]]:
    """A Patient, or a Bundle holding exactly one Patient plus that patient's data."""
    if not isinstance(doc, dict) or doc.get("resourceType") not in ("Patient", "Bundle"):
        raise PatientDataError(
            f"{origin} must be a Patient or a Bundle, got "
            f"{(doc or {}).get('resourceType') if isinstance(doc, dict) else doc!r}"
        )
    if doc["resourceType"] == "Patient":
        resources = [doc]
    else:
        resources = [e["resource"] for e in doc.get("entry", []) if isinstance(e.get("resource"), dict)]
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1 or not patients[0].get("id"):
        raise PatientDataError(f"{origin} must contain exactly one Patient with an id, found {len(patients)}")
    return patients[0]["id"], resources


def apply_recommendation(
    rec: Recommendation,
    patient_id: str,
    resources: list[dict[str, Any]],
    *,
    practitioner: str | None = None,
    new_uuid: Callable[[], str] = _uuid4,
    now: Callable[[], str] = _now,
) -> tuple[dict[str, Any], Evaluation]:
    evaluation = evaluate(rec, resources)
    authored = now()
    subject = {"reference": f"Patient/{patient_id}"}
    ro_uuid, cp_uuid = new_uuid(), new_uuid()
    ro: dict[str, Any] = {
        "resourceType": "RequestOrchestration",
        "id": ro_uuid,
        "instantiatesCanonical": [rec.canonical],
        "status": "draft",
        "intent": "proposal",
        "subject": subject,
        "authoredOn": authored,
    }
    if practitioner:
        ro["author"] = {"reference": practitioner}
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": cp_uuid,
        "instantiatesCanonical": [rec.canonical],
        "status": "draft",
        "intent": "proposal",
        "subject": subject,
        "created": authored,
        "title": rec.title,
    }
    if evaluation.applies:
        action: dict[str, Any] = {
            k: rec.action[k]
            for k in ("title", "description", "priority", "documentation", "code")
            if k in rec.action
        }
        if rec.activity is not None and rec.activity.get("kind") == "ServiceRequest":
            sr = service_request(
                rec.activity, request_id=new_uuid(), patient_id=patient_id, requester=practitioner
            )
            sr["intent"] = "option"  # child requests of a proposal are options (CPG)
            ro["contained"] = [sr]
            action["resource"] = {"reference": f"#{sr['id']}"}
        ro["action"] = [action]
        careplan["activity"] = [{"plannedActivityReference": {"reference": f"urn:uuid:{ro_uuid}"}}]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{ro_uuid}", "resource": ro},
            {"fullUrl": f"urn:uuid:{cp_uuid}", "resource": careplan},
        ],
    }
    return bundle, evaluation
