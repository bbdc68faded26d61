"""Collection Bundles and NDJSON exports."""

from __future__ import annotations

from collections.abc import Iterator

from evidence_publisher.bundle.transaction import dependency_order, local_ref
from evidence_publisher.jsonio import dumps

COLLECTION_HEAD = {"resourceType": "Bundle", "type": "collection"}


def collection_bundle(resources: list[dict], base_url: str, order: list[dict] | None = None) -> dict:
    """A collection Bundle; fullUrl is ``<base>/<Type>/<id>`` so relative references resolve.

    ``order`` is ``dependency_order(resources)`` when the caller has it already.
    """
    return {**COLLECTION_HEAD, "entry": list(collection_entries(resources, base_url, order))}


def collection_entries(
    resources: list[dict], base_url: str, order: list[dict] | None = None
) -> Iterator[dict]:
    base = base_url.rstrip("/")
    for r in dependency_order(resources) if order is None else order:
        yield {"fullUrl": f"{base}/{local_ref(r)}", "resource": r}


def ndjson_lines(resources: list[dict]) -> Iterator[tuple[str, Iterator[str]]]:
    """``(resourceType, its NDJSON lines)`` per type, sorted; the lines are made as they are read."""
    by_type: dict[str, list[dict]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    for rtype, items in sorted(by_type.items()):
        yield rtype, (dumps(r, indent=None) + "\n" for r in sorted(items, key=lambda r: r["id"]))


def ndjson_by_type(resources: list[dict]) -> dict[str, str]:
    """``{resourceType: ndjson text}``, one canonical compact line per resource, sorted by id."""
    by_type: dict[str, list[dict]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    return {
        rtype: "".join(dumps(r, indent=None) + "\n" for r in sorted(items, key=lambda r: r["id"]))
        for rtype, items in sorted(by_type.items())
    }
