"""What the validator needs from the conformance resources (StructureDefinition, ValueSet, CodeSystem).

The packages stage's ``Definitions`` (a resolver over the installed FHIR packages) satisfies this
protocol; tests may pass any object that does.
"""

from __future__ import annotations

from typing import Protocol

SD_BASE = "http://hl7.org/fhir/StructureDefinition/"


class DefinitionSource(Protocol):
    def by_url(self, url: str, version: str | None = None) -> dict | None: ...

    def structure_definition(self, url_or_type: str) -> dict | None: ...

    def value_set(self, url: str) -> dict | None: ...

    def code_system(self, url: str) -> dict | None: ...
