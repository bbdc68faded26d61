"""Load the published knowledge: PlanDefinitions and the resources they point to.

Sources are a build output (``dist/resources/*.json``, a Bundle file or a directory of resources)
or a FHIR R5 server (read with the shared FHIR client: timeouts, retries, credentials, paging
within the base URL).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from evidence_publisher.cds.errors import KnowledgeLoadError
from evidence_publisher.constants import DEFAULT_FHIR_VERSION
from evidence_publisher.fhirclient import Auth, FhirClient, FhirClientError, HttpOptions
from evidence_publisher.jsonio import load_file
from evidence_publisher.publish.loading import built_release

NO_CACHE = {"Cache-Control": "no-cache"}


def split_canonical(canonical: str) -> tuple[str, str | None]:
    url, _, version = canonical.partition("|")
    return url, (version or None)


class KnowledgeBase:
    """Resources indexed by ``Type/id`` and by canonical ``url`` / ``url|version``."""

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        self.resources: list[dict[str, Any]] = list(resources)
        self._by_ref: dict[str, dict[str, Any]] = {}
        self._by_url: dict[str, list[dict[str, Any]]] = {}
        self._assessments: dict[str, list[dict[str, Any]]] = {}
        for res in self.resources:
            rtype, rid = res.get("resourceType"), res.get("id")
            if rid:
                self._by_ref[f"{rtype}/{rid}"] = res
            if isinstance(res.get("url"), str):
                self._by_url.setdefault(res["url"], []).append(res)
            if rtype == "ArtifactAssessment":
                target = res.get("artifactReference")
                ref = target.get("reference") if isinstance(target, dict) else None
                if isinstance(ref, str):
                    self._assessments.setdefault(ref, []).append(res)

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r.get("resourceType") == rtype]

    def resolve(self, canonical: str, rtype: str | None = None) -> dict[str, Any] | None:
        """Resolve ``url|version`` (or a bare url: the highest version string wins)."""
        url, version = split_canonical(canonical)
        candidates = [r for r in self._by_url.get(url, []) if rtype is None or r.get("resourceType") == rtype]
        if version is not None:
            candidates = [r for r in candidates if r.get("version") == version]
        if not candidates:
            return None
        return sorted(candidates, key=lambda r: str(r.get("version", "")))[-1]

    def by_reference(self, reference: str) -> dict[str, Any] | None:
        return self._by_ref.get(reference)

    def assessments_of(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self._assessments.get(f"{resource['resourceType']}/{resource.get('id')}", []))


def is_experimental(plan: dict[str, Any]) -> bool:
    return plan.get("resourceType") == "PlanDefinition" and plan.get("experimental") is True


def without_experimental(kb: KnowledgeBase) -> tuple[KnowledgeBase, list[str]]:
    """The knowledge without experimental PlanDefinitions, and the ``url|version`` of each one
    left out (what the service says it skipped)."""
    skipped = [
        f"{p.get('url', 'PlanDefinition/' + str(p.get('id')))}|{p.get('version', '')}".rstrip("|")
        for p in kb.resources
        if is_experimental(p)
    ]
    if not skipped:
        return kb, []
    return KnowledgeBase(r for r in kb.resources if not is_experimental(r)), sorted(skipped)


def _resources_from(doc: Any, origin: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or "resourceType" not in doc:
        raise KnowledgeLoadError(f"{origin} is not a FHIR resource (no resourceType)")
    if doc["resourceType"] == "Bundle":
        return [e["resource"] for e in doc.get("entry", []) if isinstance(e.get("resource"), dict)]
    return [doc]


def load_from_path(path: str | Path) -> KnowledgeBase:
    """Load a build directory (``resources/`` inside it), a directory of JSON or one Bundle file."""
    p = Path(path)
    if p.is_dir():
        release = built_release(p)
        if release != DEFAULT_FHIR_VERSION.release:
            raise KnowledgeLoadError(
                f"{str(p)!r} is a FHIR {release} build; serve and apply read "
                f"{DEFAULT_FHIR_VERSION.release} builds",
                details=[f"build without --fhir-version for {DEFAULT_FHIR_VERSION.release}"],
            )
        folder = p / "resources" if (p / "resources").is_dir() else p
        files = sorted(folder.glob("*.json"))
        if not files:
            raise KnowledgeLoadError(
                f"no FHIR JSON files in {str(folder)!r}",
                details=["run 'evidence-publisher build --out DIR' first, or give --fhir-server"],
            )
    elif p.is_file():
        files = [p]
    else:
        raise KnowledgeLoadError(
            f"knowledge source {str(p)!r} does not exist",
            details=["give a build output directory (evidence-publisher build --out DIR)"],
        )
    resources: list[dict[str, Any]] = []
    for f in files:
        try:
            doc = load_file(f)
        except (OSError, ValueError) as exc:
            raise KnowledgeLoadError(f"cannot read {str(f)!r}: {exc}") from exc
        resources.extend(_resources_from(doc, str(f)))
    return KnowledgeBase(resources)


def _search(client: FhirClient, rtype: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every ``rtype`` resource of a search, over all its pages."""
    found: list[dict[str, Any]] = []
    # HAPI answers an identical search from its result cache for 60 s (also after a publish whose
    # dry run searched the same keys): ask for the current state.
    for bundle in client.pages(f"{rtype}?{urlencode(params)}", headers=NO_CACHE):
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            entries = []
        found.extend(
            e["resource"]
            for e in entries
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == rtype
        )
    return found


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _canonicals(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """The canonicals a PlanDefinition from the server points to (malformed parts are skipped;
    compiling the recommendation reports what is missing)."""
    out: list[tuple[str, str]] = []
    for ra in _objects(plan.get("relatedArtifact")):
        if ra.get("type") == "citation" and isinstance(ra.get("resource"), str):
            out.append(("Citation", ra["resource"]))
    for action in _objects(plan.get("action")):
        for doc in _objects(action.get("documentation")):
            if isinstance(doc.get("resource"), str):
                out.append(("Evidence", doc["resource"]))
        if isinstance(action.get("definitionCanonical"), str):
            out.append(("ActivityDefinition", action["definitionCanonical"]))
    return out


def load_from_server(
    base: str,
    *,
    timeout: float = 10.0,
    session: requests.Session | None = None,
    auth: Auth | None = None,
    options: HttpOptions | None = None,
) -> KnowledgeBase:
    """Read eca-rule PlanDefinitions and what they point to from a FHIR R5 server, with ``auth``
    (``--token-file`` etc.); ``options`` default to ``timeout`` for connecting and reading, and
    publish's retries (start-up is not latency-bound, and a server may still be starting)."""
    options = options or HttpOptions(connect_timeout=timeout, read_timeout=timeout)
    try:
        with FhirClient(base, auth=auth, options=options, session=session, base_option="--fhir-server") as c:
            return _load(c)
    except FhirClientError as exc:  # also a --fhir-server with credentials in it: exit 40 either way
        raise KnowledgeLoadError(exc.message, details=exc.details) from None


def _load(client: FhirClient) -> KnowledgeBase:
    plans = _search(client, "PlanDefinition", {"type": "eca-rule", "_count": "100"})
    resources: dict[str, dict[str, Any]] = {}
    for plan in plans:
        resources[f"PlanDefinition/{plan.get('id')}"] = plan
        for rtype, canonical in _canonicals(plan):
            url, version = split_canonical(canonical)
            params = {"url": url, **({"version": version} if version else {})}
            for res in _search(client, rtype, params):
                resources[f"{rtype}/{res.get('id')}"] = res
    if any(k.startswith("Evidence/") for k in resources):
        # R5 ArtifactAssessment has no 'artifact' search parameter (hapi-behaviours.md §11):
        # read them all and keep those about the loaded Evidence.
        for aa in _search(client, "ArtifactAssessment", {"_count": "200"}):
            ref = aa.get("artifactReference")
            if (
                isinstance(ref, dict)
                and isinstance(ref.get("reference"), str)
                and ref["reference"] in resources
            ):
                resources[f"ArtifactAssessment/{aa.get('id')}"] = aa
    return KnowledgeBase(resources[k] for k in sorted(resources))
