"""Collect the patient's data for a recommendation: from prefetch, else from ``fhirServer``.

Prefetch semantics (CDS Hooks 2.0): an absent key means "not provided" (fetch it or answer 412),
``null`` means "no data", and an OperationOutcome value is a prefetch error, never clinical data.
The ``fhirAuthorization.access_token`` is used only as a Bearer header to ``fhirServer``; it is
never logged, stored or put into an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from evidence_publisher.cds.errors import InvalidRequestError, MissingDataError
from evidence_publisher.cds.recommendation import Recommendation
from evidence_publisher.jsonio import loads

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_PAGES = 10
PATIENT_KEY = "patient"
PATIENT_QUERY = "Patient/{{context.patientId}}"


def prefetch_templates(rec: Recommendation) -> dict[str, str]:
    templates = {PATIENT_KEY: PATIENT_QUERY}
    templates.update({i.key: i.query for i in rec.inputs})
    return templates


def render(template: str, patient_id: str) -> str:
    return template.replace("{{context.patientId}}", quote(patient_id, safe=""))


@dataclass
class FhirAccess:
    """Where and how to fetch missing data; ``token`` lives only for one request."""

    server: str
    token: str
    timeout: float
    session: requests.Session | None = None

    def __repr__(self) -> str:  # keeps the token out of any accidental repr/log
        return f"FhirAccess(server={self.server!r}, token=<redacted>)"


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _resources(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, dict) or "resourceType" not in value:
        raise InvalidRequestError(f"prefetch value is not a FHIR resource or null: {str(value)[:80]!r}")
    if value["resourceType"] != "Bundle":
        return [value]
    out = []
    for entry in value.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        # search.mode=outcome entries and OperationOutcomes are messages, not clinical data.
        if (
            isinstance(res, dict)
            and not _is_outcome(res)
            and (entry.get("search") or {}).get("mode") != "outcome"
        ):
            out.append(res)
    return out


def _fetch(access: FhirAccess, query: str) -> list[dict[str, Any]]:
    session = access.session or requests.Session()
    headers = {"Authorization": f"Bearer {access.token}", "Accept": "application/fhir+json"}
    url: str | None = f"{access.server.rstrip('/')}/{query}"
    out: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        if url is None:
            return out
        path = url.split("?", 1)[0]
        try:
            resp = session.get(url, headers=headers, timeout=access.timeout)
        except requests.RequestException as exc:
            raise MissingDataError(
                f"fetching {path!r} from fhirServer failed: {type(exc).__name__}"
            ) from None
        if resp.status_code == 404 and "?" not in query:
            return out
        if resp.status_code != 200:
            raise MissingDataError(f"fhirServer answered {resp.status_code} to GET {path!r}")
        try:
            doc = loads(resp.content)
        except ValueError:
            raise MissingDataError(f"fhirServer returned invalid JSON for GET {path!r}") from None
        if _is_outcome(doc):
            raise MissingDataError(f"fhirServer returned an OperationOutcome for GET {path!r}")
        out.extend(_resources(doc))
        url = None
        if doc.get("resourceType") == "Bundle":
            url = next(
                (link.get("url") for link in doc.get("link", []) if link.get("relation") == "next"),
                None,
            )
            if url and not url.startswith(access.server.rstrip("/")):
                raise MissingDataError("fhirServer paging link points to another server; refused")
    raise MissingDataError(f"more than {MAX_PAGES} pages from fhirServer for {query.split('?')[0]!r}")


def gather(
    rec: Recommendation,
    patient_id: str,
    prefetch: dict[str, Any] | None,
    access: FhirAccess | None,
) -> list[dict[str, Any]]:
    """Return the Patient and every resource the recommendation's inputs name."""
    if not FHIR_ID.match(patient_id):
        raise InvalidRequestError(f"context.patientId {patient_id!r} is not a valid FHIR id")
    prefetch = prefetch or {}
    resources: list[dict[str, Any]] = []
    missing: list[str] = []
    for key, template in prefetch_templates(rec).items():
        value = prefetch.get(key, ...)
        if value is not ... and not _is_outcome(value):
            resources.extend(_resources(value))
            continue
        if access is None:
            missing.append(key)
            continue
        resources.extend(_fetch(access, render(template, patient_id)))
    if missing:
        raise MissingDataError(
            f"prefetch {missing!r} missing and no fhirServer with fhirAuthorization to fetch it",
            details=[f"provide prefetch keys {missing!r} or fhirServer + fhirAuthorization"],
        )
    return resources
