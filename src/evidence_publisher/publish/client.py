"""A thin FHIR REST client: one ``requests.Session``, explicit timeouts, careful retries.

Retry policy: connection errors (refused, reset, dropped), timeouts and HTTP 429/502/503/504 are
retried with exponential backoff and full jitter, honouring ``Retry-After``, but only for
requests that are safe to repeat: GETs, and Bundles whose every entry is idempotent (checked on
the Bundle itself by :func:`bundle_is_replayable`, never assumed). Other 4xx are never retried.
A 401 triggers one re-authentication when the auth method can refresh (SMART).

Nothing here logs headers or bodies, so credentials never reach a log.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from evidence_publisher import __version__, jsonio
from evidence_publisher.bundle.transaction import is_replayable
from evidence_publisher.publish.auth import Auth
from evidence_publisher.publish.errors import (
    AuthFailed,
    PublishConfigError,
    RejectedByServer,
    ServerUnreachable,
)
from evidence_publisher.publish.outcome import describe_outcome, hapi_code

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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PublishConfigError(f"--server {url!r} is not an http(s) URL; e.g. http://localhost:8080/fhir")
    if parts.username or parts.password:
        raise PublishConfigError(
            "--server must not contain credentials; use FHIR_USERNAME/FHIR_PASSWORD or "
            "--basic-auth-file instead (the URL is shown in messages and process lists)",
        )
    return url.rstrip("/")


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
        label = f"{method} {url}"
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
                resp = self.session.request(
                    method,
                    url,
                    data=data,
                    headers=req_headers,
                    timeout=(self.options.connect_timeout, self.options.read_timeout),
                )
            except requests.exceptions.RequestException as exc:
                reason = _connection_reason(exc)
                if not isinstance(exc, requests.exceptions.ConnectTimeout) and reason != "connection refused":
                    maybe_applied = True
                log.info("%s failed after %.2f s: %s", label, time.monotonic() - started, reason)
                if safe and attempt <= self.options.max_retries:
                    self._backoff(attempt, None, label, reason)
                    continue
                raise ServerUnreachable(
                    f"{label}: {reason}",
                    details=self._gave_up_details(attempt, safe),
                ) from None
            log.debug("%s -> %s in %.3f s", label, resp.status_code, time.monotonic() - started)
            if resp.status_code in TRANSIENT_STATUS:
                reason = f"HTTP {resp.status_code}"
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if safe and attempt <= self.options.max_retries:
                    if retry_after is not None and retry_after > self.options.max_retry_after:
                        raise ServerUnreachable(
                            f"{label}: HTTP {resp.status_code} asking to retry after "
                            f"{retry_after:.0f} s, more than the {self.options.max_retry_after:.0f}"
                            " s we wait; try again later",
                        )
                    self._backoff(attempt, retry_after, label, reason)
                    continue
                raise ServerUnreachable(
                    f"{label}: HTTP {resp.status_code} {_short_error(resp)}".rstrip(),
                    details=self._gave_up_details(attempt, safe),
                )
            if resp.status_code == 401 and self.auth is not None and not reauthed and self.auth.refresh():
                reauthed = True
                log.info("%s: 401, re-authenticating once", label)
                continue
            if resp.status_code in (401, 403):
                how = self.auth.describe() if self.auth is not None else "no credentials"
                raise AuthFailed(
                    f"{label}: HTTP {resp.status_code} with {how}",
                    details=[
                        _short_error(resp) or "the server gave no reason",
                        "set FHIR_TOKEN, --token-file, FHIR_USERNAME/FHIR_PASSWORD or the "
                        "SMART options (see docs/publishing.md#authentication)",
                    ],
                )
            parsed = _parse_body(resp)
            if resp.status_code >= 400:
                raise rejected(label, resp.status_code, parsed)
            return FhirResponse(resp.status_code, dict(resp.headers), parsed, attempt, maybe_applied)

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
        for attempt in range(1, self.options.max_retries + 2):
            try:
                self.stats.requests_sent += 1
                resp = self.session.get(
                    url,
                    headers={"Accept": "application/json"},
                    timeout=(self.options.connect_timeout, self.options.read_timeout),
                )
            except requests.exceptions.RequestException as exc:
                if attempt <= self.options.max_retries:
                    self._backoff(attempt, None, f"GET {url}", _connection_reason(exc))
                    continue
                raise ServerUnreachable(f"GET {url}: {_connection_reason(exc)}") from None
            if resp.status_code in TRANSIENT_STATUS and attempt <= self.options.max_retries:
                self._backoff(
                    attempt,
                    _retry_after(resp.headers.get("Retry-After")),
                    f"GET {url}",
                    f"HTTP {resp.status_code}",
                )
                continue
            if resp.status_code != 200:
                raise AuthFailed(
                    f"GET {url}: HTTP {resp.status_code}; the server does not offer SMART discovery"
                )
            return _parse_body(resp)
        raise AssertionError("unreachable")  # pragma: no cover

    def post_form_absolute(self, url: str, form: dict[str, str]) -> tuple[int, Any]:
        """POST a form (the OAuth token request). Not retried on HTTP errors: each attempt needs
        a fresh client assertion, which the caller makes."""
        try:
            self.stats.requests_sent += 1
            resp = self.session.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=(self.options.connect_timeout, self.options.read_timeout),
            )
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(f"POST {url}: {_connection_reason(exc)}") from None
        return resp.status_code, _parse_body(resp)


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


def _parse_body(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return jsonio.loads(resp.content)
    except ValueError:
        return None


def _short_error(resp: requests.Response) -> str:
    body = _parse_body(resp)
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return describe_outcome(body)
    return ""


def rejected(label: str, status: int, body: Any) -> RejectedByServer:
    """A RejectedByServer for an error answer (OperationOutcome text and HAPI code)."""
    text = describe_outcome(body) if isinstance(body, dict) else ""
    code = hapi_code(text)
    return RejectedByServer(
        f"{label}: HTTP {status}" + (f": {text}" if text else ""),
        status=status,
        hapi_code=code,
        diagnostics=text,
        outcome=body if isinstance(body, dict) else None,
    )
