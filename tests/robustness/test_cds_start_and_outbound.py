"""`serve` announces itself only once it works; `apply --patient` reads untrusted JSON; the service's
own outbound calls (fhirServer, JWKS, knowledge server) never follow redirects or trust paging
links elsewhere (issue 9, points 4, 5 and 7)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from cds import synthetic
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps

from .cds_fixtures import *  # noqa: F403 - the fixtures
from .cds_fixtures import SVC, assert_outcome, diagnostics
from .net_fixtures import *  # noqa: F403 - the fixtures
from .net_fixtures import TRACEBACK

BANNER = "CDS Hooks service"
FHIR_AUTH = {
    "access_token": "tok-123",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "cds",
}


# ------------------------------------------------------------------------------------- serve
def test_port_in_use_is_exit_41_before_any_banner(cds_dist: Path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            code = main(["serve", str(cds_dist), "--no-auth", "--port", str(port), "--workers", workers])
            err = capsys.readouterr().err
            assert code == ExitCode.CDS_START == 41
            assert f"port {port} on 127.0.0.1 is already in use; pick another with --port" in err
            assert BANNER not in err and TRACEBACK not in err


def test_unknown_host_is_exit_41(cds_dist: Path, capsys) -> None:
    code = main(["serve", str(cds_dist), "--no-auth", "--host", "192.0.2.1", "--port", "0"])
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_START
    assert "address 192.0.2.1 is not an address of this machine; check --host" in err
    assert BANNER not in err


def test_missing_jwks_file_is_exit_40_before_any_banner(cds_dist: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "cds.yaml"
    config.write_text(
        "public_base_url: https://cds.example.org\n"
        f"issuers:\n  - iss: https://ehr.example.org\n    jwks_file: {tmp_path / 'nowhere.json'}\n",
        encoding="utf-8",
    )
    for workers in ("1", "2"):
        code = main(
            ["serve", str(cds_dist), "--config", str(config), "--port", "0", "--workers", workers]
            if workers == "1"
            else ["serve", str(cds_dist), "--config", str(config), "--port", "18080", "--workers", workers]
        )
        err = capsys.readouterr().err
        assert code == ExitCode.CDS_CONFIG == 40
        assert "cannot read JWKS file" in err and "nowhere.json" in err
        assert BANNER not in err and TRACEBACK not in err


def test_unusable_replay_store_is_exit_40(cds_dist: Path, tmp_path: Path, capsys) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}', encoding="utf-8")
    config = tmp_path / "cds.yaml"
    config.write_text(
        "public_base_url: https://cds.example.org\n"
        f"issuers:\n  - iss: https://ehr.example.org\n    jwks_file: {jwks}\n"
        f"replay_store: {tmp_path / 'no-such-dir' / 'jti.sqlite3'}\n",
        encoding="utf-8",
    )
    code = main(["serve", str(cds_dist), "--config", str(config), "--port", "0"])
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and "cannot be used as a sqlite file" in err and BANNER not in err


def test_banner_comes_after_the_bind_and_names_the_real_port(cds_dist: Path) -> None:
    """The banner is printed only when the socket already accepts connections; with --port 0 it
    names the port the kernel chose."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from evidence_publisher.cli import main_cli; main_cli()",
            "serve",
            str(cds_dist),
            "--no-auth",
            "--port",
            "0",
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        line = ""
        while BANNER not in line:
            line = proc.stderr.readline()
            assert line, "serve exited before its banner"
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # already bound and listening when the banner appeared
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


# ------------------------------------------------------------------------------------- apply
def _apply(tmp_path: Path, cds_dist: Path, content: str | bytes, plan: str = "rec-msc-ln") -> list[str]:
    patient = tmp_path / "patient.json"
    patient.write_bytes(content.encode() if isinstance(content, str) else content)
    return ["apply", "--plan", plan, "--patient", str(patient), "--dist", str(cds_dist)]


@pytest.mark.parametrize(
    ("content", "code", "needle"),
    [
        ("[" * 50_000 + "]" * 50_000, ExitCode.INPUT_LIMIT, "over the nesting depth limit of 100 levels"),
        ('{"resourceType": "Patient", "id": "a", "id": "b"}', ExitCode.USAGE, "duplicate JSON key at id"),
        ('{"resourceType": "Patient",\n "id": }', ExitCode.USAGE, "patient.json:2:8 is not valid JSON"),
        (b"\xff\xfe\x00", ExitCode.USAGE, "is not UTF-8 encoded JSON"),
        (
            '{"resourceType": 7}',
            ExitCode.USAGE,
            "must be a Patient or a Bundle, got an object whose resourceType is a number",
        ),
        (
            '{"resourceType": "Bundle", "entry": [3]}',
            ExitCode.USAGE,
            "patient.json.entry[0] must be an object",
        ),
        ('{"resourceType": "Patient", "id": "bad id"}', ExitCode.USAGE, "is not a valid FHIR id"),
    ],
)
def test_apply_patient_file_is_read_as_untrusted(tmp_path, cds_dist, capsys, content, code, needle) -> None:
    assert main(_apply(tmp_path, cds_dist, content)) == code
    err = capsys.readouterr().err
    assert needle in err and TRACEBACK not in err


