"""Reusing the parse of a mapping file that has not changed since an earlier build.

A mapping file that parsed without any issue can be stored as its data, locations and raw texts
(JSON, numbers kept as written), keyed by its bytes, the name it is shown under and the input
limits in force: the same key gives the same ``LocatedDocument`` that ``load_located`` would
build, without the YAML parse. Where the entries are kept is the caller's (``ParseStore``).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import simplejson

from evidence_publisher.jsonio import loads
from evidence_publisher.limits import MAPPING_FILE_BYTES, NESTING_DEPTH, STRING_CHARS, YAML_NODES, current
from evidence_publisher.sources.yamlload import LocatedDocument

_FORMAT = 1


class ParseStore(Protocol):
    """Somewhere to keep parsed mapping files between builds (``build_cache.BuildCache``), and
    what the loader learnt of them: a publication that validated (``loaded``: its id and the
    document it is the record of) and one whose cross-file checks passed (``checked``: the reads
    they made, ``sources/reads.py``)."""

    def get_parsed(self, key: str) -> bytes | None: ...

    def put_parsed(self, key: str, value: bytes) -> None: ...

    def get_loaded(self, key: str) -> bytes | None: ...

    def put_loaded(self, key: str, value: bytes) -> None: ...

    def get_checked(self, key: str) -> bytes | None: ...

    def put_checked(self, key: str, value: bytes) -> None: ...


def parse_key(display_name: str, content: bytes) -> str:
    """What the parse of a file depends on: its bytes, its shown name and the limits in force."""
    limits = [current(limit) for limit in (MAPPING_FILE_BYTES, NESTING_DEPTH, STRING_CHARS, YAML_NODES)]
    digest = hashlib.sha256(f"{_FORMAT}\0{display_name}\0{limits}\0".encode())
    digest.update(content)
    return digest.hexdigest()


def encode(doc: LocatedDocument) -> bytes:
    """The document as compact JSON, keys in the order written (``jsonio.dumps`` would sort them)."""
    kept = {
        "data": doc.data,
        "locations": [[list(path), *mark] for path, mark in doc.locations.items()],
        "raw": [[list(path), text] for path, text in doc.raw.items()],
    }
    text = simplejson.dumps(kept, use_decimal=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def decode(display_name: str, value: bytes) -> LocatedDocument:
    stored = loads(value)
    locations = {tuple(path): (line, column) for path, line, column in stored["locations"]}
    raw = {tuple(path): text for path, text in stored["raw"]}
    return LocatedDocument(display_name, stored["data"], locations, raw)
