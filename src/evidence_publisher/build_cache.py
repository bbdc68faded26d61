"""The build cache: what a rebuild reuses from earlier builds.

It lives in one SQLite file, ``build-cache.sqlite``, in ``$EVIDENCE_PUBLISHER_CACHE`` if set, else
``$XDG_CACHE_HOME/evidence-publisher``, else ``~/.cache/evidence-publisher``. Setting
``EVIDENCE_PUBLISHER_CACHE=off`` (or ``build --no-cache``) builds without it; deleting the file
clears it (it is rebuilt as needed). It holds five kinds of entries:

- ``parsed``: a mapping file's YAML parse (data and line/column marks), keyed by the file's bytes,
  its shown name and the input limits in force (``sources/parsecache.py``).
- ``loaded``: that a publication file validated without placeholders, with its id and the document
  it is the record of, keyed as its parse: a large corpus files it unread (``sources/loader.py``).
- ``checked``: that a publication's cross-file checks (quotes in their documents, numbers,
  references) passed, with every read of the rest of the corpus they made and what it found
  (``sources/reads.py``); reused when they all find the same, so a changed source document or
  file is always noticed.
- ``compiled``: what compiling a publication made, with every read of the rest of the corpus it
  made and what that read found (``fhir/compile_memo.py``); reused when they all find the same.
- ``valid``: a generated resource that the official validator found without error, keyed by its
  canonical JSON, the JSON of each resource it references directly (the validator reads those to
  check reference targets) and the identity of the FHIR packages in use. A resource that does not
  change is not validated again.

Every key includes the tool's identity: its version and a digest of its own code, so a new
version (or an edited checkout) never reuses the entries of another. Each entry records the day
it was last used; a successful build removes, at most once a day, the entries no build has used
for ``KEEP_DAYS`` days (``prune``): those of older versions of the tool, of files changed since,
of corpora no longer built. Without it the file only grew. A build with the cache writes
the same bytes as one without (``tests/pipeline/test_build_cache.py``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from evidence_publisher import __version__
from evidence_publisher.bundle.references import RELATIVE_REF
from evidence_publisher.errors import BuildCacheError
from evidence_publisher.jsonio import dumps
from evidence_publisher.packages import PackageCache
from evidence_publisher.packages.spec import DEFAULT_PACKAGES, STAND_INS
from evidence_publisher.spill import SpilledResources, reference_strings, type_ids

CACHE_ENV = "EVIDENCE_PUBLISHER_CACHE"
CACHE_FILE = "build-cache.sqlite"
_DISABLED = {"", "off", "none", "0", "false"}
_TIMEOUT_SECONDS = 30.0  # waiting for another build that is writing to the cache
_BATCH = 2000  # entries per write, or fewer when they hold more than _BATCH_BYTES
_BATCH_BYTES = 16 * 1024 * 1024  # a publication's parse or compiled output is some 30 KB
_LOOKUP = 500  # keys per query (SQLite allows 999 parameters in older versions, 32,766 now)
KEEP_DAYS = 30  # an entry no build used for this many days is removed (``BuildCache.prune``)


def today() -> int:
    """Days since 1970-01-01 (UTC): the unit in which entries record when they were last used."""
    return int(time.time() // 86400)


def cache_dir() -> Path | None:
    """Where the cache lives, or None when it is switched off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _DISABLED else Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evidence-publisher"


@cache
def tool_identity() -> str:
    """The version and a digest of this package's code (an edited checkout is another tool)."""
    digest = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def packages_identity(packages: PackageCache | None = None) -> str:
    """The FHIR packages the validator would load: which are installed, with their manifests."""
    pc = packages if packages is not None else PackageCache.default()
    digest = hashlib.sha256(str(pc.root.resolve()).encode())
    # in an order of their own, the same in every process (the identity keys the cache)
    for spec in sorted({*DEFAULT_PACKAGES, *(s for alts in STAND_INS.values() for s in alts)}):
        pkg = pc.get(spec.name, spec.version)
        digest.update(f"\0{spec}\0".encode())
        if pkg is None:
            digest.update(b"missing")
            continue
        for name in ("package.json", ".index.json"):
            path = pkg.path / name
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


