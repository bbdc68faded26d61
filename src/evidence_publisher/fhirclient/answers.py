"""What a server answered, read as untrusted input: bodies, error answers, redirects.

A body that is not the JSON FHIR promises is described as what it is (``not JSON (text/html, 1,234
bytes)``, ``a FHIR OperationOutcome resource (HAPI-0550: ...)``), and server-supplied text is
cleaned before it reaches a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from requests.structures import CaseInsensitiveDict

from evidence_publisher import jsonio
from evidence_publisher.errors import InputLimitError
from evidence_publisher.fhirclient.errors import (
    InvalidServerResponseError,
    RedirectRefusedError,
    RejectedByServerError,
    ResponseLimitError,
)
from evidence_publisher.fhirclient.outcome import clean_text, describe_outcome, hapi_code
from evidence_publisher.urlsafety import redact_url


@dataclass
class Answer:
    """One HTTP answer, its body read within the response-size limit."""

    status: int
    headers: CaseInsensitiveDict
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip() or "no Content-Type"


def limit_error(exc: InputLimitError) -> ResponseLimitError:
    return ResponseLimitError(exc.message, details=exc.details)


def describe_body(resp: Answer) -> str:
    """What a body is, for messages: ``not JSON (text/html, 1,234 bytes)``, ``empty``, ..."""
    if not resp.content:
        return "empty"
    try:
        value = jsonio.parse_untrusted(resp.content, "answer").value
    except (ValueError, InputLimitError):
        return f"not JSON ({resp.content_type}, {len(resp.content):,} bytes)"
    return describe_json(value)


def describe_json(value: Any) -> str:
    """What a parsed body is, for messages: ``a FHIR OperationOutcome resource (HAPI-0550: ...)``,
    ``a JSON array``, ``a JSON object without resourceType``."""
    if isinstance(value, dict):
        rtype = value.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            return "a JSON object without resourceType"
        text = describe_outcome(value) if rtype == "OperationOutcome" else ""
        return f"a FHIR {clean_text(rtype, 64)} resource" + (f" ({text})" if text else "")
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return f"a JSON {kinds.get(type(value), 'number')}"


def json_body(
    resp: Answer, label: str, *, fhir: bool = True, base_option: str | None = None
) -> dict[str, Any]:
    """The body of a 2xx answer as a JSON object (a FHIR resource unless ``fhir`` is False), or
    InvalidServerResponseError saying what came instead. ``base_option`` names the option that gave
    the base URL, for the advice."""
    if not resp.content:
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but an empty body ({resp.content_type})"
        )
    try:
        value = jsonio.parse_untrusted(resp.content, f"the answer to {label}").value
    except InputLimitError as exc:
        raise limit_error(exc) from None
    except ValueError:
        where = f"is {base_option} the FHIR base URL? " if base_option else ""
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but the body is not JSON "
            f"({resp.content_type}, {len(resp.content):,} bytes)",
            details=[f"{where}a proxy or login page may be answering instead"],
        ) from None
    if not isinstance(value, dict) or (fhir and not isinstance(value.get("resourceType"), str)):
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but the body is {describe_json(value)}"
        )
    return value


def lenient_json(resp: Answer, label: str) -> Any:
    """The parsed body of an error answer, or None when it is not JSON (the status still counts)."""
    if not resp.content:
        return None
    try:
        return jsonio.parse_untrusted(resp.content, f"the answer to {label}").value
    except InputLimitError as exc:
        raise limit_error(exc) from None
    except ValueError:
        return None


def short_error(resp: Answer, label: str) -> str:
    """The OperationOutcome text of an error answer, or ""."""
    body = lenient_json(resp, label)
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return describe_outcome(body)
    return ""


def redirect_refused(
    label: str, url: str, path: str | None, resp: Answer, base_option: str | None = None
) -> RedirectRefusedError:
    """The error for a 3xx: names the (redacted) target and whether it is another origin. When a
    FHIR request (``path`` below the base) is sent to the same path under another base, the
    server has moved and the message says which ``base_option`` to use; a redirected transaction
    (to the base itself) gets no such advice."""
    location = resp.headers.get("Location")
    try:
        target = urljoin(url, location) if location else None
        there = urlsplit(target) if target else None
    except ValueError:
        target, there = None, None
    if target is None or there is None:
        shown = "a target that is not a URL" if location else "no target"
        return RedirectRefusedError(f"{label}: the server answered HTTP {resp.status}, a redirect to {shown}")
    here = urlsplit(url)
    where = (
        "on the same server"
        if (here.scheme, here.netloc) == (there.scheme, there.netloc)
        else "to another origin"
    )
    details = [
        "redirects are never followed: that would re-send the request body and credentials to "
        "an address you did not give"
    ]
    suffix = "/" + path.split("?", 1)[0] if path else ""
    if suffix and base_option and there.path.endswith(suffix):
        new_base = f"{there.scheme}://{there.netloc}{there.path[: -len(suffix)]}".rstrip("/")
        details.append(
            f"if the FHIR server has moved, give its new base URL: {base_option} {redact_url(new_base)}"
        )
    return RedirectRefusedError(
        f"{label}: the server answered HTTP {resp.status}, redirecting {where}: {redact_url(target)}; "
        "not followed",
        details=details,
    )


def rejected(label: str, status: int, body: Any) -> RejectedByServerError:
    """A RejectedByServerError for an error answer (OperationOutcome text and HAPI code)."""
    text = describe_outcome(body) if isinstance(body, dict) else ""
    code = hapi_code(text)
    return RejectedByServerError(
        f"{label}: HTTP {status}" + (f": {text}" if text else ""),
        status=status,
        hapi_code=code,
        diagnostics=text,
        outcome=body if isinstance(body, dict) else None,
    )
