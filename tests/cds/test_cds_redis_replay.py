"""``serve --replay-store redis://...``: jti replay protection shared by service processes on
different hosts through one real Redis, failing closed when Redis does not answer."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import redis

from evidence_publisher.cds.errors import CdsConfigError, ReplayStoreUnavailableError
from evidence_publisher.cds.replay import RedisReplayStore, url_has_password
from evidence_publisher.jsonio import dumps

from .conftest import ISS, Keys
from .redis_server import RedisServer, free_port

PATH = "/cds-services"
PUBLIC = "https://cds.example.org"  # both processes sit behind one load-balanced URL
_BANNER = re.compile(r"on http://127\.0\.0\.1:(\d+)/cds-services")
START_TIMEOUT = 60.0


@pytest.fixture
def redis_server(redis_exe: str) -> Iterator[RedisServer]:
    server = RedisServer(redis_exe).start()
    try:
        yield server
    finally:
        server.stop()


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("evidence-publisher")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from evidence_publisher.cli import main_cli; main_cli()"]


def _config(tmp_path: Path, dist: Path, jwks_file: Path, replay_store: str) -> Path:
    cfg = tmp_path / f"cds-{uuid.uuid4().hex[:6]}.yaml"
    doc = {
        "source": str(dist),
        "host": "127.0.0.1",
        "port": 0,
        "public_base_url": PUBLIC,
        "issuers": [{"iss": ISS, "jwks_file": str(jwks_file)}],
        "replay_store": replay_store,
        "allow_http_fhir_server": True,
    }
    cfg.write_text(dumps(doc), encoding="utf-8")  # JSON is YAML
    return cfg


class ServiceProcess:
    """``evidence-publisher serve --config CFG`` in its own process, on an ephemeral port."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [*_cli(), "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            found = _BANNER.search(line)
            if found:
                self._port = int(found.group(1))
                self._ready.set()
        self._ready.set()

    def base(self) -> str:
        if not self._ready.wait(START_TIMEOUT) or self._port is None:
            self.stop()
            raise AssertionError("serve did not start:\n" + "".join(self.lines))
        return f"http://127.0.0.1:{self._port}"

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return "".join(self.lines)


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.stop()


def _token(keys: Keys, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": PUBLIC + PATH, "exp": now + 300, "iat": now, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, keys.es, algorithm="ES384", headers={"kid": "es-1", "typ": "JWT"})


def _get(base: str, token: str) -> httpx.Response:
    return httpx.get(base + PATH, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)


def test_token_accepted_by_one_process_is_refused_by_the_other(
    tmp_path: Path,
    dist: Path,
    jwks_file: Path,
    keys: Keys,
    redis_server: RedisServer,
    services: list[ServiceProcess],
) -> None:
    url = redis_server.url(db=3)
    cfg = _config(tmp_path, dist, jwks_file, url)
    services += [ServiceProcess(cfg), ServiceProcess(cfg)]
    a, b = services[0].base(), services[1].base()
    assert a != b

    token = _token(keys)
    assert _get(a, token).status_code == 200
    refused = _get(b, token)
    assert refused.status_code == 401
    assert "replay" in refused.json()["issue"][0]["diagnostics"]
    assert _get(a, token).status_code == 401  # and by the first one too
    assert _get(b, _token(keys)).status_code == 200  # a fresh token is fine on either

    # one key per token in the configured database, forgotten by Redis after exp + leeway
    client = redis.Redis.from_url(url)
    keys_seen = client.keys("evidence-publisher:cds:jti:*")
    assert len(keys_seen) == 2
    ttl_ms = client.pttl(keys_seen[0])
    assert 0 < ttl_ms <= (300 + 60) * 1000


def test_service_fails_closed_when_redis_is_down(
    tmp_path: Path,
    dist: Path,
    jwks_file: Path,
    keys: Keys,
    redis_server: RedisServer,
    services: list[ServiceProcess],
) -> None:
    services.append(ServiceProcess(_config(tmp_path, dist, jwks_file, redis_server.url())))
    base = services[0].base()
    assert _get(base, _token(keys)).status_code == 200

    redis_server.stop()
    answer = _get(base, _token(keys))
    assert answer.status_code == 503
    assert answer.json()["resourceType"] == "OperationOutcome"
    issue = answer.json()["issue"][0]
    assert issue["code"] == "transient"
    assert "replay protection is unavailable" in issue["diagnostics"]
    log = services[0].stop()
    assert f"127.0.0.1:{redis_server.port}" in log  # the operator's log says which store failed


def test_serve_refuses_to_start_without_redis_and_never_prints_the_password(
    tmp_path: Path, dist: Path, jwks_file: Path, redis_exe: str
) -> None:
    protected = RedisServer(redis_exe, password="s3cret-Pa55").start()
    try:
        wrong = f"redis://:wrong-Pa55word@127.0.0.1:{protected.port}/0"
        down = f"redis://:s3cret-Pa55@127.0.0.1:{free_port()}/0"
        for url in (wrong, down):
            done = subprocess.run(
                [*_cli(), "serve", "--config", str(_config(tmp_path, dist, jwks_file, url))],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == CdsConfigError.exit_code, done.stderr
            assert "Redis does not answer" in done.stderr
            assert "Pa55" not in done.stderr + done.stdout
            assert "***@127.0.0.1" in done.stderr
    finally:
        protected.stop()


def test_password_on_the_command_line_is_refused(tmp_path: Path, dist: Path) -> None:
    done = subprocess.run(
        [*_cli(), "serve", str(dist), "--replay-store", "redis://:hunter2@127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == CdsConfigError.exit_code
    assert "config file" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_store_records_once_with_expiry(redis_server: RedisServer) -> None:
    store = RedisReplayStore(redis_server.url(db=1))
    store.check()
    expires = time.time() + 120
    assert store.add_if_new("iss\x00jti-1", expires) is True
    assert store.add_if_new("iss\x00jti-1", expires) is False
    assert store.add_if_new("iss\x00jti-2", expires) is True
    client = redis.Redis.from_url(redis_server.url(db=1))
    assert all(0 < client.pttl(k) <= 120_000 for k in client.keys("*"))
    assert redis.Redis.from_url(redis_server.url(db=0)).dbsize() == 0  # the configured db only


def test_store_raises_instead_of_answering_when_redis_is_unreachable() -> None:
    store = RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5, read_timeout=0.5)
    with pytest.raises(ReplayStoreUnavailableError) as caught:
        store.add_if_new("iss\x00jti", time.time() + 60)
    assert caught.value.status == 503
    with pytest.raises(CdsConfigError, match="Redis does not answer"):
        store.check()


@pytest.mark.parametrize(
    ("url", "has"),
    [
        ("redis://:pw@h:6379/0", True),
        ("rediss://user:pw@h:6379/0", True),
        ("redis://h:6379/0", False),
        ("/var/lib/jti.sqlite3", False),
    ],
)
def test_url_has_password(url: str, has: bool) -> None:
    assert url_has_password(url) is has


@pytest.mark.parametrize(
    "url",
    [
        "redis://:topsecret@127.0.0.1:6379/notanumber",
        "redis://:topsecret@127.0.0.1:port/0",
        "redis://:topsecret@/0",
        "redis://:topsecret@127.0.0.1:6379/0?db=2",
    ],
)
def test_unusable_url_is_a_config_error_without_the_password(url: str) -> None:
    with pytest.raises(CdsConfigError, match="not a usable Redis URL") as caught:
        RedisReplayStore(url)
    assert "topsecret" not in caught.value.message + " ".join(caught.value.details)
