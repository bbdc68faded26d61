"""Real-HTTP fixtures: the CDS service under uvicorn on 127.0.0.1 (ephemeral port) in a thread."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from tests.xdist_support import add_summary_line

from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig, IssuerConfig, OverrideReason
from evidence_publisher.jsonio import dumps

from . import synthetic

ISS = "https://ehr.example.org"
JKU_ISS = "https://jku-ehr.example.org"
ORIGIN = "https://ehr-ui.example.org"
JKU_PATH = "/keys/jwks.json"


class Keys:
    def __init__(self) -> None:
        self.es = ec.generate_private_key(ec.SECP384R1())
        self.rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_es = ec.generate_private_key(ec.SECP384R1())  # never published
        self.jku_es = ec.generate_private_key(ec.SECP384R1())

    @staticmethod
    def jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
        algo = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
        d = json.loads(algo.to_jwk(private.public_key()))
        d.update({"kid": kid, "alg": alg, "use": "sig"})
        return d

    def file_jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk(self.es, "es-1", "ES384"), self.jwk(self.rs, "rs-1", "RS384")]}

    def jku_jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk(self.jku_es, "jku-es-1", "ES384")]}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


class ServerThread:
    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self, app: Starlette | None = None) -> ServerThread:
        config = uvicorn.Config(app or self.app, log_config=None, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def serve(app_factory: Any) -> Iterator[ServerThread]:
    """Bind first (the app needs its own base URL for JWT aud), then build and run the app."""
    st = ServerThread(None)  # type: ignore[arg-type]
    st.app = app_factory(st.base)
    st.start()
    try:
        yield st
    finally:
        st.stop()


def make_config(dist: Path, base: str, jwks_file: Path, jku_url: str, **kw: Any) -> CdsConfig:
    values: dict[str, Any] = {
        "source": str(dist),
        "public_base_url": base,
        "issuers": [
            IssuerConfig(iss=ISS, jwks_file=str(jwks_file)),
            IssuerConfig(iss=JKU_ISS, jku_allowlist=[jku_url]),
        ],
        "cors_origins": [ORIGIN],
        "max_body_bytes": 200_000,
        "allow_http_fhir_server": True,
        "http_timeout_seconds": 5.0,
        "override_reasons": [
            OverrideReason(
                code="patient-declined",
                system="https://evidence.example.org/override-reason",
                display="Patient declined",
            )
        ],
    }
    values.update(kw)
    return CdsConfig(**values)


class Live:
    """An HTTP client for one running service that signs a fresh JWT per call by default."""

    def __init__(self, st: ServerThread, keys: Keys) -> None:
        self.st, self.keys = st, keys
        self.base = st.base
        self.http = httpx.Client(base_url=st.base, timeout=10.0)

    def claims(self, path: str, **over: Any) -> dict[str, Any]:
        now = int(time.time())
        c = {"iss": ISS, "aud": self.base + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def token(
        self,
        path: str,
        *,
        alg: str = "ES384",
        kid: str | None = None,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        if key is None:
            key = self.keys.es if alg.startswith("ES") else self.keys.rs
        kid = kid or ("es-1" if alg.startswith("ES") else "rs-1")
        hdr = {"kid": kid, "typ": "JWT"}
        hdr.update(headers or {})
        hdr = {k: v for k, v in hdr.items() if v is not None}
        token = jwt.encode(self.claims(path, **claims), key, algorithm=alg, headers=hdr)
        if "typ" not in hdr:  # PyJWT adds typ=JWT by default; strip it for the attack test
            h, p, s = token.split(".")
            header = json.loads(_b64d(h))
            header.pop("typ", None)
            token = ".".join([_b64e(json.dumps(header).encode()), p, s])
        return token

    def unsigned(self, path: str, **claims: Any) -> str:
        """An ``alg: none`` token (empty signature), built by hand since PyJWT refuses to."""
        header = {"alg": "none", "kid": "es-1", "typ": "JWT"}
        payload = self.claims(path, **claims)
        return f"{_b64e(json.dumps(header).encode())}.{_b64e(json.dumps(payload).encode())}."

    def auth(self, path: str, token: str | bool | None = True) -> dict[str, str]:
        if token is True:
            token = self.token(path)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, token: str | bool | None = True, **kw: Any) -> httpx.Response:
        headers = {**self.auth(path, token), **kw.pop("headers", {})}
        return self.http.get(path, headers=headers, **kw)

    def post(self, path: str, body: Any = None, token: str | bool | None = True, **kw: Any) -> httpx.Response:
        headers = {**self.auth(path, token), **kw.pop("headers", {})}
        if body is not None and "content" not in kw:
            kw["content"] = dumps(body, indent=None)
            headers.setdefault("Content-Type", "application/json")
        return self.http.post(path, headers=headers, **kw)


def fhir_json(res: Any) -> dict[str, Any]:
    """kwargs for pytest-httpserver's respond_with_data carrying canonical FHIR JSON."""
    return {"response_data": dumps(res, indent=None), "content_type": "application/fhir+json"}


def _b64d(s: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _b64e(b: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.write_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    p = tmp_path_factory.mktemp("jwks") / "ehr-jwks.json"
    p.write_text(json.dumps(keys.file_jwks()), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def live(dist: Path, jwks_file: Path, keys: Keys, make_httpserver: Any) -> Iterator[Live]:
    jku_url = make_httpserver.url_for(JKU_PATH)

    def factory(base: str) -> Starlette:
        return create_app(make_config(dist, base, jwks_file, jku_url))

    with serve(factory) as st:
        client = Live(st, keys)
        yield client
        client.http.close()


@pytest.fixture(scope="session")
def live_noauth(dist: Path, keys: Keys) -> Iterator[Live]:
    def factory(base: str) -> Starlette:
        return create_app(
            CdsConfig(source=str(dist), auth=False, allow_http_fhir_server=True, http_timeout_seconds=2.0)
        )

    with serve(factory) as st:
        client = Live(st, keys)
        yield client
        client.http.close()


_redis_state: dict[str, str] = {}


@pytest.fixture(scope="session")
def redis_exe() -> str:
    """Debian's redis-server (installed here when missing and root); the tests skip without it."""
    from .redis_server import ensure_redis

    if "skipped" in _redis_state:
        pytest.skip(f"redis-server unavailable: {_redis_state['skipped']}")
    try:
        return ensure_redis()
    except RuntimeError as exc:
        _redis_state["skipped"] = str(exc)
        pytest.skip(f"redis-server unavailable: {exc}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Printed by the controller under xdist (tests/xdist_support.py)."""
    if "skipped" in _redis_state:
        add_summary_line(
            session.config, f"REDIS REPLAY-STORE TESTS SKIPPED: {_redis_state['skipped']}", loud=True
        )
