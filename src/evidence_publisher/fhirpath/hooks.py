"""What the caller provides to FHIR's ``resolve()`` and ``memberOf()``.

The validator passes its reference resolver (contained resources, then the Bundle) and its
terminology check (the same expansions as its binding checks); the CDS service passes none.
Both engines read them from here, so compiled closures and parse trees stay shareable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)  # not frozen: the validator builds one per evaluation, and frozen is 2.5x slower
class Hooks:
    # reference string -> the resource it points to, or None
    resolve: Callable[[str], dict | None] | None = None
    # (code, Coding or CodeableConcept; value set url) -> True/False, or None when undecidable
    member_of: Callable[[Any, str], bool | None] | None = None


NO_HOOKS = Hooks()  # resolve() finds nothing, memberOf() answers empty
