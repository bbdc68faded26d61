"""The shape of a CDS Hooks 2.0 service request, checked before any FHIRPath runs.

A client mistake (a missing field, a number where a string belongs, a prefetch value that is not a
FHIR resource) is answered with 400 and an OperationOutcome naming the field: ``prefetch.patient
.resourceType must be a string naming a FHIR R5 resource type, got a number``. Messages describe
what was sent by its JSON kind and never repeat internal expressions or Python exception text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evidence_publisher.cds.errors import InvalidRequestError
from evidence_publisher.cds.fhir_types import is_resource_type
from evidence_publisher.urlsafety import base_url_problem

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
PREFETCH_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_SHOWN = 64  # characters of a client value repeated in a message


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    patient_id: str
    user_id: str | None
    prefetch: dict[str, Any]  # key -> resource or None; an absent key means "not provided"
    fhir_server: str | None
    fhir_authorization: Any  # checked with fhirServer by CdsService._access


def kind(value: Any) -> str:
    """The JSON kind of ``value`` for a message: ``a number``, ``an array``, ``null`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def shown(value: str) -> str:
    """A client string repeated in a message: quoted, cut at MAX_SHOWN characters."""
    return repr(value if len(value) <= MAX_SHOWN else value[: MAX_SHOWN - 1] + "…")


def _bad(where: str, want: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(f"{where} must be {want}, got {kind(value)}")


def _optional_string(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{where}.{key}" if where else key, "a string", value)
    return value


def check_resource(value: Any, where: str) -> None:
    """``value`` is a FHIR resource object with a known ``resourceType``; a Bundle's entries and a
    resource's ``contained`` are checked the same way (``where`` names the place in messages)."""
    if not isinstance(value, dict):
        raise _bad(where, "a FHIR resource (a JSON object) or null", value)
    rtype = value.get("resourceType")
    if not isinstance(rtype, str):
        raise _bad(f"{where}.resourceType", "a string naming a FHIR R5 resource type", rtype)
    if not is_resource_type(rtype):
        raise InvalidRequestError(f"{where}.resourceType {shown(rtype)} is not a FHIR R5 resource type")
    contained = value.get("contained")
    if contained is not None:
        if not isinstance(contained, list):
            raise _bad(f"{where}.contained", "an array of resources", contained)
        for n, res in enumerate(contained):
            check_resource(res, f"{where}.contained[{n}]")
    if rtype != "Bundle":
        return
    entries = value.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        raise _bad(f"{where}.entry", "an array", entries)
    for n, entry in enumerate(entries):
        at = f"{where}.entry[{n}]"
        if not isinstance(entry, dict):
            raise _bad(at, "an object", entry)
        if entry.get("resource") is not None:
            check_resource(entry["resource"], f"{at}.resource")
        if entry.get("search") is not None and not isinstance(entry["search"], dict):
            raise _bad(f"{at}.search", "an object", entry["search"])


def parse_hook_request(body: Any, service_hook: str, service_id: str) -> HookRequest:
    """Check the request's shape; raise InvalidRequestError naming the first problem."""
    if not isinstance(body, dict):
        raise _bad("the request body", "a JSON object (a CDS Hooks request)", body)
    missing = [k for k in ("hook", "hookInstance", "context") if body.get(k) in (None, "", {}, [])]
    if missing:
        raise InvalidRequestError(f"request is missing {', '.join(repr(k) for k in missing)}")
    hook = body["hook"]
    if not isinstance(hook, str):
        raise _bad("hook", "a string", hook)
    if hook != service_hook:
        raise InvalidRequestError(f"service {service_id!r} answers hook {service_hook!r}, not {shown(hook)}")
    instance = body["hookInstance"]
    if not isinstance(instance, str):
        raise _bad("hookInstance", "a string (a UUID)", instance)
    context = body["context"]
    if not isinstance(context, dict):
        raise _bad("context", "an object", context)
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str):
        raise _bad("context.patientId", "a string (the patient's FHIR id)", patient_id)
    if not FHIR_ID.fullmatch(patient_id):
        raise InvalidRequestError(f"context.patientId {shown(patient_id)} is not a valid FHIR id")
    user_id = _optional_string(context, "userId", "context")
    _optional_string(context, "encounterId", "context")
    if context.get("draftOrders") is not None:
        check_resource(context["draftOrders"], "context.draftOrders")
    selections = context.get("selections")
    if selections is not None and not (
        isinstance(selections, list) and all(isinstance(s, str) for s in selections)
    ):
        raise _bad("context.selections", "an array of strings", selections)
    prefetch = body.get("prefetch")
    if prefetch is None:
        prefetch = {}
    elif not isinstance(prefetch, dict):
        raise _bad("prefetch", "an object", prefetch)
    for key, value in prefetch.items():
        if value is not None:
            check_resource(value, f"prefetch.{key if PREFETCH_KEY.fullmatch(key) else shown(key)}")
    fhir_server = _optional_string(body, "fhirServer", "")
    if fhir_server is not None:
        problem = base_url_problem(fhir_server, "fhirServer")
        if problem is not None:
            raise InvalidRequestError(
                problem, details=["send the access token in fhirAuthorization, never in the URL"]
            )
    extension = body.get("extension")
    if extension is not None and not isinstance(extension, dict):
        raise _bad("extension", "an object", extension)
    return HookRequest(
        hook=hook,
        hook_instance=instance,
        context=context,
        patient_id=patient_id,
        user_id=user_id,
        prefetch=prefetch,
        fhir_server=fhir_server,
        fhir_authorization=body.get("fhirAuthorization"),
    )
