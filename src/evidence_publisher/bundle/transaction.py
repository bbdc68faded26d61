"""Transaction Bundles of conditional updates (see docs/output-format.md).

Each entry is ``PUT <Type>?url=..&version=..`` (or ``?identifier=system|value`` for types without a
url) with no ``id`` in the body, a stable ``urn:uuid`` fullUrl, and internal references rewritten
to those fullUrls, so a server can upsert the whole set atomically and repeatably.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from urllib.parse import quote

from evidence_publisher.bundle.errors import BundleError
from evidence_publisher.bundle.references import reference_targets, rewrite_references
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion


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


def conditional_url(resource: dict, fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> str:
    """``Evidence?url=..&version=..`` or ``Group?identifier=sys|val`` (percent-encoded)."""
    rtype = resource["resourceType"]
    if rtype in fhir.url_searchable_types and resource.get("url"):
        url = f"{rtype}?url={quote(resource['url'], safe='')}"
        if resource.get("version"):
            url += f"&version={quote(resource['version'], safe='')}"
        return url
    ident = _first_identifier(resource)
    if ident is None:
        resource_key(resource, fhir)  # raises the explanatory error
        raise AssertionError("resource_key raises for a resource without an identifier")
    token = f"{ident['system']}|{ident['value']}"
    return f"{rtype}?identifier={quote(token, safe='')}"


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
    for i, res in enumerate(resources):
        position[local_ref(res)] = i  # the last one wins, as it did in a dict of the resources
        targets.append(sorted(reference_targets(res)))
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
    seen: dict[str, str] = {}
    for res in resources:
        key = resource_key(res, fhir)
        if key in seen:
            raise BundleError(
                f"{local_ref(res)} and {seen[key]} share the key {key!r}; one entry per key per "
                "transaction, otherwise the server silently merges or rejects them",
            )
        seen[key] = local_ref(res)
    full_urls = {local_ref(r): entry_full_url(r, fhir) for r in resources}
    return _entries(full_urls, dependency_order(resources) if order is None else order, fhir)


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