def test_apply_unknown_plan_is_a_usage_error_not_exit_1(tmp_path, cds_dist, capsys) -> None:
    assert main(_apply(tmp_path, cds_dist, dumps(synthetic.patient()), plan="nope")) == ExitCode.USAGE
    assert "no recommendation PlanDefinition 'nope' is loaded" in capsys.readouterr().err


def test_apply_data_that_breaks_a_condition_names_file_and_element(tmp_path, cds_dist, capsys) -> None:
    obs = synthetic.protein()
    obs["valueQuantity"]["value"] = "high"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (synthetic.patient(), synthetic.condition(), obs)],
    }
    assert main(_apply(tmp_path, cds_dist, dumps(bundle))) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert (
        "patient.json: Observation/pat-1-prot has a value of the wrong type or form at valueQuantity.value"
        in err
    )
    assert "ofType" not in err


# --------------------------------------------------------------------------- fhirServer calls
def _fetching_request(server_url: str) -> dict[str, Any]:
    pre = synthetic.prefetch("pat-9")
    del pre["observation"]
    return synthetic.hook_request(
        pid="pat-9", prefetch=pre, fhirServer=server_url, fhirAuthorization=FHIR_AUTH
    )


def test_fhir_server_redirect_is_not_followed(cds, fhir_server: HTTPServer, other_server: HTTPServer) -> None:
    fhir_server.clear()
    other_server.clear()
    target = other_server.url_for("/fhir/Observation?access_token=leak")
    fhir_server.expect_request("/fhir/Observation").respond_with_response(
        Response("", status=307, headers={"Location": target})
    )
    resp = cds.post(
        SVC,
        content=json.dumps(_fetching_request(fhir_server.url_for("/fhir"))),
        headers={"Content-Type": "application/json"},
    )
    text = diagnostics(assert_outcome(resp, 412))
    assert "redirecting to another origin" in text and "not followed" in text and "access_token=***" in text
    assert len(other_server.log) == 0  # the bearer token never went to the redirect target


def test_paging_link_to_a_look_alike_host_is_refused(cds, fhir_server: HTTPServer) -> None:
    """``http://127.0.0.1:PORT@evil.example/...`` starts with the base ``http://127.0.0.1:PORT`` but
    its host is evil.example: the origin is compared, not the string prefix."""
    fhir_server.clear()
    base = fhir_server.url_for("/").rstrip("/")
    page = synthetic.searchset(synthetic.protein("pat-9"))
    page["link"] = [{"relation": "next", "url": f"{base}@evil.example/Observation?p=2"}]
    fhir_server.expect_request("/Observation").respond_with_data(
        dumps(page), content_type="application/fhir+json"
    )
    resp = cds.post(
        SVC, content=json.dumps(_fetching_request(base)), headers={"Content-Type": "application/json"}
    )
    text = diagnostics(assert_outcome(resp, 412))
    assert "the next-page link http://***@evil.example/Observation?p=2 points outside" in text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[" * 500 + "]" * 500, "over the nesting depth limit"),
        ('{"resourceType": "Bundle", "entry": 5}', "a Bundle with malformed entries"),
        ('{"resourceType": 12}', "the body is a JSON object without resourceType"),
        ('{"resourceType": "Nonsense"}', "fhirServer returned an unknown resourceType"),
        ("<html>", "the body is not JSON (application/fhir+json, 6 bytes)"),
    ],
)
def test_malformed_fhir_server_answers_are_412(cds, fhir_server: HTTPServer, body: str, needle: str) -> None:
    fhir_server.clear()
    fhir_server.expect_request("/fhir/Observation").respond_with_data(
        body, content_type="application/fhir+json"
    )
    resp = cds.post(
        SVC,
        content=json.dumps(_fetching_request(fhir_server.url_for("/fhir"))),
        headers={"Content-Type": "application/json"},
    )
    assert needle in diagnostics(assert_outcome(resp, 412))


