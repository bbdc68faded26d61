"""Build the request resource an ActivityDefinition describes (R5 ``$apply`` semantics, subset).

Copied from the ActivityDefinition: ``code`` (as a CodeableReference), ``intent``, ``priority``,
``doNotPerform``, ``participant.role`` (as ``performerType``), ``bodySite``; the request
``instantiatesCanonical`` the definition. ``dynamicValue`` is not evaluated (documented limit).
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.cds.errors import RecommendationError


def _canonical(resource: dict[str, Any]) -> str:
    url = resource.get("url", "")
    return f"{url}|{resource['version']}" if resource.get("version") else url


def service_request(
    activity: dict[str, Any],
    *,
    request_id: str,
    patient_id: str,
    requester: str | None = None,
    intent: str | None = None,
) -> dict[str, Any]:
    if activity.get("kind") != "ServiceRequest":
        raise RecommendationError(
            f"ActivityDefinition/{activity.get('id')}: kind {activity.get('kind')!r} is not supported",
            details=["the service builds ServiceRequest suggestions only"],
        )
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_id,
        "status": "draft",
        "intent": intent or activity.get("intent") or "proposal",
        "instantiatesCanonical": [_canonical(activity)],
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if activity.get("code"):
        sr["code"] = {"concept": activity["code"]}
    for key in ("priority", "doNotPerform", "bodySite"):
        if key in activity:
            sr[key] = activity[key]
    roles = [p["role"] for p in activity.get("participant", []) if p.get("role")]
    if roles:
        sr["performerType"] = roles[0]
    if requester and requester.split("/", 1)[0] in ("Practitioner", "PractitionerRole"):
        sr["requester"] = {"reference": requester}
    return sr
