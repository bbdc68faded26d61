"""JWT attacks of issue 5 point 5 over real HTTP (beyond the checklist's items 22-27)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette

from evidence_publisher.cds.app import create_app

from .conftest import JKU_ISS, JKU_PATH, Keys, Live, _b64d, _b64e, make_config, serve
from .test_cds_checklist import assert_outcome

PATH = "/cds-services"


def test_hs256_signed_with_public_key_is_rejected(live: Live) -> None:
    # classic RS/HS key confusion: HMAC keyed with the published public key
    pem = live.keys.rs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "rs-1", "typ": "JWT"}
    signing = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256)
    h = _b64e(json.dumps(header).encode())
    p = _b64e(json.dumps(live.claims(PATH)).encode())
    sig = signing.sign(f"{h}.{p}".encode(), pem)
    assert_outcome(live.get(PATH, token=f"{h}.{p}.{_b64e(sig)}"), 401)


def test_alg_not_matching_key_type_is_rejected(live: Live) -> None:
    # header says RS384 but names the EC key
    token = live.token(PATH, alg="RS384", kid="es-1")
    assert_outcome(live.get(PATH, token=token), 401)


def test_signature_by_unpublished_key_is_rejected(live: Live) -> None:
    assert_outcome(live.get(PATH, token=live.token(PATH, key=live.keys.other_es)), 401)


def test_tampered_payload_is_rejected(live: Live) -> None:
    h, p, s = live.token(PATH).split(".")
    claims = json.loads(_b64d(p))
    claims["iss"] = claims["iss"]  # same issuer, but change the jti so the body differs
    claims["jti"] = "forged"
    assert_outcome(live.get(PATH, token=f"{h}.{_b64e(json.dumps(claims).encode())}.{s}"), 401)


@pytest.mark.parametrize("token", ["abc", "a.b.c", "Bearer", "..", "e30.e30.e30"])
def test_malformed_tokens(live: Live, token: str) -> None:
    resp = live.get(PATH, token=None, headers={"Authorization": f"Bearer {token}"})
    assert_outcome(resp, 401)


def test_clock_skew_is_bounded(live: Live) -> None:
    now = int(time.time())
    # expired 30 s ago: inside the configured 60 s skew
    assert live.get(PATH, token=live.token(PATH, exp=now - 30, iat=now - 200)).status_code == 200
    # expired 120 s ago: beyond the skew
    assert_outcome(live.get(PATH, token=live.token(PATH, exp=now - 120, iat=now - 200)), 401)
    # issued in the future beyond the skew
    assert_outcome(live.get(PATH, token=live.token(PATH, iat=now + 600, exp=now + 900)), 401)
    # issued too long ago (max_iat_age 300 s + skew) although not expired
    assert_outcome(live.get(PATH, token=live.token(PATH, iat=now - 1000, exp=now + 60)), 401)
    # lifetime above the 1 h bound
    assert_outcome(live.get(PATH, token=live.token(PATH, exp=now + 7200)), 401)


def test_jku_for_issuer_without_jku_allowlist_is_rejected(live: Live, httpserver: Any) -> None:
    # the file-configured issuer has no jku allowlist: an attacker-chosen jku must not be used
    httpserver.expect_request("/attacker/jwks.json").respond_with_json(
        {"keys": [Keys.jwk(live.keys.other_es, "es-1", "ES384")]}
    )
    token = live.token(
        PATH, key=live.keys.other_es, headers={"jku": httpserver.url_for("/attacker/jwks.json")}
    )
    assert_outcome(live.get(PATH, token=token), 401)
    assert httpserver.log == []  # never even fetched


def test_jku_unreachable_or_kid_missing(live: Live, httpserver: Any) -> None:
    jku = httpserver.url_for(JKU_PATH)
    token = live.token(PATH, key=live.keys.jku_es, kid="not-there", headers={"jku": jku}, iss=JKU_ISS)
    httpserver.expect_request(JKU_PATH).respond_with_json(live.keys.jku_jwks())
    assert "not-there" in assert_outcome(live.get(PATH, token=token), 401)["issue"][0]["diagnostics"]


def test_replay_rejected_across_workers(
    dist: Path, jwks_file: Path, keys: Keys, tmp_path: Path, make_httpserver: Any
) -> None:
    """Two service processes behind one public URL share the sqlite jti store."""
    public = "https://cds.example.org"
    store = tmp_path / "jti.sqlite3"

    def factory(base: str) -> Starlette:
        cfg = make_config(dist, public, jwks_file, make_httpserver.url_for(JKU_PATH), replay_store=str(store))
        return create_app(cfg)

    with serve(factory) as a, serve(factory) as b:
        ca, cb = Live(a, keys), Live(b, keys)
        ca.base = cb.base = public  # tokens are minted for the public URL
        token = ca.token(PATH)
        assert ca.get(PATH, token=token).status_code == 200
        assert_outcome(cb.get(PATH, token=token), 401)
        assert cb.get(PATH, token=cb.token(PATH)).status_code == 200


def test_no_auth_is_explicit_and_loud(dist: Path, keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    from evidence_publisher.cds.config import CdsConfig

    caplog.set_level(logging.WARNING)
    app = create_app(CdsConfig(source=str(dist), auth=False))
    assert "AUTHENTICATION IS DISABLED" in caplog.text
    with serve(lambda _base: app) as server:
        answer = Live(server, keys).get(PATH, token=None)  # no Authorization header at all
    assert answer.status_code == 200 and answer.json()["services"]


def test_no_auth_server_accepts_unauthenticated(live_noauth: Live) -> None:
    assert live_noauth.get(PATH, token=None).status_code == 200