def test_fhir_server_answer_over_the_size_limit_is_412(cds, fhir_server: HTTPServer, monkeypatch) -> None:
    monkeypatch.setenv("EP_MAX_RESPONSE_BYTES", "1000")
    fhir_server.clear()
    fhir_server.expect_request("/fhir/Observation").respond_with_data(
        "x" * 5000, content_type="application/fhir+json"
    )
    resp = cds.post(
        SVC,
        content=json.dumps(_fetching_request(fhir_server.url_for("/fhir"))),
        headers={"Content-Type": "application/json"},
    )
    assert "over the server response size limit of 1,000 bytes" in diagnostics(assert_outcome(resp, 412))


def test_fhir_server_busy_is_retried_once_then_412(cds, fhir_server: HTTPServer) -> None:
    """A hook's fetch is a GET, so it is retried, but once and quickly: the EHR waits."""
    for answers, status in (([503], 412), ([503, 200], 200)):
        fhir_server.clear()
        calls: list[int] = []

        def handler(request, answers=answers, calls=calls):
            status = answers[min(len(calls), len(answers) - 1)]
            calls.append(status)
            if status != 200:
                return Response("busy", status=status, headers={"Retry-After": "0"})
            body = dumps(synthetic.searchset(synthetic.protein("pat-9")))
            return Response(body, content_type="application/fhir+json")

        fhir_server.expect_request("/fhir/Observation").respond_with_handler(handler)
        resp = cds.post(
            SVC,
            content=json.dumps(_fetching_request(fhir_server.url_for("/fhir"))),
            headers={"Content-Type": "application/json"},
        )
        assert resp.status_code == status and len(calls) == 2
        if status == 412:
            text = diagnostics(assert_outcome(resp, 412))
            assert "HTTP 503" in text


def test_search_parameters_stay_out_of_diagnostics_and_logs(cds, fhir_server: HTTPServer, caplog) -> None:
    """The fetch's query names the patient: messages show the path and ``?…`` only."""
    fhir_server.clear()
    fhir_server.expect_request("/fhir/Observation").respond_with_data("no", status=500)
    with caplog.at_level("DEBUG", logger="evidence_publisher"):
        resp = cds.post(
            SVC,
            content=json.dumps(_fetching_request(fhir_server.url_for("/fhir"))),
            headers={"Content-Type": "application/json"},
        )
    text = diagnostics(assert_outcome(resp, 412))
    assert "/fhir/Observation?…: HTTP 500" in text
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("evidence_publisher"))
    assert "pat-9" not in text + ours


# ------------------------------------------------------------------------------ JWKS, knowledge
def test_jwks_redirect_from_an_allowlisted_jku_is_not_followed(cds_dist, fhir_server, other_server) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from evidence_publisher.cds.auth import JwtVerifier
    from evidence_publisher.cds.config import CdsConfig, IssuerConfig
    from evidence_publisher.cds.errors import AuthenticationError
    from evidence_publisher.cds.replay import MemoryReplayStore

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "ES384"})
    fhir_server.clear()
    other_server.clear()
    other_server.expect_request("/jwks.json").respond_with_json({"keys": [jwk]})
    jku = fhir_server.url_for("/jwks.json")
    fhir_server.expect_request("/jwks.json").respond_with_response(
        Response("", status=302, headers={"Location": other_server.url_for("/jwks.json")})
    )
    config = CdsConfig(
        source=str(cds_dist),
        public_base_url="https://cds.example.org",
        issuers=[IssuerConfig(iss="https://ehr.example.org", jku_allowlist=[jku])],
    )
    verifier = JwtVerifier(config, MemoryReplayStore())
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": "https://ehr.example.org",
            "aud": "https://cds.example.org/cds-services",
            "iat": now,
            "exp": now + 60,
            "jti": "j1",
        },
        key,
        algorithm="ES384",
        headers={"kid": "k1", "jku": jku},
    )
    with pytest.raises(AuthenticationError, match="cannot fetch JWKS"):
        verifier.verify(f"Bearer {token}", "https://cds.example.org/cds-services")
    assert len(other_server.log) == 0


def test_knowledge_server_redirect_and_credentials_are_refused(fhir_server, other_server, capsys) -> None:
    fhir_server.clear()
    other_server.clear()
    fhir_server.expect_request("/fhir/PlanDefinition").respond_with_response(
        Response("", status=301, headers={"Location": other_server.url_for("/fhir/PlanDefinition")})
    )
    code = main(["serve", "--fhir-server", fhir_server.url_for("/fhir"), "--no-auth", "--port", "0"])
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and "not followed" in err and BANNER not in err
    assert len(other_server.log) == 0
    code = main(
        ["serve", "--fhir-server", "https://fhir.example.org/fhir?apikey=k3y", "--no-auth", "--port", "0"]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.CDS_CONFIG and "'apikey'" in err and "k3y" not in err
