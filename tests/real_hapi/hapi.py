"""Small helpers for reading a real FHIR server directly (not through the code under test)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from evidence_publisher import jsonio
from evidence_publisher.constants import URL_SEARCHABLE_TYPES

FHIR_JSON = "application/fhir+json"
NO_CACHE = {"Accept": FHIR_JSON, "Cache-Control": "no-cache"}


def get(base: str, path: str) -> Any:
    resp = requests.get(f"{base}/{path}", headers=NO_CACHE, timeout=(5, 120))
    resp.raise_for_status()
    return jsonio.loads(resp.content)


def put(base: str, resource: dict) -> requests.Response:
    """A plain REST update of ``Type/id`` (the body carries the id)."""
    path = f"{resource['resourceType']}/{resource['id']}"
    return requests.put(
        f"{base}/{path}",
        data=jsonio.dumps(resource, indent=None).encode(),
        headers={**NO_CACHE, "Content-Type": FHIR_JSON},
        timeout=(5, 120),
    )


def post(base: str, resource: dict) -> requests.Response:
    """A plain REST create (no condition): the server assigns a new id."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return requests.post(
        f"{base}/{resource['resourceType']}",
        data=jsonio.dumps(body, indent=None).encode(),
        headers={**NO_CACHE, "Content-Type": FHIR_JSON},
        timeout=(5, 120),
    )


def matches(base: str, rtype: str, **params: str) -> list[dict]:
    """Every current resource of ``rtype`` matching the search (follows paging)."""
    query = "&".join(f"{k}={quote(v, safe='|')}" for k, v in params.items())
    url: str | None = f"{base}/{rtype}?{query}&_count=200"
    found: list[dict] = []
    while url:
        resp = requests.get(url, headers=NO_CACHE, timeout=(5, 120))
        resp.raise_for_status()
        bundle = jsonio.loads(resp.content)
        found += [
            e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"
        ]
        url = next((lnk["url"] for lnk in bundle.get("link", []) if lnk["relation"] == "next"), None)
    return found


def version_count(base: str, ref: str) -> int:
    """How many versions ``Type/id`` has (its ``_history`` total)."""
    return int(get(base, f"{ref}/_history?_summary=count")["total"])


def key_params(resource: dict) -> dict[str, str]:
    """The natural key as search parameters (url+version, else the first identifier)."""
    if "url" in resource and resource["resourceType"] in URL_SEARCHABLE_TYPES:
        out = {"url": resource["url"]}
        if resource.get("version"):
            out["version"] = resource["version"]
        return out
    ident = resource["identifier"][0]
    return {"identifier": f"{ident['system']}|{ident['value']}"}


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["reference"]] if isinstance(node.get("reference"), str) else []
        for value in node.values():
            out += references(value)
        return out
    if isinstance(node, list):
        return [r for item in node for r in references(item)]
    return []
