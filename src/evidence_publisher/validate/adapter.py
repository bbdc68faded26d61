"""Glue to the packages stage: obtain a definitions object for the validator."""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.packages import PackageCache
from evidence_publisher.validate.definitions import DefinitionSource


def load_definitions(
    cache: PackageCache | None = None,
    progress: Callable[[str], None] | None = None,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> DefinitionSource:
    """Ensure the pinned packages of the FHIR version ``fhir`` are installed in ``cache`` (default:
    ``PackageCache.default()``) and return their definitions."""
    pc = cache if cache is not None else PackageCache.default()
    return pc.definitions(progress=progress, fhir=fhir)
