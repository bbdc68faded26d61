"""Access to conformance resources (StructureDefinition, ValueSet, CodeSystem).

The validator needs only the small ``DefinitionSource`` protocol below. The packages stage's
``Definitions`` object satisfies it; ``CacheDefinitions`` is a thin fallback that reads a package
cache directly (``<root>/<name>#<version>/package/``) and is used when the packages API is not
available (for example in a stripped-down install).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from evidence_publisher.validate.errors import DefinitionsUnavailableError

SD_BASE = "http://hl7.org/fhir/StructureDefinition/"


class DefinitionSource(Protocol):
    def by_url(self, url: str, version: str | None = None) -> dict | None: ...

    def structure_definition(self, url_or_type: str) -> dict | None: ...

    def value_set(self, url: str) -> dict | None: ...

    def code_system(self, url: str) -> dict | None: ...


def _load_json(path: Path) -> Any:
    # Decimals keep the text of fixed/pattern values comparable with resources read by jsonio.
    with path.open("rb") as fh:
        return json.load(fh, parse_float=Decimal)


class CacheDefinitions:
    """Lazily indexed view over package folders, first folder wins for a canonical URL."""

    def __init__(self, package_dirs: Iterable[Path]) -> None:
        self._dirs = [Path(d) for d in package_dirs]
        self._index: dict[str, list[tuple[str, str, Path]]] | None = None
        self._cache: dict[Path, dict] = {}

    @classmethod
    def from_cache_root(cls, root: str | Path | None = None) -> CacheDefinitions:
        root = Path(root or os.environ.get("FHIR_PACKAGE_CACHE") or Path.home() / ".fhir/packages")
        if not root.is_dir():
            raise DefinitionsUnavailableError(
                f"FHIR package cache {str(root)!r} does not exist",
                details=["run `evidence-publisher packages install` first"],
            )
        order = [
            "evidence-publisher.ebm.local",
            "hl7.fhir.r5.expansions",
            "hl7.fhir.r5.core",
            "hl7.fhir.uv.extensions.r5",
            "hl7.terminology.r5",
        ]
        dirs: list[Path] = []
        for name in order:
            found = sorted(root.glob(f"{name}#*/package"))
            if found:
                dirs.append(found[-1])
        if not any(d.parent.name.startswith("hl7.fhir.r5.core#") for d in dirs):
            raise DefinitionsUnavailableError(
                f"hl7.fhir.r5.core is not installed in {str(root)!r}",
                details=["run `evidence-publisher packages install`"],
            )
        return cls(dirs)

    # -- index ---------------------------------------------------------------------------------
    def _build_index(self) -> dict[str, list[tuple[str, str, Path]]]:
        index: dict[str, list[tuple[str, str, Path]]] = {}
        for d in self._dirs:
            for entry in _package_index(d):
                url = entry.get("url")
                if not url:
                    continue
                index.setdefault(url, []).append(
                    (entry.get("resourceType", ""), entry.get("version") or "", d / entry["filename"])
                )
        return index

    def _get_index(self) -> dict[str, list[tuple[str, str, Path]]]:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def _load(self, path: Path) -> dict:
        res = self._cache.get(path)
        if res is None:
            res = _load_json(path)
            self._cache[path] = res
        return res

    # -- protocol ------------------------------------------------------------------------------
    def by_url(self, url: str, version: str | None = None) -> dict | None:
        if "|" in url and version is None:
            url, version = url.split("|", 1)
        hits = self._get_index().get(url)
        if not hits:
            return None
        for _rtype, ver, path in hits:
            if version is None or ver == version:
                return self._load(path)
        return self._load(hits[0][2])

    def _typed(self, url: str, rtype: str) -> dict | None:
        if "|" in url:
            url = url.split("|", 1)[0]
        for rt, _ver, path in self._get_index().get(url, ()):
            if rt == rtype:
                return self._load(path)
        return None

    def structure_definition(self, url_or_type: str) -> dict | None:
        url = url_or_type if "/" in url_or_type else SD_BASE + url_or_type
        return self._typed(url, "StructureDefinition")

    def value_set(self, url: str) -> dict | None:
        return self._typed(url, "ValueSet")

    def code_system(self, url: str) -> dict | None:
        return self._typed(url, "CodeSystem")

    def iter_resources(self, resource_type: str) -> Iterator[dict]:
        seen: set[Path] = set()
        for hits in self._get_index().values():
            for rt, _ver, path in hits:
                if rt == resource_type and path not in seen:
                    seen.add(path)
                    yield self._load(path)


def _package_index(pkg: Path) -> list[dict]:
    """Read ``.index.json`` (index-version 2) or build it by scanning the folder."""
    idx = pkg / ".index.json"
    if idx.is_file():
        try:
            data = json.loads(idx.read_bytes())
            if data.get("index-version") == 2:
                return data.get("files", [])
        except ValueError:
            pass
    files = []
    for path in sorted(pkg.glob("*.json")):
        if path.name in ("package.json",) or path.name.startswith("."):
            continue
        try:
            res = json.loads(path.read_bytes())
        except ValueError:
            continue
        if not isinstance(res, dict) or "resourceType" not in res:
            continue
        files.append(
            {
                k: v
                for k, v in {
                    "filename": path.name,
                    "resourceType": res.get("resourceType"),
                    "id": res.get("id"),
                    "url": res.get("url"),
                    "version": res.get("version"),
                    "kind": res.get("kind"),
                    "type": res.get("type"),
                }.items()
                if v is not None
            }
        )
    try:
        tmp = idx.with_suffix(".tmp")
        tmp.write_text(json.dumps({"index-version": 2, "files": files}))
        tmp.replace(idx)
    except OSError:
        pass
    return files
