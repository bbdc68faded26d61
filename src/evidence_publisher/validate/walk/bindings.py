"""What values an element accepts beyond its type: bound value sets, fixed and pattern values."""

from __future__ import annotations

from typing import Any

from evidence_publisher.validate import native
from evidence_publisher.validate.terminology import Terminology, is_ig_only
from evidence_publisher.validate.walk.context import Node

#: The types a binding is checked on.
BINDABLE_TYPES = frozenset({"code", "Coding", "CodeableConcept", "CodeableReference", "string", "uri"})


class Bindings:
    def __init__(self, terminology: Terminology) -> None:
        self.terminology = terminology

    def member_of(self, value: Any, url: str) -> bool | None:
        """Whether a code, Coding or CodeableConcept is in value set ``url`` (None: unknown)."""
        vs = self.terminology.value_set(url)
        if isinstance(value, str):
            return vs.contains(None, value)
        if isinstance(value, dict):
            codings = value.get("coding") if "coding" in value else [value]
            answers = [
                vs.contains(c.get("system"), c.get("code", ""))
                for c in codings or ()
                if isinstance(c, dict) and isinstance(c.get("code"), str)
            ]
            if any(a is True for a in answers):
                return True
            if any(a is None for a in answers):
                return None
            return False if answers else None
        return None

    def check(self, node: Node, value: Any) -> None:
        """The element's binding: required ones are errors, extensible ones warnings."""
        assert node.elem.binding is not None
        strength, url = node.elem.binding
        vs = self.terminology.value_set(url)
        if vs.unknown:
            return
        severity = "error" if strength == "required" else "warning"
        tcode, fp = node.tcode, node.fp
        if tcode in ("code", "string", "uri"):
            if not isinstance(value, str) or vs.contains(None, value) is not False:
                return
            if tcode != "code" and strength != "required":
                return
            node.rc.add(
                severity, "code-invalid", fp, f"code {value!r} is not in the {strength} value set {url}", url
            )
            return
        if tcode == "CodeableReference":
            value = value.get("concept")
            fp = f"{fp}.concept"
            if not isinstance(value, dict):
                return
        codings = value.get("coding") if tcode != "Coding" else [value]
        if not isinstance(codings, list):
            return
        codings = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
        if not codings:
            if strength == "required" and tcode != "Coding" and not value.get("text"):
                node.rc.add(severity, "code-invalid", fp, f"no code given; one is required from {url}", url)
            return
        answers = [vs.contains(c.get("system"), c["code"]) for c in codings]
        if any(a is not False for a in answers) or all(is_ig_only(c.get("system")) for c in codings):
            return
        shown = ", ".join(f"{c.get('system', '')}#{c['code']}" for c in codings)
        where = fp if tcode == "Coding" else f"{fp}.coding[0]" if len(codings) == 1 else fp
        node.rc.add(severity, "code-invalid", where, f"{shown} is not in the {strength} value set {url}", url)

    @staticmethod
    def fixed_pattern(node: Node, value: Any) -> None:
        elem = node.elem
        if elem.fixed is not None and not native.deep_equal(value, elem.fixed):
            node.error("value", f"value {value!r} differs from the fixed value {elem.fixed!r}", "fixed-value")
        if elem.pattern is not None and not native.matches_pattern(value, elem.pattern):
            msg = f"value {value!r} does not match the pattern {elem.pattern!r}"
            node.error("value", msg, "pattern-value")
