"""One session shared by many clients (the CDS service's hook requests): nothing of one request
(cookies, credentials, TLS settings) reaches another, and the session's connections are reused."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evidence_publisher.fhirclient import (
    BearerAuth,
    FhirClient,
    HttpOptions,
    RejectedByServerError,
    cookieless_session,
)

PATIENT = '{"resourceType": "Patient", "id": "p"}'


def test_clients_on_a_shared_session_keep_their_credentials_and_get_no_cookies(
    httpserver: HTTPServer,
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        resp = Response(PATIENT, content_type="application/fhir+json")
        resp.set_cookie("session", f"for-{request.headers.get('Authorization')}")
        return resp

    httpserver.expect_request("/fhir/Patient/p").respond_with_handler(handler)
    shared = cookieless_session()
    for token in ("token-a", "token-b", "token-a"):
        client = FhirClient(
            httpserver.url_for("/fhir"),
            auth=BearerAuth(token, "test"),
            options=HttpOptions(verify=False),
            session=shared,
        )
        assert client.search("Patient/p")["id"] == "p"
        client.close()  # leaves the shared session open for the next client
    assert [r.headers.get("Authorization") for r in seen] == [
        "Bearer token-a",
        "Bearer token-b",
        "Bearer token-a",
    ]
    assert all("Cookie" not in r.headers for r in seen)
    assert len(shared.cookies) == 0
    assert "Authorization" not in shared.headers
    assert shared.verify is True  # per-request options never change the session


def test_a_client_closes_only_the_session_it_made() -> None:
    shared = cookieless_session()
    closed: list[str] = []
    shared.close = lambda: closed.append("shared")
    FhirClient("https://fhir.example.org/fhir", session=shared).close()
    assert closed == []
    own = FhirClient("https://fhir.example.org/fhir")
    own.session.close = lambda: closed.append("own")
    own.close()
    assert closed == ["own"]


def test_hidden_queries_keep_search_parameters_out_of_messages(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/fhir/Observation").respond_with_data("down", status=500)
    for hide, shown in ((False, True), (True, False)):
        client = FhirClient(httpserver.url_for("/fhir"), hide_queries=hide)
        with pytest.raises(RejectedByServerError) as info:
            client.search("Observation?patient=pat-secret-id")
        message = info.value.message
        assert ("pat-secret-id" in message) is shown
        assert "/fhir/Observation" in message
