"""Collect the patient's data for a recommendation: from prefetch, else from ``fhirServer``.

Prefetch semantics (CDS Hooks 2.0): an absent key means "not provided" (fetch it or answer 412),
``null`` means "no data", and an OperationOutcome value is a prefetch error, never clinical data.
The ``fhirAuthorization.access_token`` is used only as a Bearer header to ``fhirServer``; it is
never logged, stored or put into an error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from evidence_publisher.cds.config import hook_http_options
from evidence_publisher.cds.errors import MissingDataError
from evidence_publisher.cds.evaluate import Sourced
from evidence_publisher.cds.fhir_types import is_resource_type
from evidence_publisher.cds.recommendation import Recommendation
from evidence_publisher.fhirclient import (
    BearerAuth,
    FhirClient,
    FhirClientError,
    RejectedByServerError,
)
from evidence_publisher.urlsafety import redact_url

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
    """The clinical resources in a prefetch value whose shape ``hook_request.check_resource``
    (or ``_check_fetched``) has already accepted."""
    if value is None:
        return []
    if value["resourceType"] != "Bundle":
        return [value]
    out = []
    for entry in value.get("entry") or []:
        res = entry.get("resource")
        # search.mode=outcome entries and OperationOutcomes are messages, not clinical data.
        if (
            isinstance(res, dict)
            and not _is_outcome(res)
            and (entry.get("search") or {}).get("mode") != "outcome"
        ):
            out.append(res)
    return out


def _check_fetched(doc: Any, what: str) -> None:
    """A fetched document must be a resource of a known type; a Bundle's entries likewise."""
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise MissingDataError(f"{what}: fhirServer did not return a FHIR resource")
    if not is_resource_type(doc["resourceType"]):
        raise MissingDataError(f"{what}: fhirServer returned an unknown resourceType")
    if doc["resourceType"] == "Bundle":
        entries = doc.get("entry")
        if entries is not None and not (
            isinstance(entries, list)
            and all(
                isinstance(e, dict)
                and (e.get("resource") is None or _is_known_resource(e["resource"]))
                and isinstance(e.get("search") or {}, dict)
                for e in entries
            )
        ):
            raise MissingDataError(f"{what}: fhirServer returned a Bundle with malformed entries")


def _is_known_resource(value: Any) -> bool:
    rtype = value.get("resourceType") if isinstance(value, dict) else None
    return isinstance(rtype, str) and is_resource_type(rtype)


def _fetch(access: FhirAccess, key: str, query: str) -> list[dict[str, Any]]:
    """GET ``query`` from fhirServer and its next pages (under the same base, within the page
    limit) with the shared client; never follows a redirect: the bearer token must reach only the
    server the client named."""
    client = FhirClient(
        access.server,
        auth=BearerAuth(access.token, "fhirAuthorization"),
        options=hook_http_options(access.timeout),
        session=access.session,
        base_option="fhirServer",
        hide_queries=True,
    )
    what = f"GET {redact_url(client.base_url + '/' + query.split('?', 1)[0])!r} for prefetch {key!r}"
    out: list[dict[str, Any]] = []
    try:
        for doc in client.pages(query):
            if _is_outcome(doc):
                raise MissingDataError(f"{what}: fhirServer returned an OperationOutcome")
            _check_fetched(doc, what)
            out.extend(_resources(doc))
    except FhirClientError as exc:
        if isinstance(exc, RejectedByServerError) and exc.status == 404 and "?" not in query:
            return []  # a read of a resource the server does not have: no data
        raise MissingDataError(f"prefetch {key!r} from fhirServer: {exc.message}") from None
    finally:
        client.close()
    return out


def gather(
    rec: Recommendation,
    patient_id: str,
    prefetch: dict[str, Any],
    access: FhirAccess | None,
) -> list[Sourced]:
    """The Patient and every resource the recommendation's inputs name, each with where it came
    from (``prefetch.<key>`` or the fhirServer fetch for that key). ``prefetch`` has passed
    ``hook_request.parse_hook_request``."""
    resources: list[Sourced] = []
    missing: list[str] = []
    for key, template in prefetch_templates(rec).items():
        value = prefetch.get(key, ...)
        if value is not ... and not _is_outcome(value):
            resources.extend((f"prefetch.{key}", res) for res in _resources(value))
            continue
        if access is None:
            missing.append(key)
            continue
        origin = f"the data fhirServer returned for prefetch {key!r}"
        resources.extend((origin, res) for res in _fetch(access, key, render(template, patient_id)))
    if missing:
        raise MissingDataError(
            f"prefetch {missing!r} missing and no fhirServer with fhirAuthorization to fetch it",
            details=[f"provide prefetch keys {missing!r} or fhirServer + fhirAuthorization"],
        )
    return resources
