"""``.index.json`` (index-version 2): one entry per resource file at the top of ``package/``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from evidence_publisher import jsonio

INDEX_FILENAME = ".index.json"
INDEX_VERSION = 2
# Fields of an index-version 2 entry, copied from the resource when they are strings.
_FIELDS = (
    "id",
    "url",
    "version",
    "kind",
    "type",
    "supplements",
    "content",
    "valueSet",
    "derivation",
)
_SKIP = {"package.json", INDEX_FILENAME, ".index.db"}


def entry_for(filename: str, resource: Any) -> dict[str, str] | None:
    """The index entry of one parsed file, or None when it is not a FHIR resource."""
    if not isinstance(resource, dict):
        return None
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return None
    entry = {"filename": filename, "resourceType": rtype}
    for key in _FIELDS:
        value = resource.get(key)
        if isinstance(value, str):
            entry[key] = value
    return entry


def build_index(package_dir: Path) -> dict[str, Any]:
    """Scan ``package_dir`` (not its sub-folders) and return the index document."""
    files: list[dict[str, str]] = []
    for path in sorted(package_dir.iterdir(), key=lambda p: p.name):
        if path.name in _SKIP or path.suffix.lower() != ".json" or not path.is_file():
            continue
        try:
            resource = jsonio.load_file(path)
        except (ValueError, OSError):
            continue  # not JSON (or unreadable): not a resource, so not indexed
        entry = entry_for(path.name, resource)
        if entry is not None:
            files.append(entry)
    return {"index-version": INDEX_VERSION, "files": files}


def read_index(package_dir: Path) -> dict[str, Any] | None:
    """The package's index when it exists and is usable (index-version 1 or 2)."""
    path = package_dir / INDEX_FILENAME
    try:
        doc = jsonio.load_file(path)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        return None
    if doc.get("index-version") not in (1, 2):
        return None
    return doc


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_index(package_dir: Path) -> list[dict[str, Any]]:
    """Return the index entries, building (and, when writable, saving) the index if missing."""
    doc = read_index(package_dir)
    if doc is None:
        doc = build_index(package_dir)
        try:
            write_atomically(package_dir / INDEX_FILENAME, jsonio.dumps(doc))
        except OSError:
            pass  # a read-only cache still works; the index is rebuilt in memory next time
    return [e for e in doc["files"] if isinstance(e, dict) and "filename" in e]
