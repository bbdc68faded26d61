"""HTTP for every outbound call: one ``requests.Session``, explicit timeouts, careful retries.

Retry policy: connection errors (refused, reset, dropped), timeouts and HTTP 429/502/503/504 are
retried with exponential backoff and full jitter, honouring ``Retry-After``, but only for requests
the caller marks safe to repeat (GETs; Bundles checked by ``client.bundle_is_replayable``). Other
statuses are returned to the caller, never retried.

Redirects are never followed (``allow_redirects=False`` on every call): a 3xx raises
RedirectRefusedError naming the target, because following it would re-send the body (a whole
transaction) and credentials to wherever the server points (``requests`` re-POSTs on 307/308 and
strips Authorization only across hosts). Every answer is read within ``limits.SERVER_RESPONSE_BYTES``
(or a smaller limit the caller gives).

The session is only read, never changed (TLS verification and User-Agent go with each request),
so one session can serve many clients and threads; nothing here logs headers or bodies, and every
URL in a message or log line passes through ``urlsafety.redact_url``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter

from evidence_publisher import __version__
from evidence_publisher.errors import InputLimitError
from evidence_publisher.fhirclient.answers import Answer, limit_error, redirect_refused, short_error
from evidence_publisher.fhirclient.errors import ServerUnreachableError
from evidence_publisher.fhirclient.reading import read_limited
from evidence_publisher.urlsafety import install_log_redaction

log = logging.getLogger("evidence_publisher.http")

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
class ClientStats:
    requests_sent: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)


@dataclass
class Exchange:
    """The answer to a request after any retries."""

    answer: Answer
    attempts: int
    # True when an earlier attempt may have reached the server (a timeout or a dropped connection
    # after sending): the server may have applied it already.
    maybe_applied_before: bool


def cookieless_session(pool_size: int = 10) -> requests.Session:
    """A session that never stores or sends cookies, for sharing between callers whose requests
    must not see each other's state (the CDS service's hook requests), with ``pool_size``
    keep-alive connections per host."""
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HttpTransport:
    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        install_log_redaction()  # urllib3 logs every request URL at DEBUG level
        self.options = options or HttpOptions()
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.stats = ClientStats()
        self._sleep = sleep or time.sleep
        self._rng = rng or random.random

    def close(self) -> None:
        """Close the session if this transport made it (a shared one stays open)."""
        if self._owns_session:
            self.session.close()

    def send_once(
        self,
        method: str,
        url: str,
        label: str,
        *,
        data: bytes | dict[str, str] | None = None,
        headers: dict[str, str],
        limit: int | None = None,
        redirect_hint: tuple[str, str] | None = None,
    ) -> Answer:
        """One request, never repeated: ServerUnreachableError when no answer came."""
        try:
            return self._attempt(method, url, label, data, headers, limit, redirect_hint)
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachableError(f"{label}: {connection_reason(exc)}") from None

    def exchange(
        self,
        method: str,
        url: str,
        label: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str],
        replayable: bool,
        limit: int | None = None,
        redirect_hint: tuple[str, str] | None = None,
    ) -> Exchange:
        """Send until an answer that is not transient, retrying only when ``replayable``; raises
        ServerUnreachableError when none came after every retry."""
        attempt = 0
        maybe_applied = False
        while True:
            attempt += 1
            try:
                answer = self._attempt(method, url, label, data, headers, limit, redirect_hint)
            except requests.exceptions.RequestException as exc:
                reason = connection_reason(exc)
                if not isinstance(exc, requests.exceptions.ConnectTimeout) and reason != "connection refused":
                    maybe_applied = True
                if replayable and attempt <= self.options.max_retries:
                    self._backoff(attempt, None, label, reason)
                    continue
                raise ServerUnreachableError(
                    f"{label}: {reason}", details=self._gave_up_details(attempt, replayable)
                ) from None
            if answer.status not in TRANSIENT_STATUS:
                return Exchange(answer, attempt, maybe_applied)
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            if replayable and attempt <= self.options.max_retries:
                if retry_after is not None and retry_after > self.options.max_retry_after:
                    raise ServerUnreachableError(
                        f"{label}: HTTP {answer.status} asking to retry after {retry_after:.0f} s, "
                        f"more than the {self.options.max_retry_after:.0f} s we wait; try again later",
                    )
                self._backoff(attempt, retry_after, label, f"HTTP {answer.status}")
                continue
            raise ServerUnreachableError(
                f"{label}: HTTP {answer.status} {short_error(answer, label)}".rstrip(),
                details=self._gave_up_details(attempt, replayable),
            )

    def _attempt(
        self,
        method: str,
        url: str,
        label: str,
        data: bytes | dict[str, str] | None,
        headers: dict[str, str],
        limit: int | None,
        redirect_hint: tuple[str, str] | None,
    ) -> Answer:
        """One request; ``requests``' exception when no answer came, RedirectRefusedError for a 3xx
        (``redirect_hint``: the path below the base and the base URL's option name, for the "has
        moved" advice)."""
        self.stats.requests_sent += 1
        started = time.monotonic()
        try:
            resp = self.session.request(
                method,
                url,
                data=data,
                headers={"User-Agent": self.options.user_agent, **headers},
                timeout=(self.options.connect_timeout, self.options.read_timeout),
                verify=self.options.verify,
                allow_redirects=False,
                stream=True,
            )
            try:
                content = read_limited(resp, f"the answer to {label}", limit)
            finally:
                resp.close()
        except InputLimitError as exc:
            raise limit_error(exc) from None
        except requests.exceptions.RequestException as exc:
            log.info("%s failed after %.2f s: %s", label, time.monotonic() - started, connection_reason(exc))
            raise
        log.debug("%s -> %s in %.3f s", label, resp.status_code, time.monotonic() - started)
        answer = Answer(resp.status_code, resp.headers, content)
        if 300 <= answer.status < 400:
            path, option = redirect_hint or (None, None)
            raise redirect_refused(label, url, path, answer, option)
        return answer

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

    def _gave_up_details(self, attempts: int, replayable: bool) -> list[str]:
        if not replayable:
            return ["not retried: the request is not safe to repeat"]
        return [
            f"gave up after {attempts} attempts; check that the server is up and reachable "
            f"(connect timeout {self.options.connect_timeout} s, read timeout "
            f"{self.options.read_timeout} s)"
        ]


def connection_reason(exc: requests.exceptions.RequestException) -> str:
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


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
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
