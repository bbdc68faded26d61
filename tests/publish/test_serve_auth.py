"""``serve --fhir-server`` (and ``apply --fhir-server``) authenticate to the knowledge server with
the options ``publish`` takes: token file or FHIR_TOKEN, basic auth file or environment, SMART
backend services. Checked against the HAPI stand-in when it requires credentials."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from cds import synthetic
from evidence_publisher import limits
from evidence_publisher.cds import server
from evidence_publisher.cds.config import CdsConfig, ServerAuthConfig, config_from_mapping
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps
from evidence_publisher.publish import FhirClient, HttpOptions, publish

from .hapi_standin import HapiStandIn
from .test_auth import SmartServer, pem

TOKEN = "tok-Serve-very-secret"
PASSWORD = "pw-Serve-very-secret"
BANNER = "CDS Hooks service"
PLAN = f"{synthetic.BASE}/PlanDefinition/rec-msc-ln"  # the server gives it an id of its own


class Guarded:
    """The stand-in holding the synthetic knowledge, answering only requests ``accept`` allows;
    records the Authorization header of every request."""

    def __init__(self, httpserver: HTTPServer, accept: Callable[[Request], bool]) -> None:
        self.authorizations: list[str | None] = []
        self.accept = accept
        self.hapi = HapiStandIn(auth_check=self._check)
        httpserver.clear()
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.hapi.handle)
        self.url = httpserver.url_for("/fhir")
        self.loading = True
        with FhirClient(self.url, options=HttpOptions(max_retries=0)) as client:
            assert publish(synthetic.resources(), client).error is None
        self.loading = False

    def _check(self, request: Request) -> bool:
        if self.loading:
            return True
        self.authorizations.append(request.headers.get("Authorization"))
        return self.accept(request)


def bearer(token: str) -> Callable[[Request], bool]:
    return lambda r: r.headers.get("Authorization") == f"Bearer {token}"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FHIR_TOKEN", "FHIR_USERNAME", "FHIR_PASSWORD", "FHIR_CLIENT_ID", "FHIR_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    limits.reset()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[server.Prepared]:
    """``serve`` runs up to its banner, then returns instead of serving."""
    seen: list[server.Prepared] = []

    def run(prepared: server.Prepared) -> None:
        seen.append(prepared)
        prepared.close()

    monkeypatch.setattr(server, "run", run)
    return seen


def serve(*argv: str) -> int:
    return main(["serve", *argv, "--no-auth", "--port", "0", "--log-level", "debug"])


def test_serve_with_a_token_file(threaded_httpserver, started, tmp_path, capsys, caplog) -> None:
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with caplog.at_level(logging.DEBUG):
        code = serve("--fhir-server", guarded.url, "--token-file", str(token_file))
    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    assert {ep.rec.url for ep in started[0].service.endpoints.values()} == {PLAN}
    assert guarded.authorizations and set(guarded.authorizations) == {f"Bearer {TOKEN}"}
    assert f"authenticating with bearer token from file {str(token_file)!r}" in caplog.text
    assert TOKEN not in out.out + out.err + caplog.text


def test_serve_with_fhir_token_in_the_environment(threaded_httpserver, started, monkeypatch, capsys) -> None:
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    monkeypatch.setenv("FHIR_TOKEN", TOKEN)
    assert serve("--fhir-server", guarded.url) == ExitCode.OK, capsys.readouterr().err
    assert set(guarded.authorizations) == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("given", ["none", "wrong token"])
def test_refused_credentials_stop_the_start(
    threaded_httpserver, started, monkeypatch, capsys, caplog, given
) -> None:
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    if given == "wrong token":
        monkeypatch.setenv("FHIR_TOKEN", "not-" + TOKEN)
    with caplog.at_level(logging.DEBUG):
        code = serve("--fhir-server", guarded.url)
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and started == []
    assert BANNER not in err and "Traceback" not in err
    how = "bearer token from $FHIR_TOKEN" if given == "wrong token" else "no credentials"
    assert f"HTTP 401 with {how}" in err
    assert len(guarded.authorizations) == 1  # a 401 with a static credential is not retried
    assert TOKEN not in err + caplog.text


def test_serve_with_basic_auth(threaded_httpserver, started, tmp_path, monkeypatch, capsys) -> None:
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    guarded = Guarded(threaded_httpserver, lambda r: r.headers.get("Authorization") == expected)
    creds = tmp_path / "basic"
    creds.write_text(f"alice:{PASSWORD}")
    assert serve("--fhir-server", guarded.url, "--basic-auth-file", str(creds)) == ExitCode.OK
    monkeypatch.setenv("FHIR_USERNAME", "alice")
    monkeypatch.setenv("FHIR_PASSWORD", PASSWORD)
    assert serve("--fhir-server", guarded.url) == ExitCode.OK
    assert set(guarded.authorizations) == {expected}
    assert PASSWORD not in capsys.readouterr().err


def test_serve_with_smart_backend_services(threaded_httpserver, started, tmp_path, capsys) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    smart = SmartServer(threaded_httpserver, key.public_key(), client_id="cds-app")
    smart.hapi.auth_check = None  # let the knowledge be stored
    with FhirClient(smart.url) as client:
        assert publish(synthetic.resources(), client).error is None
    smart.hapi.auth_check = smart.check
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem(key))
    code = serve(
        "--fhir-server",
        smart.url,
        "--smart-key-file",
        str(key_file),
        "--smart-client-id",
        "cds-app",
        "--smart-scope",
        "system/*.rs",
    )
    assert code == ExitCode.OK, capsys.readouterr().err
    assert len(smart.issued) == 1 and smart.assertions[0]["scope"] == "system/*.rs"
    assert {ep.rec.url for ep in started[0].service.endpoints.values()} == {PLAN}


def test_apply_with_fhir_server_credentials(threaded_httpserver, tmp_path, monkeypatch, capsys) -> None:
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    pre = synthetic.prefetch()
    data = [pre["patient"]] + [
        e["resource"] for key in ("condition", "observation") for e in pre[key]["entry"]
    ]
    patient = tmp_path / "patient.json"
    patient.write_text(
        dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in data]})
    )
    argv = ["apply", "--fhir-server", guarded.url, "--plan", PLAN, "--patient", str(patient)]
    assert main(argv) == ExitCode.CDS_CONFIG  # no credentials
    monkeypatch.setenv("FHIR_TOKEN", TOKEN)
    assert main(argv) == ExitCode.OK
    captured = capsys.readouterr()
    assert "recommendation applies" in captured.err
    assert TOKEN not in captured.out + captured.err


def test_credentials_without_a_knowledge_server_are_refused(started, tmp_path, capsys) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    code = serve(str(synthetic.write_dist(tmp_path / "dist")), "--token-file", str(token_file))
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and "fhir_server_auth ['token_file'] given without fhir_server" in err
    assert started == []


def test_unreadable_token_file_is_a_configuration_error(
    threaded_httpserver, started, tmp_path, capsys
) -> None:
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    code = serve("--fhir-server", guarded.url, "--token-file", str(tmp_path / "missing"))
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and "cannot read the token file" in err
    assert guarded.authorizations == []  # refused before any request


def test_workers_get_the_credentials_options_and_the_limits(tmp_path: Path) -> None:
    """Workers rebuild the configuration from JSON and read the limits from their environment:
    the credentials options (paths, never secrets) and the CLI's limits reach them."""
    config = CdsConfig(
        source=None,
        fhir_server="https://fhir.example.org/fhir",
        fhir_server_auth=ServerAuthConfig(token_file=str(tmp_path / "token"), smart_scope="system/*.rs"),
        auth=False,
    )
    rebuilt = config_from_mapping(json.loads(config.to_json())).validate()
    assert rebuilt.fhir_server_auth == config.fhir_server_auth
    assert TOKEN not in config.to_json()
    limits.configure({limits.SERVER_PAGES: 7, limits.SERVER_RESPONSE_BYTES: 1234})
    env = limits.as_environment(server.WORKER_LIMITS)
    assert env["EP_MAX_PAGES"] == "7" and env["EP_MAX_RESPONSE_BYTES"] == "1234"
    limits.reset()


