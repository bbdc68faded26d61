"""What ``validate`` must remember about every file of a large input, kept on disk.

Validating a build output needs, before its first resource is checked, the list of its files
and, for references between them, where each ``Type/id`` is. Both grow with the corpus. Up to
``SPILL_FROM`` files they are held in memory; past it they move to a temporary SQLite file
(``Store``) that is deleted when the run ends, so that memory stays flat whatever the size.

Worker processes forked after the first pass read the same file through connections of their
own (a SQLite connection must not cross a fork); only the process that made it writes to it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

SPILL_FROM = 5_000  # files in one list before it moves to disk
BATCH = 1_000  # rows written at a time
CACHE_KIB = 4_096  # SQLite's page cache per connection
_INHERITED: list[sqlite3.Connection] = []


class Store:
    """One temporary SQLite file, made on first use and deleted by ``close`` (or at exit)."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._owner = os.getpid()
        self._conn: sqlite3.Connection | None = None
        self._conn_pid = 0
        self._tables = 0
        self._finalizer: weakref.finalize | None = None

    def connection(self) -> sqlite3.Connection:
        """This process's connection (a forked worker opens its own, to read)."""
        if self._conn is not None and self._conn_pid == os.getpid():
            return self._conn
        if self._path is None:
            fd, self._path = tempfile.mkstemp(prefix="ep-validate-", suffix=".sqlite")
            os.close(fd)
            self._finalizer = weakref.finalize(self, _remove, self._path, self._owner)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if os.getpid() == self._owner:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
        if self._conn is not None:  # inherited through fork: kept, never used nor closed here
            _INHERITED.append(self._conn)
        self._conn, self._conn_pid = conn, os.getpid()
        return conn

    def new_table(self, columns: str) -> str:
        name = f"t{self._tables}"
        self._tables += 1
        self.connection().execute(f"CREATE TABLE {name} ({columns})")
        return name

    def close(self) -> None:
        if self._conn is not None and self._conn_pid == os.getpid():
            self._conn.close()
        self._conn = None
        if self._finalizer is not None:
            self._finalizer()


def _remove(path: str, owner: int) -> None:
    if os.getpid() == owner:
        Path(path).unlink(missing_ok=True)


def sort_key(relative_parts: tuple[str, ...]) -> bytes:
    """Bytes that order paths as ``sorted()`` orders ``Path`` objects (part by part, each by code
    point): every part in UTF-32-BE (surrogate escapes kept) ended by four zero bytes, which sort
    before any character, so that a part sorts before the longer parts it begins."""
    return b"".join(part.encode("utf-32-be", "surrogatepass") + b"\0\0\0\0" for part in relative_parts)


class Paths:
    """(path, named explicitly) pairs, iterated in the order of their ``sort_key``; in memory up
    to ``SPILL_FROM`` of them, then in ``store``. Add them all before iterating."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._memory: list[tuple[bytes, str, bool]] = []
        self._ordered: list[tuple[str, bool]] | None = None  # once sorted, without their keys
        self._table: str | None = None
        self._indexed = False
        self._pending: list[tuple[bytes, bytes, int]] = []
        self._count = 0

    @property
    def spilled(self) -> bool:
        return self._table is not None

    def add(self, path: str, explicit: bool, key: bytes) -> None:
        if self._ordered is not None or self._indexed:
            raise RuntimeError("Paths: every path must be added before the first iteration")
        self._count += 1
        if self._table is None:
            self._memory.append((key, path, explicit))
            if len(self._memory) < SPILL_FROM:
                return
            self._table = self.store.new_table("key BLOB, path BLOB, explicit INTEGER")
            rows, self._memory = self._memory, []
            self._pending = [(k, os.fsencode(p), e) for k, p, e in rows]
        else:
            self._pending.append((key, os.fsencode(path), explicit))
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            sql = f"INSERT INTO {self._table} VALUES (?, ?, ?)"  # noqa: S608 (our own table name)
            self.store.connection().executemany(sql, self._pending)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[str, bool]]:
        if self._table is None:
            if self._ordered is None:
                self._ordered = [(path, explicit) for _k, path, explicit in sorted(self._memory)]
                self._memory = []
            yield from self._ordered
            return
        self._flush()
        if not self._indexed:
            self.store.connection().execute(f"CREATE INDEX {self._table}_key ON {self._table} (key)")
            self._indexed = True
        sql = f"SELECT path, explicit FROM {self._table} ORDER BY key"  # noqa: S608
        for path, explicit in self.store.connection().execute(sql):
            yield os.fsdecode(path), bool(explicit)
