"""Stores of seen JWT ``jti`` values, kept until the token expires.

``MemoryReplayStore`` protects one process. With several uvicorn workers use
``SqliteReplayStore`` on a file shared by the workers (one host); across hosts a shared
store (e.g. Redis) would be needed, which this project does not ship.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from evidence_publisher.cds.errors import CdsConfigError


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
