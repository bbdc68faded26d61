"""Lazy lookup of canonical resources across installed packages.

Only the packages' ``.index.json`` files are read up front; a resource file is parsed the first
time it is asked for and then kept. Earlier packages win when a URL is defined twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.constants import CORE_SD, FHIR_VERSIONS
from evidence_publisher.packages.installed import InstalledPackage
from evidence_publisher.packages.spec import is_prerelease

_Candidate = tuple[InstalledPackage, dict[str, Any]]
_CORE_NAMES = frozenset(name for v in FHIR_VERSIONS.values() for name in v.core_names)
# CodeSystem.content values that carry the concepts, best first.
_CONTENT_RANK = {"complete": 0, "supplement": 1, "fragment": 2, "example": 3, "not-present": 4}


class Definitions:
    """Resolves canonical URLs (StructureDefinition, ValueSet, CodeSystem, ...) to parsed dicts."""

    def __init__(
        self, packages: Sequence[InstalledPackage], *, cross_version: Definitions | None = None
    ) -> None:
        """``cross_version``: the definitions of the FHIR release whose elements these packages'
        release carries in cross-version extensions (R5 for R4B); its code systems answer where
        ``packages`` define none (see ``other_release_code_system``)."""
        self.packages: list[InstalledPackage] = list(packages)
        self.cross_version = cross_version
        self._by_url: dict[str, list[_Candidate]] | None = None
        self._by_type: dict[str, list[_Candidate]] | None = None
        self._released: frozenset[str] | None = None

    def _build(self) -> None:
        by_url: dict[str, list[_Candidate]] = {}
        by_type: dict[str, list[_Candidate]] = {}
        for pkg in self.packages:
            for entry in pkg.index:
                cand = (pkg, entry)
                url = entry.get("url")
                if isinstance(url, str):
                    by_url.setdefault(url, []).append(cand)
                rtype = entry.get("resourceType")
                if isinstance(rtype, str):
                    by_type.setdefault(rtype, []).append(cand)
        self._by_url, self._by_type = by_url, by_type

    def _candidates(self, url: str, resource_type: str | None = None) -> list[_Candidate]:
        if self._by_url is None:
            self._build()
        assert self._by_url is not None
        found = self._by_url.get(url, [])
        if resource_type is not None:
            found = [c for c in found if c[1].get("resourceType") == resource_type]
        return found

    @staticmethod
    def _split(url: str, version: str | None) -> tuple[str, str | None]:
        if "|" in url:
            url, _, pipe_version = url.partition("|")
            version = version or pipe_version or None
        return url, version

    @staticmethod
    def _pick(cands: list[_Candidate], version: str | None) -> dict[str, Any] | None:
        for pkg, entry in cands:
            if version is None:
                return pkg.load(entry["filename"])
            entry_version = entry.get("version")
            if entry_version == version:
                return pkg.load(entry["filename"])
            if entry_version is None:
                doc = pkg.load(entry["filename"])
                if doc.get("version") == version:
                    return doc
        return None

    def by_url(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        """Any canonical resource by ``url`` (``url|version`` accepted)."""
        url, version = self._split(url, version)
        return self._pick(self._candidates(url), version)

    def structure_definition(self, url_or_type: str) -> dict[str, Any] | None:
        """A StructureDefinition by canonical URL, or by core type name such as ``"Evidence"``."""
        url, version = self._split(url_or_type, None)
        if "/" not in url and ":" not in url:
            url = CORE_SD + url
        return self._pick(self._candidates(url, "StructureDefinition"), version)

    def value_set(self, url: str) -> dict[str, Any] | None:
        """A ValueSet; where several packages define it, the first one carrying an expansion."""
        url, version = self._split(url, None)
        cands = self._candidates(url, "ValueSet")
        if version is not None:
            return self._pick(cands, version)
        first: dict[str, Any] | None = None
        # Expansion packages first: they hold the same ValueSets with `expansion` filled in.
        ordered = sorted(cands, key=lambda c: 0 if "expansions" in c[0].name else 1)
        for pkg, entry in ordered:
            doc = pkg.load(entry["filename"])
            if "expansion" in doc:
                return doc
            first = first or doc
        return first

    def code_system(self, url: str) -> dict[str, Any] | None:
        """A CodeSystem; where several packages define it, the most complete content wins."""
        url, version = self._split(url, None)
        cands = self._candidates(url, "CodeSystem")
        if version is not None:
            return self._pick(cands, version)
        ranked = sorted(
            enumerate(cands),
            key=lambda ic: (_CONTENT_RANK.get(str(ic[1][1].get("content")), 2), ic[0]),
        )
        for _, (pkg, entry) in ranked:
            return pkg.load(entry["filename"])
        return self.cross_version.code_system(url) if self.cross_version is not None else None

    def other_release_code_system(self, url: str) -> dict[str, Any] | None:
        """The cross-version release's own edition of code system ``url`` (None without one)."""
        return self.cross_version.code_system(url) if self.cross_version is not None else None

    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        """Every resource of one type, package by package (parses each file on first use)."""
        if self._by_type is None:
            self._build()
        assert self._by_type is not None
        for pkg, entry in self._by_type.get(resource_type, []):
            yield pkg.load(entry["filename"])

    def released_extension_urls(self) -> frozenset[str]:
        """Extension URLs that a released package vouches for: those a core package's
        extension registry links (``other/spec.internals``, written when R5 was published) and
        those defined by any installed package whose version is not a pre-release."""
        if self._released is None:
            urls: set[str] = set()
            for pkg in self.packages:
                if is_prerelease(pkg.version):
                    continue
                internals = pkg.path / "other" / "spec.internals"
                if pkg.name in _CORE_NAMES and internals.is_file():
                    with contextlib.suppress(OSError, ValueError):
                        paths = jsonio.loads(internals.read_bytes().removeprefix(b"\xef\xbb\xbf")).get(
                            "paths"
                        )
                        if isinstance(paths, dict):
                            urls.update(u for u, page in paths.items() if "/extensions/" in str(page))
                for entry in pkg.index:
                    if entry.get("type") == "Extension" and isinstance(entry.get("url"), str):
                        urls.add(entry["url"])
            self._released = frozenset(urls)
        return self._released

    def package_of(self, url: str) -> InstalledPackage | None:
        """The package that defines ``url`` (the one ``by_url`` reads from)."""
        url, _ = self._split(url, None)
        cands = self._candidates(url)
        return cands[0][0] if cands else None
