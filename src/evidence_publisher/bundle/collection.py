"""Collection Bundles and NDJSON exports."""

from __future__ import annotations

from evidence_publisher.bundle.transaction import dependency_order, local_ref
from evidence_publisher.jsonio import dumps


def collection_bundle(resources: list[dict], base_url: str) -> dict:
    """A collection Bundle; fullUrl is ``<base>/<Type>/<id>`` so relative references resolve."""
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{base}/{local_ref(r)}", "resource": r} for r in dependency_order(resources)],
    }


def ndjson_by_type(resources: list[dict]) -> dict[str, str]:
    """``{resourceType: ndjson text}``, one canonical compact line per resource, sorted by id."""
    by_type: dict[str, list[dict]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    return {
        rtype: "".join(dumps(r, indent=None) + "\n" for r in sorted(items, key=lambda r: r["id"]))
        for rtype, items in sorted(by_type.items())
    }
