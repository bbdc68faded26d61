"""What the validator needs from the conformance resources (StructureDefinition, ValueSet, CodeSystem).

The packages stage's ``Definitions`` (a resolver over the installed FHIR packages) satisfies this
protocol; tests may pass any object that does.
"""

from __future__ import annotations

from typing import Protocol

# the validator's walk (validate/walker.py, being split into validate/walk/) imports this name
from evidence_publisher.constants import CORE_SD as SD_BASE

__all__ = ["SD_BASE", "DefinitionSource"]


class DefinitionSource(Protocol):
    def by_url(self, url: str, version: str | None = None) -> dict | None: ...

    def structure_definition(self, url_or_type: str) -> dict | None: ...

    def value_set(self, url: str) -> dict | None: ...

    def code_system(self, url: str) -> dict | None: ...
