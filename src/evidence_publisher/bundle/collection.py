"""Collection Bundles and NDJSON exports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from evidence_publisher.bundle.transaction import dependency_order, local_ref
from evidence_publisher.jsonio import dumps
from evidence_publisher.spill import SpilledResources

COLLECTION_HEAD = {"resourceType": "Bundle", "type": "collection"}


def collection_bundle(resources: Sequence[dict], base_url: str, order: Sequence[dict] | None = None) -> dict:
    """A collection Bundle; fullUrl is ``<base>/<Type>/<id>`` so relative references resolve.

    ``order`` is ``dependency_order(resources)`` when the caller has it already.
    """
    return {**COLLECTION_HEAD, "entry": list(collection_entries(resources, base_url, order))}


def collection_entries(
    resources: Sequence[dict], base_url: str, order: Sequence[dict] | None = None
) -> Iterator[dict]:
    base = base_url.rstrip("/")
    for r in dependency_order(resources) if order is None else order:
        yield {"fullUrl": f"{base}/{local_ref(r)}", "resource": r}


def ndjson_lines(resources: Sequence[dict]) -> Iterator[tuple[str, Iterator[str]]]:
    """``(resourceType, its NDJSON lines)`` per type, sorted; the lines are made as they are read
    (only each resource's position is kept meanwhile)."""
    by_type: dict[str, list[tuple[str, int]]] = {}
    for i, res in enumerate(resources):
        by_type.setdefault(res["resourceType"], []).append((res["id"], i))
    for rtype, items in sorted(by_type.items()):
        yield rtype, (_ndjson_line(resources, i) for _id, i in sorted(items, key=lambda item: item[0]))


def _ndjson_line(resources: Sequence[dict], index: int) -> str:
    if isinstance(resources, SpilledResources):  # its stored text is the line already
        return resources.text(index).decode("utf-8") + "\n"
    return dumps(resources[index], indent=None) + "\n"


def ndjson_by_type(resources: Sequence[dict]) -> dict[str, str]:
    """``{resourceType: ndjson text}``, one canonical compact line per resource, sorted by id."""
    by_type: dict[str, list[dict]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(res)
    return {
        rtype: "".join(dumps(r, indent=None) + "\n" for r in sorted(items, key=lambda r: r["id"]))
        for rtype, items in sorted(by_type.items())
    }