class BuildCache:
    """The entries of one cache file. New entries are written in small batches (and by ``commit``),
    so two builds sharing the cache wait for each other only briefly; every entry is true on its
    own, so one written by a build that failed later is still good."""

    def __init__(self, path: Path, day: int | None = None) -> None:
        """``day``: today, as ``today()`` counts (given by tests, which freeze the clock)."""
        self.path = path
        self.prefix = tool_identity()
        self.day = today() if day is None else day
        self.pending: list[tuple[str, bytes]] = []
        self.touched: list[str] = []  # entries found that were last used before today
        self._pending_bytes = 0
        with self._guard("cannot be used"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=_TIMEOUT_SECONDS)
            self.db.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
            self.db.execute("PRAGMA synchronous=NORMAL")  # a cache may lose its last entries
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS entry"
                " (key TEXT PRIMARY KEY, value BLOB NOT NULL, used INTEGER NOT NULL)"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(entry)")}
            if "used" not in columns:  # a cache from before entries recorded their last use
                self._add_used_column()

    def _add_used_column(self) -> None:
        try:
            with self.db:
                self.db.execute(f"ALTER TABLE entry ADD COLUMN used INTEGER NOT NULL DEFAULT {int(self.day)}")
        except sqlite3.OperationalError:
            # another build opening the same old cache may have added it first
            if "used" not in {row[1] for row in self.db.execute("PRAGMA table_info(entry)")}:
                raise

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            raise BuildCacheError(
                f"the build cache {self.path} {what}: {exc}",
                details=[f"delete it (it is rebuilt as needed), or build with --no-cache or {CACHE_ENV}=off"],
            ) from exc

    @classmethod
    def default(cls) -> BuildCache | None:
        where = cache_dir()
        return None if where is None else cls(where / CACHE_FILE)

    def _key(self, kind: str, key: str) -> str:
        return hashlib.sha256(f"{self.prefix}\0{kind}\0{key}".encode()).hexdigest()

    def _get(self, kind: str, key: str) -> bytes | None:
        hashed = self._key(kind, key)
        with self._guard("cannot be read"):
            row = self.db.execute("SELECT value, used FROM entry WHERE key = ?", (hashed,)).fetchone()
        if row is None:
            return None
        if row[1] < self.day:
            self.touched.append(hashed)
        return bytes(row[0])

    def _put(self, kind: str, key: str, value: bytes) -> None:
        self.pending.append((self._key(kind, key), value))
        self._pending_bytes += len(value)
        if len(self.pending) >= _BATCH or self._pending_bytes >= _BATCH_BYTES:
            self.commit()

    # parsed mapping files (sources.parsecache.ParseStore)
    def get_parsed(self, key: str) -> bytes | None:
        return self._get("parsed", key)

    def put_parsed(self, key: str, value: bytes) -> None:
        self._put("parsed", key, value)

    # publications that validated, and whose cross-file checks passed (sources.loader)
    def get_loaded(self, key: str) -> bytes | None:
        return self._get("loaded", key)

    def put_loaded(self, key: str, value: bytes) -> None:
        self._put("loaded", key, value)

    def get_checked(self, key: str) -> bytes | None:
        return self._get("checked", key)

    def put_checked(self, key: str, value: bytes) -> None:
        self._put("checked", key, value)

    # compiled publications (fhir.compile_memo.CompileMemo)
    def get_compiled(self, key: str) -> bytes | None:
        return self._get("compiled", key)

    def put_compiled(self, key: str, value: bytes) -> None:
        self._put("compiled", key, value)

    # validated resources
    def validated(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` recorded as valid (asked ``_LOOKUP`` at a time: one query each)."""
        hashed = {self._key("valid", key): key for key in keys}
        asked = list(hashed)
        found: set[str] = set()
        for start in range(0, len(asked), _LOOKUP):
            chunk = asked[start : start + _LOOKUP]
            marks = ",".join("?" * len(chunk))
            with self._guard("cannot be read"):
                query = f"SELECT key, used FROM entry WHERE key IN ({marks})"  # noqa: S608  # marks only
                rows = self.db.execute(query, chunk).fetchall()
            found.update(hashed[row[0]] for row in rows)
            self.touched.extend(row[0] for row in rows if row[1] < self.day)
        return found

    def mark_valid(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._put("valid", key, b"")

    def commit(self) -> None:
        """Write the entries not written yet, and today's date on the entries found."""
        with self._guard("cannot be written"), self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO entry VALUES (?, ?, ?)", ((k, v, self.day) for k, v in self.pending)
            )
            self.db.executemany(
                "UPDATE entry SET used = ? WHERE key = ?", ((self.day, k) for k in self.touched)
            )
        self.pending.clear()
        self.touched.clear()
        self._pending_bytes = 0

    def prune(self) -> int:
        """Remove the entries no build used for ``KEEP_DAYS`` days, at most once a day; how many.

        The file does not shrink (SQLite reuses the freed pages for new entries); it stops growing.
        """
        with self._guard("cannot be written"), self.db:
            last = self.db.execute("SELECT value FROM meta WHERE name = 'pruned'").fetchone()
            if last is not None and last[0] >= self.day:
                return 0
            removed = self.db.execute("DELETE FROM entry WHERE used < ?", (self.day - KEEP_DAYS,)).rowcount
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", (self.day,))
        return removed

    def close(self) -> None:
        self.db.close()


def validation_keys(resources: Sequence[dict], packages: str) -> dict[str, str]:
    """``Type/id -> key`` for each resource: its JSON, its direct reference targets' JSON, the packages."""
    refs = [f"{rtype}/{rid}" for rtype, rid in type_ids(resources)]
    texts: Iterable[bytes] = (
        map(resources.text, range(len(resources)))  # the stored text is that JSON
        if isinstance(resources, SpilledResources)
        else (dumps(r, indent=None).encode() for r in resources)  # one at a time
    )
    digests = {ref: hashlib.sha256(text).hexdigest() for ref, text in zip(refs, texts, strict=True)}
    keys = {}
    for ref, values in zip(refs, reference_strings(resources), strict=True):
        targets = sorted({t for t in values if RELATIVE_REF.match(t)})
        parts = [packages, digests[ref], *(f"{t}={digests.get(t, '-')}" for t in targets)]
        keys[ref] = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return keys
