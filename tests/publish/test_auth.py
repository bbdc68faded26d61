"""Authentication: bearer, basic, SMART backend services; secrets never leak."""

from __future__ import annotations

import base64
import functools
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug import Request, Response

from evidence_publisher.publish import (
    AuthFailedError,
    BasicAuth,
    BearerAuth,
    ClientConfigError,
    SmartBackendAuth,
    auth_from_options,
    publish,
)

from .conftest import synthetic_corpus
from .hapi_standin import HapiStandIn

TOKEN = "tok-Zq9-very-secret"
PASSWORD = "pw-Zq9-very-secret"


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


class SmartServer:
    """A SMART authorization server plus a stand-in that accepts only its current token."""

    def __init__(self, httpserver, public_key, client_id: str = "publisher-app") -> None:
        self.public_key = public_key
        self.client_id = client_id
        self.issued: list[str] = []
        self.assertions: list[dict] = []
        self.revoked: set[str] = set()
        self.refuse = False
        base = httpserver.url_for("/fhir")
        self.token_endpoint = httpserver.url_for("/auth/token")
        self.hapi = HapiStandIn(
            auth_check=self.check,
            extra_routes={
                "/fhir/.well-known/smart-configuration": lambda r: Response(
                    f'{{"token_endpoint": "{self.token_endpoint}", '
                    '"token_endpoint_auth_methods_supported": ["private_key_jwt"]}',
                    content_type="application/json",
                ),
                "/auth/token": self.token,
            },
        )
        httpserver.clear()
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.hapi.handle)
        self.url = base

    def token(self, request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        assert form["grant_type"] == ["client_credentials"]
        assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
        header = jwt.get_unverified_header(form["client_assertion"][0])
        claims = jwt.decode(
            form["client_assertion"][0],
            self.public_key,
            algorithms=["RS384", "ES384"],
            audience=self.token_endpoint,
            leeway=600,
        )  # the test advances the client clock
        self.assertions.append({"header": header, "claims": claims, "scope": form["scope"][0]})
        if self.refuse:
            return Response('{"error":"invalid_client"}', status=401, content_type="application/json")
        token = f"access-{len(self.issued)}"
        self.issued.append(token)
        return Response(
            f'{{"access_token":"{token}","token_type":"bearer","expires_in":300}}',
            content_type="application/json",
        )

    def check(self, request: Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return (
            bool(self.issued) and auth == f"Bearer {self.issued[-1]}" and self.issued[-1] not in self.revoked
        )


def test_smart_backend_rs384_flow_caches_and_reauths_once(threaded_httpserver, rsa_key, make_client):
    server = SmartServer(threaded_httpserver, rsa_key.public_key())
    now = [time.time()]
    auth = SmartBackendAuth("publisher-app", pem(rsa_key), key_source="test", kid="k1", clock=lambda: now[0])
    client = make_client(server.url, auth=auth)
    assert publish(synthetic_corpus(1), client).error is None
    assert len(server.issued) == 1  # cached across metadata, pre-read and transaction
    a = server.assertions[0]
    assert a["header"]["alg"] == "RS384" and a["header"]["kid"] == "k1"
    claims = a["claims"]
    assert claims["iss"] == claims["sub"] == "publisher-app"
    assert claims["aud"] == server.token_endpoint
    assert 0 < claims["exp"] - claims["iat"] <= 300
    # the server revokes the token: one re-auth, then success
    server.revoked.add(server.issued[-1])
    assert publish(synthetic_corpus(1), client).error is None
    assert len(server.issued) == 2
    assert server.assertions[0]["claims"]["jti"] != server.assertions[1]["claims"]["jti"]
    # expiry: a new token is fetched without waiting for a 401
    now[0] += 400
    client.metadata()
    assert len(server.issued) == 3


def test_smart_es384_and_refused_client(threaded_httpserver, ec_key, make_client):
    server = SmartServer(threaded_httpserver, ec_key.public_key())
    auth = SmartBackendAuth("publisher-app", pem(ec_key), key_source="test")
    assert auth.alg == "ES384"
    client = make_client(server.url, auth=auth)
    client.metadata()
    assert server.assertions[0]["header"]["alg"] == "ES384"
    server.refuse = True
    auth.refresh()
    with pytest.raises(AuthFailedError, match="refused client 'publisher-app'"):
        client.metadata()


def test_401_with_static_token_is_auth_failed_without_retry(threaded_httpserver, make_client):
    hapi = HapiStandIn(auth_check=lambda r: r.headers.get("Authorization") == "Bearer right")
    threaded_httpserver.clear()
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    client = make_client(threaded_httpserver.url_for("/fhir"), auth=BearerAuth(TOKEN, "test"))
    with pytest.raises(AuthFailedError) as info:
        publish(synthetic_corpus(1), client)
    assert len(hapi.requests) == 1
    assert TOKEN not in info.value.message + " ".join(info.value.details)


def test_basic_auth_header(threaded_httpserver, make_client):
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    hapi = HapiStandIn(auth_check=lambda r: r.headers.get("Authorization") == expected)
    threaded_httpserver.clear()
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    client = make_client(threaded_httpserver.url_for("/fhir"), auth=BasicAuth("alice", PASSWORD, "test"))
    assert publish(synthetic_corpus(1), client).error is None


def test_auth_from_env_and_files(tmp_path, rsa_key):
    assert auth_from_options(env={}) is None
    bearer = auth_from_options(env={"FHIR_TOKEN": TOKEN})
    assert isinstance(bearer, BearerAuth) and "$FHIR_TOKEN" in bearer.describe()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    from_file = auth_from_options(token_file=token_file, env={})
    assert from_file.headers(None) == {"Authorization": f"Bearer {TOKEN}"}  # type: ignore[arg-type]  # no client needed
    basic = auth_from_options(env={"FHIR_USERNAME": "alice", "FHIR_PASSWORD": PASSWORD})
    assert isinstance(basic, BasicAuth)
    creds = tmp_path / "basic"
    creds.write_text(f"alice:{PASSWORD}")
    assert isinstance(auth_from_options(basic_auth_file=creds, env={}), BasicAuth)
    key = tmp_path / "key.pem"
    key.write_bytes(pem(rsa_key))
    smart = auth_from_options(env={"FHIR_PRIVATE_KEY_FILE": str(key), "FHIR_CLIENT_ID": "app"})
    assert isinstance(smart, SmartBackendAuth) and smart.client_id == "app"
    for obj in (bearer, from_file, basic, smart):
        assert TOKEN not in repr(obj) and PASSWORD not in repr(obj)
        assert TOKEN not in obj.describe() and PASSWORD not in obj.describe()


def test_auth_config_errors(tmp_path, rsa_key):
    with pytest.raises(ClientConfigError, match="cannot read the token file"):
        auth_from_options(token_file=tmp_path / "missing", env={})
    bad = tmp_path / "basic"
    bad.write_text("no-colon")
    with pytest.raises(ClientConfigError, match="username:password"):
        auth_from_options(basic_auth_file=bad, env={})
    key = tmp_path / "key.pem"
    key.write_bytes(pem(rsa_key))
    with pytest.raises(ClientConfigError, match="client id"):
        auth_from_options(smart_key_file=key, env={})
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ClientConfigError, match="P-384"):
        auth_from_options(smart_key_file=p256, smart_client_id="app", env={})


def test_secrets_never_reach_logs_or_output(
    threaded_httpserver, monkeypatch, capsys, caplog, tmp_path, seed_dist
):
    """Run the CLI at DEBUG log level, once refused and once accepted: no secret anywhere."""
    from evidence_publisher.cli import main

    for accepted in (False, True):
        want = TOKEN if accepted else "something-else"
        hapi = HapiStandIn(auth_check=functools.partial(_bears, want))
        threaded_httpserver.clear()
        threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
        monkeypatch.setenv("FHIR_TOKEN", TOKEN)
        with caplog.at_level(logging.DEBUG):
            code = main(
                [
                    "publish",
                    str(seed_dist),
                    "--server",
                    threaded_httpserver.url_for("/fhir"),
                    "--no-validate",
                    "--format",
                    "json",
                ]
            )
        assert code == (0 if accepted else 35)
        out = capsys.readouterr()
        text = out.out + out.err + caplog.text
        assert TOKEN not in text
        assert base64.b64encode(TOKEN.encode()).decode() not in text
        caplog.clear()


def _bears(token: str, request: Any) -> bool:
    return request.headers.get("Authorization") == f"Bearer {token}"
