"""Reading OperationOutcomes and transaction-response entries, and naming the resource an error
is about."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

HAPI_CODE = re.compile(r"\bHAPI-(\d{4})\b")
STORAGE_CODE_SYSTEM = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
ENTRY_INDEX = re.compile(r"Bundle\.entry\[(\d+)\]")


def describe_outcome(oo: dict) -> str:
    """One line per error/fatal issue (all issues if none is an error): text, code, expression."""
    issues = [i for i in oo.get("issue", []) or [] if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    parts = []
    for issue in errors:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code", "")
        where = issue.get("expression") or issue.get("location") or []
        parts.append(f"{text}" + (f" (at {', '.join(where)})" if where else ""))
    return "; ".join(parts)


def hapi_code(text: str) -> str | None:
    m = HAPI_CODE.search(text or "")
    return f"HAPI-{m.group(1)}" if m else None


def storage_code(entry_response: dict) -> str | None:
    """The HAPI storage response code of a transaction-response entry, if the server sent one."""
    oo = entry_response.get("outcome")
    if not isinstance(oo, dict):
        return None
    for issue in oo.get("issue", []) or []:
        for coding in (issue.get("details") or {}).get("coding", []) or []:
            if coding.get("system") == STORAGE_CODE_SYSTEM and coding.get("code"):
                return str(coding["code"])
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
    if not etag:
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
    for issue in (oo or {}).get("issue", []) or []:
        expressions += list(issue.get("expression", []) or []) + list(issue.get("location", []) or [])
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
