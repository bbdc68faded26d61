"""The shared client's paging: next links followed only under the base URL, a bounded number of
pages, credentials and headers on every page, retries of a page like any GET."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evidence_publisher import limits
from evidence_publisher.fhirclient import (
    BearerAuth,
    FhirClient,
    HttpOptions,
    PageLimitError,
    PagingRefusedError,
)
from evidence_publisher.fhirclient.paging import next_link, under_base

TOKEN = "tok-paging-secret"
BASE = "https://fhir.example.org/fhir"


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


@pytest.fixture
def other() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def page(n: int, next_url: str | None) -> dict:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": f"o{n}"}}],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next_url}]
    return bundle


def client(httpserver: HTTPServer, **options) -> FhirClient:
    return FhirClient(
        httpserver.url_for("/fhir"),
        auth=BearerAuth(TOKEN, "test"),
        options=HttpOptions(connect_timeout=2, read_timeout=5, backoff_base=0.001, **options),
    )


def serve_pages(httpserver: HTTPServer, next_urls: list[str | None]) -> list[Request]:
    """Page ``n`` (from the ``page`` query parameter, 1 when absent) links to ``next_urls[n-1]``."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        n = int(request.args.get("page", "1"))
        return Response(json.dumps(page(n, next_urls[n - 1])), content_type="application/fhir+json")

    httpserver.expect_request("/fhir/Observation").respond_with_handler(handler)
    return seen


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"{BASE}/Observation?page=2", True),
        (f"{BASE}?_getpages=abc&_getpagesoffset=20", True),  # HAPI's links point at the base
        ("https://FHIR.example.org:443/fhir/Observation", True),  # case and default port
        ("https://fhir.example.org:8443/fhir/Observation", False),  # another port
        ("http://fhir.example.org/fhir/Observation", False),  # another scheme
        ("https://evil.example/fhir/Observation", False),
        ("https://fhir.example.org/fhir@evil.example/Observation", False),
        ("https://fhir.example.org:443@evil.example/fhir/Observation", False),  # look-alike
        ("https://user@fhir.example.org/fhir/Observation", False),  # userinfo
        ("https://fhir.example.org/fhirx/Observation", False),  # a string prefix, not a path
        ("https://fhir.example.org/other/Observation", False),
        ("https://fhir.example.org/fhir/../admin", False),
        ("https://fhir.example.org/fhir/%2e%2e/admin", False),
        ("https://fhir.example.org:99999/fhir", False),  # malformed port
        ("Observation?page=2", False),  # relative: the client resolves it first
    ],
)
def test_under_base(url: str, ok: bool) -> None:
    assert under_base(url, BASE) is ok


def test_next_link_reads_only_a_bundles_next_relation() -> None:
    assert next_link(page(1, "https://x/fhir?p=2")) == "https://x/fhir?p=2"
    assert next_link(page(1, None)) is None
    assert next_link({"resourceType": "Patient", "link": [{"relation": "next", "url": "u"}]}) is None
    assert next_link({"resourceType": "Bundle", "link": [{"relation": "next", "url": 5}]}) is None
    assert next_link({"resourceType": "Bundle", "link": "next"}) is None


def test_pages_follow_next_links_with_credentials_and_headers(httpserver: HTTPServer) -> None:
    base = httpserver.url_for("/fhir")
    seen = serve_pages(httpserver, [f"{base}/Observation?page=2", "Observation?page=3", None])
    with client(httpserver) as c:
        pages = list(c.pages("Observation?code=x", headers={"Cache-Control": "no-cache"}))
    assert [p["entry"][0]["resource"]["id"] for p in pages] == ["o1", "o2", "o3"]
    assert [r.args.get("page") for r in seen] == [None, "2", "3"]  # a relative link resolves
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in seen)
    assert all(r.headers.get("Cache-Control") == "no-cache" for r in seen)


@pytest.mark.parametrize("lookalike", [False, True])
def test_next_link_to_another_origin_is_refused(
    httpserver: HTTPServer, other: HTTPServer, lookalike: bool
) -> None:
    target = other.url_for("/fhir/Observation?page=2")
    if lookalike:  # http://127.0.0.1:PORT@127.0.0.1:OTHER/...: its host is the other server
        target = target.replace("http://", f"http://127.0.0.1:{httpserver.port}@")
    serve_pages(httpserver, [target])
    other.expect_request("/fhir/Observation").respond_with_json(page(2, None))
    with client(httpserver) as c, pytest.raises(PagingRefusedError) as info:
        list(c.pages("Observation"))
    assert "points outside" in info.value.message and "not followed" in info.value.message
    assert other.log == []  # the bearer token never went there
    assert info.value.exit_code == 31


def test_page_limit_from_the_environment_and_the_flag(httpserver: HTTPServer, monkeypatch) -> None:
    base = httpserver.url_for("/fhir")
    seen = serve_pages(httpserver, [f"{base}/Observation?page={n + 1}" for n in range(1, 10)])
    monkeypatch.setenv("EP_MAX_PAGES", "3")
    with client(httpserver) as c, pytest.raises(PageLimitError) as info:
        list(c.pages("Observation"))
    assert len(seen) == 3
    assert "over the search page limit of 3 pages" in info.value.message
    assert "--max-pages N or EP_MAX_PAGES" in " ".join(info.value.details)
    assert info.value.exit_code == 14
    seen.clear()
    limits.configure({limits.SERVER_PAGES: 5})  # what --max-pages 5 does
    with client(httpserver) as c, pytest.raises(PageLimitError):
        list(c.pages("Observation"))
    assert len(seen) == 5


def test_a_page_is_retried_like_any_get(httpserver: HTTPServer) -> None:
    base = httpserver.url_for("/fhir")
    calls: list[str | None] = []

    def handler(request: Request) -> Response:
        n = request.args.get("page")
        calls.append(n)
        if n == "2" and calls.count("2") == 1:
            return Response("busy", status=503)
        nxt = f"{base}/Observation?page=2" if n is None else None
        return Response(json.dumps(page(1, nxt)), content_type="application/fhir+json")

    httpserver.expect_request("/fhir/Observation").respond_with_handler(handler)
    with client(httpserver) as c:
        assert len(list(c.pages("Observation"))) == 2
    assert calls == [None, "2", "2"]
