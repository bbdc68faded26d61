"""HTTP discipline of FhirClient: timeouts, which requests are retried and how long we wait."""

from __future__ import annotations

import pytest
from werkzeug import Response

from evidence_publisher.fhirclient.transport import parse_retry_after
from evidence_publisher.publish import (
    ClientConfigError,
    FhirClient,
    HttpOptions,
    RejectedByServerError,
    ServerUnreachableError,
    bundle_is_replayable,
)

from .conftest import SleepRecorder


def scripted(httpserver, responses: list[Response]) -> list[str]:
    """Serve ``responses`` in order (the last one repeats); returns the list of seen methods."""
    seen: list[str] = []
    httpserver.clear_all_handlers()

    def handler(request):
        seen.append(request.method)
        return responses[min(len(seen) - 1, len(responses) - 1)]

    httpserver.expect_request("/fhir/metadata").respond_with_handler(handler)
    httpserver.expect_request("/fhir").respond_with_handler(handler)
    return seen


def oo(status: int, text: str, headers: dict | None = None) -> Response:
    body = (
        '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",'
        f'"diagnostics":"{text}"}}]}}'
    )
    return Response(body, status=status, headers=headers or {}, content_type="application/fhir+json")


OK = Response('{"resourceType":"CapabilityStatement"}', status=200, content_type="application/fhir+json")
REPLAYABLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [{"request": {"method": "PUT", "url": "Evidence?url=u&version=1"}, "resource": {}}],
}
NOT_REPLAYABLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [{"request": {"method": "POST", "url": "Evidence"}, "resource": {}}],
}


def client_for(httpserver, sleep=None, **options) -> FhirClient:
    return FhirClient(
        httpserver.url_for("/fhir"),
        sleep=sleep or SleepRecorder(),
        rng=lambda: 1.0,
        options=HttpOptions(**{"read_timeout": 5, **options}),
    )


def test_retry_after_is_honoured_then_success(httpserver):
    seen = scripted(
        httpserver, [oo(503, "busy", {"Retry-After": "7"}), oo(429, "slow down", {"Retry-After": "3"}), OK]
    )
    sleep = SleepRecorder()
    body = client_for(httpserver, sleep).metadata()
    assert body["resourceType"] == "CapabilityStatement"
    assert seen == ["GET", "GET", "GET"]
    assert sleep.calls == [7.0, 3.0]


def test_exponential_backoff_with_jitter_and_cap(httpserver):
    scripted(httpserver, [oo(502, "bad gateway")] * 5 + [OK])
    sleep = SleepRecorder()
    client_for(httpserver, sleep, backoff_base=0.5, backoff_max=3.0).metadata()
    assert sleep.calls == [0.5, 1.0, 2.0, 3.0, 3.0]  # rng() == 1.0: the full cap each time
    half = SleepRecorder()
    scripted(httpserver, [oo(504, "timeout"), OK])
    FhirClient(httpserver.url_for("/fhir"), sleep=half, rng=lambda: 0.25).metadata()
    assert half.calls == [0.125]


@pytest.mark.parametrize("status", [400, 404, 409, 412, 422, 500])
def test_no_retry_on_other_errors(httpserver, status):
    seen = scripted(httpserver, [oo(status, "HAPI-0988: nope"), OK])
    with pytest.raises(RejectedByServerError) as info:
        client_for(httpserver).send_bundle(REPLAYABLE)
    assert seen == ["POST"]
    assert info.value.status == status
    assert info.value.hapi_code == "HAPI-0988"
    assert "HAPI-0988: nope" in info.value.message


def test_replayable_transaction_is_retried(httpserver):
    seen = scripted(
        httpserver,
        [
            oo(503, "busy"),
            Response('{"resourceType":"Bundle","type":"transaction-response","entry":[]}', status=200),
        ],
    )
    resp = client_for(httpserver).send_bundle(REPLAYABLE)
    assert seen == ["POST", "POST"] and resp.attempts == 2


def test_non_replayable_transaction_is_not_retried(httpserver):
    seen = scripted(httpserver, [oo(503, "busy"), OK])
    with pytest.raises(ServerUnreachableError) as info:
        client_for(httpserver).send_bundle(NOT_REPLAYABLE)
    assert seen == ["POST"]
    assert "not safe to repeat" in " ".join(info.value.details)


def test_gives_up_after_max_retries(httpserver):
    seen = scripted(httpserver, [oo(503, "busy")])
    with pytest.raises(ServerUnreachableError) as info:
        client_for(httpserver, max_retries=2).metadata()
    assert len(seen) == 3
    assert "HTTP 503" in info.value.message


def test_retry_after_longer_than_we_wait_gives_up_at_once(httpserver):
    seen = scripted(httpserver, [oo(429, "later", {"Retry-After": "3600"}), OK])
    sleep = SleepRecorder()
    with pytest.raises(ServerUnreachableError, match="3600 s"):
        client_for(httpserver, sleep, max_retry_after=60).metadata()
    assert seen == ["GET"] and sleep.calls == []


def test_read_timeout_is_explicit_and_retried_for_get(threaded_httpserver):
    httpserver = threaded_httpserver
    import time

    calls = []

    def slow(request):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.5)
        return OK

    httpserver.expect_request("/fhir/metadata").respond_with_handler(slow)
    client = client_for(httpserver, read_timeout=0.2)
    started = time.monotonic()
    assert client.metadata()["resourceType"] == "CapabilityStatement"
    assert time.monotonic() - started < 3
    assert client.stats.requests_sent == 2


def test_retry_after_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert parse_retry_after("soon") is None


def test_replayable_is_a_property_of_the_bundle():
    assert bundle_is_replayable(REPLAYABLE)
    assert not bundle_is_replayable(NOT_REPLAYABLE)
    cond_create = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Evidence", "ifNoneExist": "identifier=a|b"}}],
    }
    assert bundle_is_replayable(cond_create)
    gets = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Evidence?url=x"}}],
    }
    assert bundle_is_replayable(gets)
    batch_put = {"resourceType": "Bundle", "type": "batch", "entry": REPLAYABLE["entry"]}
    assert not bundle_is_replayable(batch_put)
    delete = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Evidence/x"}}],
    }
    assert not bundle_is_replayable(delete)


def test_tls_verification_on_by_default_and_configurable(httpserver, monkeypatch):
    """``verify`` goes with every request (a shared session is never changed)."""
    scripted(httpserver, [OK])
    for options, expected in ((None, True), (HttpOptions(verify="/ca.pem"), "/ca.pem")):
        client = FhirClient(httpserver.url_for("/fhir"), options=options)
        seen = {}

        def spy(*args, original=client.session.request, seen=seen, **kwargs):
            seen.update(kwargs)
            return original(*args, **{**kwargs, "verify": True})

        monkeypatch.setattr(client.session, "request", spy)
        client.metadata()
        assert seen["verify"] == expected
        assert client.session.verify is True  # untouched


@pytest.mark.parametrize("url", ["https://user:pw@fhir.example.org/fhir", "ftp://x/fhir", "fhir"])
def test_bad_server_urls_are_refused(url):
    with pytest.raises(ClientConfigError):
        FhirClient(url)


def test_every_request_carries_timeouts(httpserver, monkeypatch):
    scripted(httpserver, [OK])
    client = client_for(httpserver, connect_timeout=1.5, read_timeout=9)
    seen = {}
    original = client.session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(client.session, "request", spy)
    client.metadata()
    assert seen["timeout"] == (1.5, 9)
    assert seen["headers"]["Accept"] == "application/fhir+json"
