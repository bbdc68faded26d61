"""One package in the cache: its manifest, its index and its files, read on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.packages.index import ensure_index
from evidence_publisher.packages.spec import PackageSpec

#: Written beside ``package/``; records where the package came from. Other tools ignore it.
INSTALL_RECORD = "evidence-publisher-install.json"


@dataclass
class InstalledPackage:
    """One package in the cache. ``path`` is its ``package/`` directory."""

    name: str
    version: str
    path: Path
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def spec(self) -> PackageSpec:
        return PackageSpec(self.name, self.version)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """``package.json`` as a dict."""
        doc = jsonio.load_file(self.path / "package.json")
        return doc if isinstance(doc, dict) else {}

    @cached_property
    def index(self) -> list[dict[str, Any]]:
        """``.index.json`` entries (built and saved on first use when the package lacks it)."""
        return ensure_index(self.path)

    @property
    def fhir_versions(self) -> list[str]:
        versions = self.manifest.get("fhirVersions") or self.manifest.get("fhir-version-list")
        if isinstance(versions, list):
            return [str(v) for v in versions]
        return []

    @property
    def dependencies(self) -> dict[str, str]:
        deps = self.manifest.get("dependencies")
        if not isinstance(deps, dict):
            return {}
        return {str(k): str(v) for k, v in deps.items()}

    @cached_property
    def install_record(self) -> dict[str, Any]:
        try:
            doc = jsonio.load_file(self.path.parent / INSTALL_RECORD)
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    @property
    def source(self) -> str:
        """Where it came from: "registry", "npm", "file", "generated", or "unknown" (copied in)."""
        return str(self.install_record.get("source") or "unknown")

    def load(self, filename: str) -> dict[str, Any]:
        """Parse one file of ``package/`` (numbers as Decimal); parsed files are cached."""
        doc = self._loaded.get(filename)
        if doc is None:
            if "/" in filename or "\\" in filename or filename.startswith(".."):
                raise ValueError(f"{filename!r} is not a file name inside {self.spec}")
            doc = jsonio.load_file(self.path / filename)
            self._loaded[filename] = doc
        return doc
