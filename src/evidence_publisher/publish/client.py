"""A thin FHIR REST client: one ``requests.Session``, explicit timeouts, careful retries.

Retry policy: connection errors (refused, reset, dropped), timeouts and HTTP 429/502/503/504 are
retried with exponential backoff and full jitter, honouring ``Retry-After``, but only for
requests that are safe to repeat: GETs, and Bundles whose every entry is idempotent (checked on
the Bundle itself by :func:`bundle_is_replayable`, never assumed). Other 4xx are never retried.
A 401 triggers one re-authentication when the auth method can refresh (SMART).

Redirects are never followed (``allow_redirects=False`` on every call): a 3xx stops the run with
an error naming the target, because following it would re-send the body, a whole transaction, to
wherever the server points (``requests`` re-POSTs on 307/308 and strips Authorization only across
hosts). Every answer is read within ``limits.SERVER_RESPONSE_BYTES`` and the nesting-depth limit,
and an answer that is not the JSON FHIR promises is described as what it is.

Nothing here logs headers or bodies, and every URL in a message or log line passes through
``urlsafety.redact_url``, so credentials never reach a log.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from evidence_publisher import __version__, jsonio
from evidence_publisher.bundle.transaction import is_replayable
from evidence_publisher.errors import InputLimitError
from evidence_publisher.httpread import read_limited
from evidence_publisher.publish.auth import Auth
from evidence_publisher.publish.errors import (
    AuthFailedError,
    InvalidServerResponseError,
    PublishConfigError,
    RedirectRefusedError,
    RejectedByServerError,
    ResponseLimitError,
    ServerUnreachableError,
)
from evidence_publisher.publish.outcome import clean_text, describe_outcome, hapi_code
from evidence_publisher.urlsafety import base_url_problem, install_log_redaction, redact_url

log = logging.getLogger("evidence_publisher.publish")

FHIR_JSON = "application/fhir+json"
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


@dataclass
class HttpOptions:
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    max_retries: int = 5
    backoff_base: float = 0.5  # seconds; attempt n waits up to base * 2**n (full jitter)
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: we give up
    verify: bool | str = True  # False (``--insecure``) or a CA bundle path
    user_agent: str = f"evidence-publisher/{__version__}"


@dataclass
class FhirResponse:
    status: int
    headers: dict[str, str]
    body: Any
    attempts: int = 1
    # True when an earlier attempt of this request may have reached the server (a timeout or a
    # dropped connection after sending); the server may have applied it already.
    maybe_applied_before: bool = False


@dataclass
class ClientStats:
    requests_sent: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)


def bundle_is_replayable(bundle: dict) -> bool:
    """True when re-sending ``bundle`` cannot create duplicates or clobber newer data: a
    transaction of PUTs / conditional creates / GETs (see ``bundle.transaction.is_replayable``)
    or a batch of GETs only."""
    if bundle.get("type") == "batch":
        return all(e.get("request", {}).get("method") == "GET" for e in bundle.get("entry", []))
    return is_replayable(bundle)


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; refuses credentials, a query string or a fragment
    (the URL is shown in messages, logs and process lists)."""
    problem = base_url_problem(url, "--server")
    if problem is not None:
        raise PublishConfigError(
            f"{problem}: {redact_url(url)!r}",
            details=[
                "give the FHIR base URL only, e.g. http://localhost:8080/fhir; credentials come from "
                "--token-file or FHIR_TOKEN, --basic-auth-file or FHIR_USERNAME/FHIR_PASSWORD, or "
                "the SMART options (see docs/publishing.md#authentication)",
            ],
        )
    return url.rstrip("/")


@dataclass
class _Answer:
    """One HTTP answer, its body read within the response-size limit."""

    status: int
    headers: requests.structures.CaseInsensitiveDict
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip() or "no Content-Type"


class FhirClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        options: HttpOptions | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = check_base_url(base_url)
        install_log_redaction()  # urllib3 logs every request URL at DEBUG level
        self.auth = auth
        self.options = options or HttpOptions()
        self.session = session or requests.Session()
        self.session.verify = self.options.verify
        self.session.headers.update({"User-Agent": self.options.user_agent})
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ high level
    def metadata(self) -> dict:
        return self.request("GET", "metadata").body

    def search(self, path_and_query: str, headers: dict[str, str] | None = None) -> dict:
        return self.request("GET", path_and_query, headers=headers).body

    def send_bundle(self, bundle: dict, *, headers: dict[str, str] | None = None) -> FhirResponse:
        """POST a transaction or batch Bundle to the base; retried only if replayable."""
        return self.request("POST", "", body=bundle, headers=headers, replayable=bundle_is_replayable(bundle))

    # ------------------------------------------------------------------ core
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        replayable: bool | None = None,
    ) -> FhirResponse:
        """Send one FHIR request and return a 2xx response, or raise a PublishError.

        ``replayable`` defaults to True for GET and False otherwise.
        """
        url = f"{self.base_url}/{path}" if path else self.base_url
        safe = (method == "GET") if replayable is None else replayable
        data = jsonio.dumps(body, indent=None).encode("utf-8") if body is not None else None
        req_headers = {"Accept": FHIR_JSON}
        if data is not None:
            req_headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        req_headers.update(headers or {})
        label = f"{method} {redact_url(url)}"
        attempt = 0
        reauthed = False
        maybe_applied = False
        while True:
            attempt += 1
            if self.auth is not None:
                req_headers.update(self.auth.headers(self))
            started = time.monotonic()
            try:
                self.stats.requests_sent += 1
                resp = self._send(method, url, label, data=data, headers=req_headers)
            except requests.exceptions.RequestException as exc:
                reason = _connection_reason(exc)
                if not isinstance(exc, requests.exceptions.ConnectTimeout) and reason != "connection refused":
                    maybe_applied = True
                log.info("%s failed after %.2f s: %s", label, time.monotonic() - started, reason)
                if safe and attempt <= self.options.max_retries:
                    self._backoff(attempt, None, label, reason)
                    continue
                raise ServerUnreachableError(
                    f"{label}: {reason}",
                    details=self._gave_up_details(attempt, safe),
                ) from None
            log.debug("%s -> %s in %.3f s", label, resp.status, time.monotonic() - started)
            if 300 <= resp.status < 400:
                raise redirect_refused(label, url, path, resp)
            if resp.status in TRANSIENT_STATUS:
                reason = f"HTTP {resp.status}"
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if safe and attempt <= self.options.max_retries:
                    if retry_after is not None and retry_after > self.options.max_retry_after:
                        raise ServerUnreachableError(
                            f"{label}: HTTP {resp.status} asking to retry after "
                            f"{retry_after:.0f} s, more than the {self.options.max_retry_after:.0f}"
                            " s we wait; try again later",
                        )
                    self._backoff(attempt, retry_after, label, reason)
                    continue
                raise ServerUnreachableError(
                    f"{label}: HTTP {resp.status} {_short_error(resp, label)}".rstrip(),
                    details=self._gave_up_details(attempt, safe),
                )
            if resp.status == 401 and self.auth is not None and not reauthed and self.auth.refresh():
                reauthed = True
                log.info("%s: 401, re-authenticating once", label)
                continue
            if resp.status in (401, 403):
                how = self.auth.describe() if self.auth is not None else "no credentials"
                raise AuthFailedError(
                    f"{label}: HTTP {resp.status} with {how}",
                    details=[
                        _short_error(resp, label) or "the server gave no reason",
                        "set FHIR_TOKEN, --token-file, FHIR_USERNAME/FHIR_PASSWORD or the "
                        "SMART options (see docs/publishing.md#authentication)",
                    ],
                )
            if resp.status >= 400:
                parsed = _lenient_json(resp, label)
                err = rejected(label, resp.status, parsed)
                if not isinstance(parsed, dict):
                    err.details.append(f"the answer is {describe_body(resp)}, not an OperationOutcome")
                raise err
            parsed = json_body(resp, label)
            return FhirResponse(resp.status, dict(resp.headers), parsed, attempt, maybe_applied)

    def _send(
        self, method: str, url: str, label: str, *, data: bytes | None = None, headers: dict[str, str]
    ) -> _Answer:
        """One request, never following a redirect; the body is read within the size limit."""
        resp = self.session.request(
            method,
            url,
            data=data,
            headers=headers,
            timeout=(self.options.connect_timeout, self.options.read_timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            content = _read_limited(resp, f"the answer to {label}")
        finally:
            resp.close()
        return _Answer(resp.status_code, resp.headers, content)

    def _backoff(self, attempt: int, retry_after: float | None, label: str, reason: str) -> None:
        if retry_after is not None:
            delay = retry_after
        else:
            cap = min(self.options.backoff_max, self.options.backoff_base * 2 ** (attempt - 1))
            delay = cap * self._rng()
        self.stats.retries += 1
        self.stats.waits.append(delay)
        log.info("%s: %s; retry %d/%d in %.2f s", label, reason, attempt, self.options.max_retries, delay)
        self._sleep(delay)

    def _gave_up_details(self, attempts: int, safe: bool) -> list[str]:
        if not safe:
            return ["not retried: the request is not safe to repeat"]
        return [
            f"gave up after {attempts} attempts; check that the server is up and reachable "
            f"(connect timeout {self.options.connect_timeout} s, read timeout "
            f"{self.options.read_timeout} s)"
        ]

    # ------------------------------------------------------------------ for auth
    def get_json_absolute(self, url: str) -> Any:
        """GET a non-FHIR JSON document (SMART discovery), with the same retries; no auth."""
        label = f"GET {redact_url(url)}"
        for attempt in range(1, self.options.max_retries + 2):
            try:
                self.stats.requests_sent += 1
                resp = self._send("GET", url, label, headers={"Accept": "application/json"})
            except requests.exceptions.RequestException as exc:
                if attempt <= self.options.max_retries:
                    self._backoff(attempt, None, label, _connection_reason(exc))
                    continue
                raise ServerUnreachableError(f"{label}: {_connection_reason(exc)}") from None
            if 300 <= resp.status < 400:
                raise redirect_refused(label, url, None, resp)
            if resp.status in TRANSIENT_STATUS and attempt <= self.options.max_retries:
                self._backoff(
                    attempt, _retry_after(resp.headers.get("Retry-After")), label, f"HTTP {resp.status}"
                )
                continue
            if resp.status != 200:
                raise AuthFailedError(
                    f"{label}: HTTP {resp.status}; the server does not offer SMART discovery"
                )
            return json_body(resp, label, fhir=False)
        raise AssertionError("unreachable")  # pragma: no cover

    def post_form_absolute(self, url: str, form: dict[str, str]) -> tuple[int, Any]:
        """POST a form (the OAuth token request). Not retried on HTTP errors: each attempt needs
        a fresh client assertion, which the caller makes. A redirect is refused: it would send
        the signed client assertion elsewhere."""
        label = f"POST {redact_url(url)}"
        try:
            self.stats.requests_sent += 1
            resp = self.session.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=(self.options.connect_timeout, self.options.read_timeout),
                allow_redirects=False,
                stream=True,
            )
            try:
                content = _read_limited(resp, f"the answer to {label}")
            finally:
                resp.close()
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachableError(f"{label}: {_connection_reason(exc)}") from None
        answer = _Answer(resp.status_code, resp.headers, content)
        if 300 <= answer.status < 400:
            raise redirect_refused(label, url, None, answer)
        return answer.status, _lenient_json(answer, label)


def _connection_reason(exc: requests.exceptions.RequestException) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no response within the read timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS verification failed (use --ca-bundle for a private CA)"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "RemoteDisconnected" in text or "Connection aborted" in text or "reset" in text.lower():
        return "connection dropped by the server"
    return f"connection error ({type(exc).__name__})"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _read_limited(resp: requests.Response, where: str) -> bytes:
    try:
        return read_limited(resp, where)
    except InputLimitError as exc:
        raise _limit_error(exc) from None


def _limit_error(exc: InputLimitError) -> ResponseLimitError:
    return ResponseLimitError(exc.message, details=exc.details)


def describe_body(resp: _Answer) -> str:
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


def json_body(resp: _Answer, label: str, *, fhir: bool = True) -> dict[str, Any]:
    """The body of a 2xx answer as a JSON object (a FHIR resource unless ``fhir`` is False), or
    InvalidServerResponseError saying what came instead."""
    if not resp.content:
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but an empty body ({resp.content_type})"
        )
    try:
        value = jsonio.parse_untrusted(resp.content, f"the answer to {label}").value
    except InputLimitError as exc:
        raise _limit_error(exc) from None
    except ValueError:
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but the body is not JSON "
            f"({resp.content_type}, {len(resp.content):,} bytes)",
            details=["is --server the FHIR base URL? a proxy or login page may be answering instead"],
        ) from None
    if not isinstance(value, dict) or (fhir and not isinstance(value.get("resourceType"), str)):
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {resp.status} but the body is {describe_json(value)}"
        )
    return value


def _lenient_json(resp: _Answer, label: str) -> Any:
    """The parsed body of an error answer, or None when it is not JSON (the status still counts)."""
    if not resp.content:
        return None
    try:
        return jsonio.parse_untrusted(resp.content, f"the answer to {label}").value
    except InputLimitError as exc:
        raise _limit_error(exc) from None
    except ValueError:
        return None


def _short_error(resp: _Answer, label: str) -> str:
    body = _lenient_json(resp, label)
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return describe_outcome(body)
    return ""


def redirect_refused(label: str, url: str, path: str | None, resp: _Answer) -> RedirectRefusedError:
    """The error for a 3xx: names the (redacted) target and whether it is another origin. When a
    FHIR request (``path`` below the base) is sent to the same path under another base, the
    server has moved and the message says which --server to use; a redirected transaction (to the
    base itself) gets no such advice."""
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
    if suffix and there.path.endswith(suffix):
        new_base = f"{there.scheme}://{there.netloc}{there.path[: -len(suffix)]}".rstrip("/")
        details.append(
            f"if the FHIR server has moved, give its new base URL: --server {redact_url(new_base)}"
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
