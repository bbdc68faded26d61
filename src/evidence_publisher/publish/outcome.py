"""Reading OperationOutcomes and transaction-response entries, and naming the resource an error
is about."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from evidence_publisher.jsonio import as_array, as_object

HAPI_CODE = re.compile(r"\bHAPI-(\d{4})\b")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
MAX_TEXT = 1000  # characters of one server-supplied text kept in a message
STORAGE_CODE_SYSTEM = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
ENTRY_INDEX = re.compile(r"Bundle\.entry\[(\d+)\]")


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """A server-supplied value made safe to print: control characters (terminal escapes, line
    breaks) become one space, and the text is cut at ``limit`` characters."""
    text = CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def describe_outcome(oo: dict) -> str:
    """One line per error/fatal issue (all issues if none is an error): text, code, expression.

    The OperationOutcome comes from a server: wrong types are skipped and text is cleaned."""
    issues = [i for i in as_array(oo.get("issue")) if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    parts = []
    for issue in errors[:20]:
        details = as_object(issue.get("details"))
        text = issue.get("diagnostics") or details.get("text") or issue.get("code") or ""
        where = _strings(issue.get("expression")) or _strings(issue.get("location"))
        parts.append(clean_text(text) + (f" (at {clean_text(', '.join(where), 200)})" if where else ""))
    return "; ".join(p for p in parts if p)


def hapi_code(text: str) -> str | None:
    m = HAPI_CODE.search(text or "")
    return f"HAPI-{m.group(1)}" if m else None


def storage_code(entry_response: dict) -> str | None:
    """The HAPI storage response code of a transaction-response entry, if the server sent one."""
    oo = entry_response.get("outcome")
    if not isinstance(oo, dict):
        return None
    for issue in as_array(oo.get("issue")):
        details = issue.get("details") if isinstance(issue, dict) else None
        for coding in as_array(details.get("coding") if isinstance(details, dict) else None):
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
    for issue in as_array((oo or {}).get("issue")):
        if isinstance(issue, dict):
            expressions += _strings(issue.get("expression")) + _strings(issue.get("location"))
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
