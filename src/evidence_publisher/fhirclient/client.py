"""The FHIR REST client that ``publish``, ``verify`` and the CDS service share.

On top of ``transport.HttpTransport`` (timeouts, bounded answers, no redirects, retries of what
is safe to repeat) it speaks FHIR: JSON bodies, error answers read as OperationOutcomes, the
credentials of an ``auth.Auth`` on every request with one re-authentication after a 401 when the
method can refresh (SMART), and searches followed page by page within the base URL and the page
limit (``limits.SERVER_PAGES``).

Which requests are safe to repeat: GETs, and Bundles whose every entry is idempotent (checked on
the Bundle itself by :func:`bundle_is_replayable`, never assumed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from evidence_publisher import jsonio
from evidence_publisher.bundle.transaction import is_replayable
from evidence_publisher.errors import InputLimitError
from evidence_publisher.fhirclient.answers import (
    describe_body,
    json_body,
    lenient_json,
    rejected,
    short_error,
)
from evidence_publisher.fhirclient.auth import Auth
from evidence_publisher.fhirclient.errors import (
    AuthFailedError,
    ClientConfigError,
    PageLimitError,
    PagingRefusedError,
)
from evidence_publisher.fhirclient.paging import next_link, under_base
from evidence_publisher.fhirclient.transport import ClientStats, HttpOptions, HttpTransport
from evidence_publisher.limits import SERVER_PAGES, current
from evidence_publisher.urlsafety import base_url_problem, redact_url

FHIR_JSON = "application/fhir+json"
AUTH_HINT = (
    "set FHIR_TOKEN, --token-file, FHIR_USERNAME/FHIR_PASSWORD or the SMART options "
    "(see docs/publishing.md#authentication)"
)


@dataclass
class FhirResponse:
    status: int
    headers: dict[str, str]
    body: Any
    attempts: int = 1
    # True when an earlier attempt of this request may have reached the server (a timeout or a
    # dropped connection after sending); the server may have applied it already.
    maybe_applied_before: bool = False


def bundle_is_replayable(bundle: dict) -> bool:
    """True when re-sending ``bundle`` cannot create duplicates or clobber newer data: a
    transaction of PUTs / conditional creates / GETs (see ``bundle.transaction.is_replayable``)
    or a batch of GETs only."""
    if bundle.get("type") == "batch":
        return all(e.get("request", {}).get("method") == "GET" for e in bundle.get("entry", []))
    return is_replayable(bundle)


def check_base_url(url: str, option: str = "--server") -> str:
    """The base URL without a trailing slash; refuses credentials, a query string or a fragment
    (the URL is shown in messages, logs and process lists). ``option`` names where it came from."""
    problem = base_url_problem(url, option)
    if problem is not None:
        raise ClientConfigError(
            f"{problem}: {redact_url(url)!r}",
            details=[
                "give the FHIR base URL only, e.g. http://localhost:8080/fhir; credentials come from "
                "--token-file or FHIR_TOKEN, --basic-auth-file or FHIR_USERNAME/FHIR_PASSWORD, or "
                "the SMART options (see docs/publishing.md#authentication)",
            ],
        )
    return url.rstrip("/")


class FhirClient:
    """One FHIR server: its base URL, the credentials for it, and the HTTP discipline.

    ``base_option`` names where the base URL came from (``--server``, ``--fhir-server``,
    ``fhirServer``) in messages; with ``hide_queries`` messages and log lines show ``?…`` for a
    request's query string (the CDS service's searches carry the patient's id). A ``session``
    given by the caller is used as it is and left open on ``close`` (the CDS service shares one
    between hook requests)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        options: HttpOptions | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
        base_option: str = "--server",
        hide_queries: bool = False,
    ) -> None:
        self.base_url = check_base_url(base_url, base_option)
        self.base_option = base_option
        self.hide_queries = hide_queries
        self.auth = auth
        self.transport = HttpTransport(options, session=session, sleep=sleep, rng=rng)

    @property
    def options(self) -> HttpOptions:
        return self.transport.options

    @property
    def session(self) -> requests.Session:
        return self.transport.session

    @property
    def stats(self) -> ClientStats:
        return self.transport.stats

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ high level
    def metadata(self) -> dict:
        return self.request("GET", "metadata").body

    def search(self, path_and_query: str, headers: dict[str, str] | None = None) -> dict:
        """The first page of a search (or a read) below the base."""
        return self.request("GET", path_and_query, headers=headers).body

    def pages(self, path_and_query: str, headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """The pages of a search below the base, following ``next`` links: each must lie under
        the base URL (else PagingRefusedError) and at most ``limits.SERVER_PAGES`` pages are read
        (else PageLimitError). A read yields its one resource."""
        limit = current(SERVER_PAGES)
        url = self._url(path_and_query)
        path: str | None = path_and_query  # None for the next pages: the server wrote their URLs
        first = self._label("GET", url)
        for _ in range(limit):
            page = self._exchange("GET", url, path, None, headers, replayable=True).body
            yield page
            link = next_link(page)
            if link is None:
                return
            url, path = self._page_url(link, url, first), None
        raise _page_limit_error(first, limit)

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
        """Send one FHIR request below the base and return a 2xx response, or raise a
        FhirClientError. ``replayable`` defaults to True for GET and False otherwise."""
        safe = (method == "GET") if replayable is None else replayable
        return self._exchange(method, self._url(path), path, body, headers, replayable=safe)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path}" if path else self.base_url

    def _exchange(
        self,
        method: str,
        url: str,
        path: str | None,
        body: Any,
        headers: dict[str, str] | None,
        *,
        replayable: bool,
    ) -> FhirResponse:
        data = jsonio.dumps(body, indent=None).encode("utf-8") if body is not None else None
        req_headers = {"Accept": FHIR_JSON}
        if data is not None:
            req_headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        req_headers.update(headers or {})
        label = self._label(method, url)
        hint = (path, self.base_option) if path is not None else None
        reauthed = False
        while True:
            if self.auth is not None:
                req_headers.update(self.auth.headers(self))
            done = self.transport.exchange(
                method, url, label, data=data, headers=req_headers, replayable=replayable, redirect_hint=hint
            )
            resp = done.answer
            if resp.status == 401 and self.auth is not None and not reauthed and self.auth.refresh():
                reauthed = True
                continue
            break
        if resp.status in (401, 403):
            how = self.auth.describe() if self.auth is not None else "no credentials"
            raise AuthFailedError(
                f"{label}: HTTP {resp.status} with {how}",
                details=[short_error(resp, label) or "the server gave no reason", AUTH_HINT],
            )
        if resp.status >= 400:
            parsed = lenient_json(resp, label)
            err = rejected(label, resp.status, parsed)
            if not isinstance(parsed, dict):
                err.details.append(f"the answer is {describe_body(resp)}, not an OperationOutcome")
            raise err
        parsed = json_body(resp, label, base_option=self.base_option)
        return FhirResponse(resp.status, dict(resp.headers), parsed, done.attempts, done.maybe_applied_before)

    def _label(self, method: str, url: str) -> str:
        if self.hide_queries and "?" in url:
            return f"{method} {redact_url(url.split('?', 1)[0])}?…"
        return f"{method} {redact_url(url)}"

    def _page_url(self, link: str, current_url: str, label: str) -> str:
        """The next page's URL (a relative link resolves against the current page), or
        PagingRefusedError when it leaves the base URL."""
        try:
            target = urljoin(current_url, link)
        except ValueError:
            target = link
        if not under_base(target, self.base_url):
            raise PagingRefusedError(
                f"{label}: the next-page link {redact_url(target)} points outside "
                f"{redact_url(self.base_url)}; not followed",
                details=["paging links must stay under the FHIR base URL, so that credentials reach only it"],
            )
        return target

    # ------------------------------------------------------------------ for auth
    def get_json_absolute(self, url: str) -> Any:
        """GET a non-FHIR JSON document (SMART discovery), with the same retries; no auth."""
        label = f"GET {redact_url(url)}"
        resp = self.transport.exchange(
            "GET", url, label, headers={"Accept": "application/json"}, replayable=True
        ).answer
        if resp.status != 200:
            raise AuthFailedError(f"{label}: HTTP {resp.status}; the server does not offer SMART discovery")
        return json_body(resp, label, fhir=False)

    def post_form_absolute(self, url: str, form: dict[str, str]) -> tuple[int, Any]:
        """POST a form (the OAuth token request). Not retried: each attempt needs a fresh client
        assertion, which the caller makes. A redirect is refused: it would send the signed client
        assertion elsewhere."""
        label = f"POST {redact_url(url)}"
        resp = self.transport.send_once("POST", url, label, data=form, headers={"Accept": "application/json"})
        return resp.status, lenient_json(resp, label)


def _page_limit_error(label: str, limit: int) -> PageLimitError:
    exc = InputLimitError(label, SERVER_PAGES, f"a next-page link after {limit:,} pages", limit)
    return PageLimitError(exc.message, details=exc.details)
