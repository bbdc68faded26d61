"""Glue to the packages stage: obtain a definitions object for the validator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence_publisher.validate.definitions import CacheDefinitions, DefinitionSource


def load_definitions(cache: Any = None, progress: Callable[[str], None] | None = None) -> DefinitionSource:
    """Ensure the pinned packages and return their definitions.

    Uses ``evidence_publisher.packages.PackageCache`` when it exists; otherwise reads the cache
    folder directly (``$FHIR_PACKAGE_CACHE`` or ``~/.fhir/packages``).
    """
    try:
        from evidence_publisher.packages import PackageCache  # type: ignore[attr-defined]
    except ImportError:
        PackageCache = None
    if PackageCache is not None:
        pc = cache if cache is not None else PackageCache.default()
        pc.ensure(progress=progress)
        return pc.definitions()
    root = getattr(cache, "root", cache)
    return CacheDefinitions.from_cache_root(root)
