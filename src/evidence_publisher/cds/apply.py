"""``PlanDefinition/$apply`` (R5): a RequestOrchestration and a CarePlan for one patient.

Uses the same evaluation as the CDS service. The result is a collection Bundle holding the
RequestOrchestration (with the ServiceRequest contained and referenced from its action) and the
CarePlan that points to it. When the conditions do not hold, the RequestOrchestration has no
action and the CarePlan no activity.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence_publisher.cds.errors import InvalidRequestError, PatientDataError
from evidence_publisher.cds.evaluate import Evaluation, evaluate
from evidence_publisher.cds.hook_request import FHIR_ID, check_resource, kind, shown
from evidence_publisher.cds.recommendation import Recommendation
from evidence_publisher.cds.requests_from_definition import service_request
from evidence_publisher.jsonio import DuplicateKeyError, loads_untrusted


def _uuid4() -> str:
    return str(uuid.uuid4())


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read_patient_file(path: Path) -> Any:
    """The patient file for ``apply --patient`` (``-``: standard input), read as untrusted JSON:
    size and nesting limits (``InputLimitError``, exit 14) and no duplicate keys."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise PatientDataError(f"cannot read patient file {str(path)!r}: {exc.strerror}") from None
    try:
        return loads_untrusted(raw, str(path))
    except DuplicateKeyError as exc:
        raise PatientDataError(str(exc), details=["each JSON key may appear once per object"]) from None
    except UnicodeDecodeError:
        raise PatientDataError(f"patient file {str(path)!r} is not UTF-8 encoded JSON") from None
    except ValueError as exc:
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        at = f":{line}:{col}" if line is not None else ""
        raise PatientDataError(f"patient file {path!s}{at} is not valid JSON") from None


def split_patient_data(doc: Any, origin: str = "patient data") -> tuple[str, list[dict[str, Any]]]:
    """A Patient, or a Bundle holding exactly one Patient plus that patient's data."""
    if not isinstance(doc, dict) or doc.get("resourceType") not in ("Patient", "Bundle"):
        rtype = doc.get("resourceType") if isinstance(doc, dict) else None
        if isinstance(rtype, str):
            got = f"a {shown(rtype)} resource"
        elif isinstance(doc, dict):
            got = f"an object whose resourceType is {kind(rtype)}"
        else:
            got = kind(doc)
        raise PatientDataError(f"{origin} must be a Patient or a Bundle, got {got[:80]}")
    try:
        check_resource(doc, origin)
    except InvalidRequestError as exc:
        raise PatientDataError(exc.message) from None
    if doc["resourceType"] == "Patient":
        resources = [doc]
    else:
        resources = [e["resource"] for e in doc.get("entry") or [] if isinstance(e.get("resource"), dict)]
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0].get("id"), str) or not patients[0]["id"]:
        raise PatientDataError(f"{origin} must contain exactly one Patient with an id, found {len(patients)}")
    if not FHIR_ID.fullmatch(patients[0]["id"]):
        raise PatientDataError(f"{origin}: the Patient id {shown(patients[0]['id'])} is not a valid FHIR id")
    return patients[0]["id"], resources


def apply_recommendation(
    rec: Recommendation,
    patient_id: str,
    resources: list[dict[str, Any]],
    *,
    practitioner: str | None = None,
    new_uuid: Callable[[], str] = _uuid4,
    now: Callable[[], str] = _now,
    evaluation: Evaluation | None = None,
) -> tuple[dict[str, Any], Evaluation]:
    if evaluation is None:
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
