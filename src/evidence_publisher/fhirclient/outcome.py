"""Reading a server's OperationOutcome, and making server-supplied text safe to print."""

from __future__ import annotations

import re

HAPI_CODE = re.compile(r"\bHAPI-(\d{4})\b")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
MAX_TEXT = 1000  # characters of one server-supplied text kept in a message


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """A server-supplied value made safe to print: control characters (terminal escapes, line
    breaks) become one space, and the text is cut at ``limit`` characters."""
    text = CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strings(value: object) -> list[str]:
    """The strings of a JSON array (anything else in it, or a non-array, is skipped)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def as_list(value: object) -> list:
    return value if isinstance(value, list) else []


def describe_outcome(oo: dict) -> str:
    """One line per error/fatal issue (all issues if none is an error): text, code, expression.

    The OperationOutcome comes from a server: wrong types are skipped and text is cleaned."""
    issues = [i for i in as_list(oo.get("issue")) if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    parts = []
    for issue in errors[:20]:
        details = issue.get("details")
        if not isinstance(details, dict):
            details = {}
        text = issue.get("diagnostics") or details.get("text") or issue.get("code") or ""
        where = strings(issue.get("expression")) or strings(issue.get("location"))
        parts.append(clean_text(text) + (f" (at {clean_text(', '.join(where), 200)})" if where else ""))
    return "; ".join(p for p in parts if p)


def hapi_code(text: str) -> str | None:
    m = HAPI_CODE.search(text or "")
    return f"HAPI-{m.group(1)}" if m else None
