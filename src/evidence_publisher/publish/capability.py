"""Checking a server's CapabilityStatement before sending anything."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.fhirclient.outcome import clean_text
from evidence_publisher.jsonio import as_object
from evidence_publisher.publish.errors import ServerUnsuitableError


def _release_pattern(fhir: FhirVersion) -> re.Pattern[str]:
    return re.compile(re.escape(fhir.major_minor) + r"\.\d+$")  # any patch of the release


# Per resource type: upsert by conditional PUT, and search to preview / verify.
TYPE_INTERACTIONS = ("update", "search-type")


@dataclass(frozen=True)
class ServerInfo:
    fhir_version: str
    software: str
    supports_batch: bool


def check_capability(
    statement: object,
    resource_types: Iterable[str],
    *,
    need_transaction: bool = True,
    search_params: Mapping[str, set[str]] | None = None,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> ServerInfo:
    """Raise ServerUnsuitableError naming everything missing (a server of another FHIR version
    than ``fhir`` among it); return what we learned otherwise."""
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        raise ServerUnsuitableError(
            "GET [base]/metadata did not return a CapabilityStatement; is --server the FHIR base "
            "URL (e.g. http://localhost:8080/fhir)?",
        )
    missing: list[str] = []
    version = clean_text(statement.get("fhirVersion", ""), 40)
    if not _release_pattern(fhir).match(version):
        missing.append(
            f"fhirVersion is {version or '(missing)'!r}, need {fhir.major_minor}.x "
            f"(FHIR {fhir.release}); for HAPI start it with hapi.fhir.fhir_version={fhir.release}"
        )
    rest = next((r for r in _objects(statement.get("rest")) if r.get("mode") == "server"), None)
    if rest is None:
        missing.append("no rest entry with mode 'server'")
        rest = {}
    declared = {r.get("type"): r for r in _objects(rest.get("resource")) if isinstance(r.get("type"), str)}
    for rtype in sorted(set(resource_types)):
        entry = declared.get(rtype)
        if entry is None:
            missing.append(f"resource type {rtype} is not supported")
            continue
        have = {i.get("code") for i in _objects(entry.get("interaction"))}
        lacking = [i for i in TYPE_INTERACTIONS if i not in have]
        if lacking:
            missing.append(f"{rtype} lacks interaction(s) {', '.join(lacking)}")
        declared_params = {p.get("name") for p in _objects(entry.get("searchParam"))}
        wanted = (search_params or {}).get(rtype, set())
        # only judged when the server lists its search parameters at all
        if declared_params and not wanted <= declared_params:
            absent = ", ".join(sorted(wanted - declared_params))
            missing.append(
                f"{rtype} lacks search parameter(s) {absent}, needed to match resources by their key"
            )
    system = {i.get("code") for i in _objects(rest.get("interaction"))}
    if need_transaction and "transaction" not in system:
        missing.append("system interaction 'transaction' is not supported")
    software = as_object(statement.get("software"))
    label = clean_text(" ".join(str(software.get(k, "")) for k in ("name", "version")), 100)
    if missing:
        raise ServerUnsuitableError(
            f"the server is not suitable for publishing ({len(missing)} problem"
            f"{'s' if len(missing) != 1 else ''})",
            details=missing,
        )
    # HAPI serves batch Bundles with the same operation as transactions and lists only
    # 'transaction' in its CapabilityStatement; a server that lists either gets batched lookups.
    return ServerInfo(version, label or "unknown", bool({"batch", "transaction"} & system))


def _objects(value: object) -> list[dict]:
    """The JSON objects of a list from the server (anything else is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
