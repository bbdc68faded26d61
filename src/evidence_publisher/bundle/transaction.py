"""Transaction Bundles of conditional updates (see docs/output-format.md).

Each entry is ``PUT <Type>?url=..&version=..`` (or ``?identifier=system|value`` for types without a
url) with no ``id`` in the body, a stable ``urn:uuid`` fullUrl, and internal references rewritten
to those fullUrls, so a server can upsert the whole set atomically and repeatably.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote

from evidence_publisher.bundle.entry_text import transaction_entry_text
from evidence_publisher.bundle.errors import BundleError
from evidence_publisher.bundle.references import RELATIVE_REF, rewrite_references
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.jsonio import dumps
from evidence_publisher.spill import ResourceView, SpilledResources, reference_strings, type_ids


def resource_key(resource: dict, fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> str:
    """The natural key of a resource: ``url|version`` (for the types ``fhir`` can search by url),
    else ``identifier system|value``."""
    rtype = resource.get("resourceType", "?")
    if rtype in fhir.url_searchable_types and resource.get("url"):
        return f"{resource['url']}|{resource.get('version', '')}"
    ident = _first_identifier(resource)
    if ident is None:
        raise BundleError(
            f"{rtype}/{resource.get('id', '?')} has neither a url nor an identifier with "
            "system and value, so it cannot be upserted idempotently; give it an identifier",
        )
    return f"{ident['system']}|{ident['value']}"


def _first_identifier(resource: dict) -> dict | None:
    idents = resource.get("identifier") or []
    for ident in [idents] if isinstance(idents, dict) else idents:  # 0..1 in some R4B resources
        if ident.get("system") and ident.get("value"):
            return ident
    return None


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "_.-~")  # urllib's always safe
# every ASCII character but the unreserved ones, as ``quote(..., safe="")`` encodes it
_PERCENT = {c: f"%{c:02X}" for c in range(128) if chr(c) not in _UNRESERVED}


def _quote_all(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``; ASCII text (every canonical URL) by one translate."""
    return text.translate(_PERCENT) if text.isascii() else quote(text, safe="")


