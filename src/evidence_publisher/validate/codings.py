"""Checks of every Coding against its code system, bound or not (as the HL7 validator does).

* ``coding-system``: a system in HL7's own namespaces (``http://hl7.org/fhir/``,
  ``http://terminology.hl7.org/CodeSystem/``) that no installed package defines, such as the R4
  ``http://hl7.org/fhir/resource-types``. External systems named there (``/sid/``) are exempt.
* ``coding-code``: a code that a code system with ``content: complete`` does not define.
* ``coding-display``: a display that is neither the concept's display nor one of its
  designations (compared ignoring case and runs of white space).
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.validate.definitions import DefinitionSource
from evidence_publisher.validate.outcome import Issue

HL7_NAMESPACES = ("http://hl7.org/fhir/", "http://terminology.hl7.org/CodeSystem/")
EXTERNAL_IN_HL7 = ("http://hl7.org/fhir/sid/",)

_Concepts = dict[str, set[str]]  # code -> normalised displays and designations


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class CodingChecks:
    def __init__(self, definitions: DefinitionSource) -> None:
        self.definitions = definitions
        self._systems: dict[str, tuple[bool, _Concepts | None]] = {}

    def concepts(self, system: str) -> tuple[bool, _Concepts | None]:
        """(known, the concepts of a complete code system or None)."""
        return self._system(system)

    def _system(self, system: str) -> tuple[bool, _Concepts | None]:
        hit = self._systems.get(system)
        if hit is None:
            cs = self.definitions.code_system(system)
            if cs is None:
                hit = (self.definitions.by_url(system) is not None, None)
            elif cs.get("content") != "complete":
                hit = (True, None)
            else:
                concepts: _Concepts = {}
                stack = list(cs.get("concept") or ())
                while stack:
                    c = stack.pop()
                    if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                        continue
                    names = {_norm(c["display"])} if isinstance(c.get("display"), str) else set()
                    for d in c.get("designation") or ():
                        if isinstance(d, dict) and isinstance(d.get("value"), str):
                            names.add(_norm(d["value"]))
                    concepts[c["code"]] = names
                    stack.extend(c.get("concept") or ())
                hit = (True, concepts)
            self._systems[system] = hit
        return hit

    def _other_release_defines(self, system: str, code: str) -> str | None:
        """The version of the other FHIR release whose edition of ``system`` defines ``code``."""
        lookup = getattr(self.definitions, "other_release_code_system", None)
        cs = lookup(system) if lookup is not None else None
        if not isinstance(cs, dict):
            return None
        stack = list(cs.get("concept") or ())
        while stack:
            c = stack.pop()
            if isinstance(c, dict) and c.get("code") == code:
                return str(cs.get("version", "?"))
            stack.extend(c.get("concept") or () if isinstance(c, dict) else ())
        return None

    def check(self, coding: Any, fp: str) -> list[Issue]:
        if not isinstance(coding, dict):
            return []
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if not isinstance(system, str) or "|" in system:
            return []
        known, concepts = self._system(system)
        if not known:
            if system.startswith(HL7_NAMESPACES) and not system.startswith(EXTERNAL_IN_HL7):
                msg = f"code system {system!r} is in HL7's namespace, but no installed package defines it"
                return [Issue("error", "code-invalid", f"{fp}.system", msg, "coding-system")]
            return []
        if concepts is None or not isinstance(code, str):
            return []
        names = concepts.get(code)
        if names is None:
            msg = f"code {code!r} is not defined by the code system {system} (content complete)"
            other = self._other_release_defines(system, code)
            if other is not None:
                # cross-version content (an R5 element carried into R4B) uses the newer edition
                msg = f"{msg}; its FHIR {other} edition defines it (cross-version content)"
                return [Issue("warning", "code-invalid", f"{fp}.code", msg, "coding-code")]
            return [Issue("error", "code-invalid", f"{fp}.code", msg, "coding-code")]
        if isinstance(display, str) and names and _norm(display) not in names:
            shown = ", ".join(sorted(repr(n) for n in names)[:4])
            msg = f"display {display!r} is not the display of {system}#{code} (one of {shown}, ignoring case)"
            return [Issue("error", "code-invalid", f"{fp}.display", msg, "coding-display")]
        return []