def test_hook_fhir_server_never_gets_the_knowledge_server_credentials(
    threaded_httpserver, httpserver, started, monkeypatch
) -> None:
    """The credentials are for --fhir-server only; a hook's fhirServer gets the hook's token."""
    guarded = Guarded(threaded_httpserver, bearer(TOKEN))
    monkeypatch.setenv("FHIR_TOKEN", TOKEN)
    assert serve("--fhir-server", guarded.url, "--allow-http-fhir-server") == ExitCode.OK
    service = started[0].service
    ehr: list[str | None] = []

    def observations(request: Request):
        from werkzeug import Response

        ehr.append(request.headers.get("Authorization"))
        return Response(
            dumps(synthetic.searchset(synthetic.protein("pat-1"))), content_type="application/fhir+json"
        )

    httpserver.expect_request("/fhir/Observation").respond_with_handler(observations)
    pre = synthetic.prefetch("pat-1")
    del pre["observation"]
    body = synthetic.hook_request(
        pid="pat-1",
        prefetch=pre,
        fhirServer=httpserver.url_for("/fhir"),
        fhirAuthorization={"access_token": "hook-token", "token_type": "Bearer"},
    )
    sid = next(ep.id for ep in service.endpoints.values() if ep.hook == "patient-view")
    assert len(service.call(sid, body)["cards"]) == 1
    assert ehr == ["Bearer hook-token"]
    assert "Authorization" not in service.session.headers