def conditional_url(resource: dict, fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> str:
    """``Evidence?url=..&version=..`` or ``Group?identifier=sys|val`` (percent-encoded)."""
    rtype = resource["resourceType"]
    if rtype in fhir.url_searchable_types and resource.get("url"):
        url = f"{rtype}?url={_quote_all(resource['url'])}"
        if resource.get("version"):
            url += f"&version={_quote_all(resource['version'])}"
        return url
    ident = _first_identifier(resource)
    if ident is None:
        resource_key(resource, fhir)  # raises the explanatory error
        raise AssertionError("resource_key raises for a resource without an identifier")
    token = f"{ident['system']}|{ident['value']}"
    return f"{rtype}?identifier={_quote_all(token)}"


def entry_full_url(resource: dict, fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> str:
    """Stable ``urn:uuid`` for a resource: uuid5 of its natural key."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, resource_key(resource, fhir))}"


def local_ref(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def dependency_order(resources: Sequence[dict]) -> list[dict]:
    """Referenced resources first; ties keep (type, id) order so the output is deterministic."""
    return [resources[i] for i in dependency_indices(resources)]


def dependency_indices(resources: Sequence[dict]) -> list[int]:
    """``dependency_order`` as positions in ``resources``, found reading each resource once and
    keeping only its ``Type/id`` and reference targets (so that resources kept on disk, see
    ``spill.py``, need not all be in memory at once)."""
    position: dict[str, int] = {}
    targets: list[list[str]] = []
    for i, (ref, refs) in enumerate(_outgoing(resources)):
        position[ref] = i  # the last one wins, as it did in a dict of the resources
        targets.append(refs)
    ordered: list[int] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(ref: str) -> None:
        if state.get(ref) == 2:
            return
        if state.get(ref) == 1:  # a cycle: emit in key order, references still resolve in a Bundle
            return
        state[ref] = 1
        for target in targets[position[ref]]:
            if target in position:
                visit(target)
        state[ref] = 2
        ordered.append(position[ref])

    for ref in sorted(position):
        visit(ref)
    return ordered


def _outgoing(resources: Sequence[dict]) -> Iterator[tuple[str, list[str]]]:
    """``(Type/id, its sorted reference targets)`` of each resource, in order."""
    for (rtype, rid), refs in zip(type_ids(resources), reference_strings(resources), strict=True):
        yield f"{rtype}/{rid}", sorted({ref for ref in refs if RELATIVE_REF.match(ref)})


TRANSACTION_HEAD = {"resourceType": "Bundle", "type": "transaction"}


def transaction_bundle(resources: Sequence[dict], fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> dict:
    """A transaction Bundle of conditional PUTs for ``resources`` (relative references inside),
    keyed as a server of FHIR version ``fhir`` can search them.

    Raises BundleError when two resources share a key (a server would merge them) or a resource
    references something that is neither in the set nor external.
    """
    return {**TRANSACTION_HEAD, "entry": list(transaction_entries(resources, fhir=fhir))}


def transaction_entries(
    resources: Sequence[dict], order: Sequence[dict] | None = None, fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> Iterator[dict]:
    """The entries of ``transaction_bundle(resources, fhir)``, made one at a time (keys are checked first).

    ``order`` is ``dependency_order(resources)`` when the caller has it already.
    """
    full_urls = _full_urls(resources, fhir)
    return _entries(full_urls, dependency_order(resources) if order is None else order, fhir)


def transaction_entry_texts(
    resources: Sequence[dict], order: Sequence[dict] | None = None, fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> Iterator[str]:
    """The entries of ``transaction_entries`` as ``jsonio.dumps`` texts without the trailing
    newline; those of spilled resources made from their stored indented text (no parse)."""
    full_urls = _full_urls(resources, fhir)
    if order is None:
        order = (
            resources.view(dependency_indices(resources)) if isinstance(resources, SpilledResources) else None
        )
    order = dependency_order(resources) if order is None else order
    if isinstance(order, ResourceView):
        return _spilled_entry_texts(full_urls, order.store, order.indices, fhir)
    return (dumps(entry)[:-1] for entry in _entries(full_urls, order, fhir))


def _full_urls(resources: Sequence[dict], fhir: FhirVersion) -> dict[str, str]:
    """``Type/id -> entry fullUrl``; raises BundleError at the first resource without a key or
    with another one's key."""
    seen: dict[str, str] = {}
    full_urls: dict[str, str] = {}
    for res in _key_fields(resources):
        key = resource_key(res, fhir)
        if key in seen:
            raise BundleError(
                f"{local_ref(res)} and {seen[key]} share the key {key!r}; one entry per key per "
                "transaction, otherwise the server silently merges or rejects them",
            )
        seen[key] = local_ref(res)
        full_urls[local_ref(res)] = entry_full_url(res, fhir)
    return full_urls


def _key_fields(resources: Sequence[dict]) -> Iterable[dict]:
    if isinstance(resources, SpilledResources):  # recorded when stored: no parse
        return map(resources.key_fields, range(len(resources)))
    return resources


def _spilled_entry_texts(
    full_urls: dict[str, str], store: SpilledResources, indices: Iterable[int], fhir: FhirVersion
) -> Iterator[str]:
    for i in indices:
        fields = store.key_fields(i)
        ref = local_ref(fields)
        text = transaction_entry_text(
            full_urls[ref], conditional_url(fields, fhir), store.indented(i), fields["id"], full_urls.get
        )
        if text is None:  # not the shape expected: from the dict
            text = dumps(next(_entries(full_urls, [store[i]], fhir)))[:-1]
        yield text


def _entries(full_urls: dict[str, str], order: Sequence[dict], fhir: FhirVersion) -> Iterator[dict]:
    for res in order:
        body = {k: v for k, v in res.items() if k != "id"}
        yield {
            "fullUrl": full_urls[local_ref(res)],
            "request": {"method": "PUT", "url": conditional_url(res, fhir)},
            "resource": rewrite_references(body, full_urls.get),
        }


def is_replayable(bundle: dict) -> bool:
    """True when re-sending the transaction cannot create duplicates: every entry is an update or
    a conditional create, so a retry after a lost response is safe."""
    for entry in bundle.get("entry", []):
        req = entry.get("request", {})
        method = req.get("method")
        if method == "PUT" or method == "GET":
            continue
        if method == "POST" and req.get("ifNoneExist"):
            continue
        return False
    return bundle.get("type") == "transaction"
