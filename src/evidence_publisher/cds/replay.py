"""Stores of seen JWT ``jti`` values, kept until the token expires.

``MemoryReplayStore`` protects one process. With several uvicorn workers use
``SqliteReplayStore`` on a file shared by the workers (one host). Across hosts (instances behind a
load balancer) use ``RedisReplayStore``: one ``SET key NX PX ttl`` per token, atomic in Redis.
A store that cannot answer never lets a token through: it raises ``ReplayStoreUnavailableError``
(503) and the request is refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from evidence_publisher.cds.errors import CdsConfigError, ReplayStoreUnavailableError
from evidence_publisher.urlsafety import redact_url

log = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis://", "rediss://")
#: Seconds to open a connection to Redis and to wait for an answer: the verifier waits this long at
#: most (twice, with the one retry) before it refuses the request.
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_READ_TIMEOUT = 2.0
_REDIS_KEY_PREFIX = "evidence-publisher:cds:jti:"


class ReplayStore(Protocol):
    def add_if_new(self, key: str, expires_at: float) -> bool:
        """Record ``key``; return False when it was already recorded and not expired."""


class MemoryReplayStore:
    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def add_if_new(self, key: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
                if len(self._seen) >= self._max:
                    return False  # refuse rather than forget: fail closed
            previous = self._seen.get(key)
            if previous is not None and previous > now:
                return False
            self._seen[key] = expires_at
            return True


class SqliteReplayStore:
    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._local = threading.local()
        try:
            conn = self._conn()
            conn.execute("CREATE TABLE IF NOT EXISTS jti (key TEXT PRIMARY KEY, expires REAL NOT NULL)")
            conn.commit()
        except sqlite3.Error as exc:
            raise CdsConfigError(
                f"replay_store {self._path!r} cannot be used as a sqlite file: {exc}",
                details=[
                    "give a writable file path (its folder must exist) with replay_store or --replay-store"
                ],
            ) from None
        self._last_purge = 0.0

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def add_if_new(self, key: str, expires_at: float) -> bool:
        now = time.time()
        conn = self._conn()
        if now - self._last_purge > 60:
            self._last_purge = now
            conn.execute("DELETE FROM jti WHERE expires <= ?", (now,))
        cur = conn.execute(
            "INSERT INTO jti (key, expires) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET expires = excluded.expires WHERE jti.expires <= ?",
            (key, expires_at, now),
        )
        return cur.rowcount == 1


def is_redis_url(value: str) -> bool:
    return value.strip().lower().startswith(REDIS_SCHEMES)


def url_has_password(value: str) -> bool:
    """A Redis URL with a password (``redis://:pw@host``, ``redis://user:pw@host``)."""
    if not is_redis_url(value):
        return False
    try:
        return bool(urlsplit(value.strip()).password)
    except ValueError:
        return False


class RedisReplayStore:
    """Seen ``jti`` values in Redis, shared by every instance that uses the same database.

    A key is ``SET`` with ``NX`` (only if absent) and an expiry at the token's ``exp`` plus the
    clock-skew leeway, so the check and the record are one atomic step and Redis forgets the key
    when the token could no longer be accepted anyway. Any Redis error (unreachable, timeout,
    wrong password, read-only replica) raises ``ReplayStoreUnavailableError``: fail closed. A
    broken pooled connection is retried once; if that first ``SET`` had in fact reached Redis, the
    retry sees the key and refuses the token (a refusal, never a second acceptance).
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = REDIS_CONNECT_TIMEOUT,
        read_timeout: float = REDIS_READ_TIMEOUT,
    ) -> None:
        url = url.strip()
        self._shown = redact_url(url)
        _check_redis_url(url, self._shown)
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=read_timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )

    def check(self) -> None:
        """Ping Redis once, so that a wrong host, port, password or database stops ``serve`` at start."""
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise CdsConfigError(
                f"replay_store {self._shown}: Redis does not answer ({_describe(exc, self._client)})",
                details=[
                    "start Redis or correct the URL; the service never runs without its replay store",
                    f"connect and read timeouts: {self._timeouts()}",
                ],
            ) from None

    def add_if_new(self, key: str, expires_at: float) -> bool:
        ttl_ms = max(1000, math.ceil((expires_at - time.time()) * 1000))
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        try:
            created = self._client.set(_REDIS_KEY_PREFIX + digest, b"1", nx=True, px=ttl_ms)
        except redis.RedisError as exc:
            log.error(
                "replay store %s failed: %s; refusing the request", self._shown, _describe(exc, self._client)
            )
            raise ReplayStoreUnavailableError(
                "JWT replay protection is unavailable: the shared jti store does not answer; "
                "the request is refused",
                details=["retry later; the service operator should check the replay_store (Redis)"],
            ) from None
        return bool(created)

    def _timeouts(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        return f"{kwargs.get('socket_connect_timeout')} s and {kwargs.get('socket_timeout')} s"


def _describe(exc: BaseException, client: redis.Redis) -> str:
    """The exception's class and message, without the password even if Redis echoed the URL."""
    text = f"{type(exc).__name__}: {exc}"
    password = client.connection_pool.connection_kwargs.get("password")
    return text.replace(password, "***") if isinstance(password, str) and password else text


def _check_redis_url(url: str, shown: str) -> None:
    """redis-py reads ``/notanumber`` as database 0 and a missing host as localhost: be stricter."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    db = parts.path.lstrip("/") if parts else ""
    if parts is None or not parts.hostname or (db and not db.isdigit()) or parts.query or parts.fragment:
        raise CdsConfigError(
            f"replay_store {shown!r} is not a usable Redis URL",
            details=[
                "write redis://HOST:PORT/DB or rediss://HOST:PORT/DB (TLS), e.g. redis://127.0.0.1:6379/0",
                f"the port defaults to 6379 and DB to 0; got port {port!r}, DB {db or '0'!r}",
            ],
        )
