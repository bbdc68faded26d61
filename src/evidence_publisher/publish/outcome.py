"""Reading transaction-response entries, and naming the resource an error is about (the
OperationOutcome text itself is read by ``fhirclient.outcome``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from evidence_publisher.fhirclient.outcome import as_list, strings

STORAGE_CODE_SYSTEM = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
ENTRY_INDEX = re.compile(r"Bundle\.entry\[(\d+)\]")


def storage_code(entry_response: dict) -> str | None:
    """The HAPI storage response code of a transaction-response entry, if the server sent one."""
    oo = entry_response.get("outcome")
    if not isinstance(oo, dict):
        return None
    for issue in as_list(oo.get("issue")):
        details = issue.get("details") if isinstance(issue, dict) else None
        for coding in as_list(details.get("coding") if isinstance(details, dict) else None):
            if isinstance(coding, dict) and coding.get("system") == STORAGE_CODE_SYSTEM:
                code = coding.get("code")
                if isinstance(code, str) and code:
                    return code
    return None


def parse_location(location: str) -> tuple[str, str, str | None]:
    """``Evidence/123/_history/2`` (relative or absolute) -> ("Evidence", "123", "2")."""
    path = location.split("?")[0].rstrip("/")
    parts = path.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        return parts[-4], parts[-3], parts[-1]
    if len(parts) >= 2:
        return parts[-2], parts[-1], None
    raise ValueError(f"cannot read a resource location from {location!r}")


def bare_version(etag: str | None) -> str | None:
    """``W/"3"`` or ``"3"`` or ``3`` -> ``3``."""
    if not isinstance(etag, str) or not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def implicated_resources(text: str, oo: dict | None, entries: Iterable[tuple[str, str, str]]) -> list[str]:
    """Local ``Type/id`` of the entries an error names.

    ``entries`` yields ``(local ref, fullUrl, conditional url)`` in Bundle order. An entry is named
    when the OperationOutcome expression points at ``Bundle.entry[n]``, or the diagnostics quote
    its conditional URL (HAPI-0988/0958/0539), its fullUrl (HAPI-0534/0541) or its local ref.
    """
    entries = list(entries)
    named: list[str] = []
    expressions: list[str] = []
    for issue in as_list((oo or {}).get("issue")):
        if isinstance(issue, dict):
            expressions += strings(issue.get("expression")) + strings(issue.get("location"))
    for expr in expressions:
        m = ENTRY_INDEX.search(expr)
        if m and int(m.group(1)) < len(entries):
            named.append(entries[int(m.group(1))][0])
    plain = unquote(text or "")
    for local, full_url, cond in entries:
        if local in named:
            continue
        if cond and (cond in (text or "") or unquote(cond) in plain):
            named.append(local)
        elif full_url and full_url in plain:
            named.append(local)
    if not named:
        for local, _, _ in entries:
            if re.search(rf"(?<![\w/-]){re.escape(local)}(?![\w-])", plain):
                named.append(local)
    return named
