"""Collection Bundles and NDJSON exports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from evidence_publisher.bundle.entry_text import collection_entry_text
from evidence_publisher.bundle.transaction import dependency_indices, dependency_order, local_ref
from evidence_publisher.jsonio import dumps
from evidence_publisher.spill import ResourceView, SpilledResources, type_ids

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


def collection_entry_texts(
    resources: Sequence[dict], base_url: str, order: Sequence[dict] | None = None
) -> Iterator[str]:
    """The entries of ``collection_entries`` as ``jsonio.dumps`` texts without the trailing
    newline; a spilled resource's is made from its indented text, made once (``SpilledResources.
    indented``) for this and for its own file."""
    if order is None and isinstance(resources, SpilledResources):
        order = resources.view(dependency_indices(resources))
    if not isinstance(order, ResourceView):
        return (dumps(entry)[:-1] for entry in collection_entries(resources, base_url, order))
    base = base_url.rstrip("/")
    store = order.store
    return (
        collection_entry_text(f"{base}/{rtype}/{rid}", store.indented(i))
        for i, (rtype, rid) in ((i, store.keys[i]) for i in order.indices)
    )


def ndjson_lines(resources: Sequence[dict]) -> Iterator[tuple[str, Iterator[str]]]:
    """``(resourceType, its NDJSON lines)`` per type, sorted; the lines are made as they are read
    (only each resource's position is kept meanwhile)."""
    by_type: dict[str, list[tuple[str, int]]] = {}
    for i, (rtype, rid) in enumerate(type_ids(resources)):
        by_type.setdefault(rtype, []).append((rid, i))
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
