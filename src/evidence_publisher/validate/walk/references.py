"""References in the walk: literal form, target type, ``Reference.type`` and resolution."""

from __future__ import annotations

import re

from evidence_publisher.validate.definitions import SD_BASE
from evidence_publisher.validate.model import ElementDef, ModelRegistry
from evidence_publisher.validate.primitives import check_primitive
from evidence_publisher.validate.walk.context import ABS_REF, REL_REF, Node, ResourceContext

_ANY_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_ANY_RESOURCE = (SD_BASE + "Resource", SD_BASE + "DomainResource")


class References:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._allowed: dict[tuple[str, ...], frozenset[str] | None] = {}

    def check(self, node: Node, value: dict, fp: str) -> None:
        """A Reference at ``fp`` (``node`` is the element: a Reference or a CodeableReference)."""
        rc = node.rc
        allowed = self._allowed_for(node.elem)
        declared = value.get("type")
        if isinstance(declared, str) and allowed is not None and declared not in allowed:
            msg = f"Reference.type {declared!r} is not allowed here (allowed: {', '.join(sorted(allowed))})"
            rc.error("structure", f"{fp}.type", msg, "reference-target")
        ref = value.get("reference")
        if not isinstance(ref, str):
            return
        well_formed, ref_type = self._literal(rc, ref, f"{fp}.reference")
        if not well_formed:
            return
        ref_type = self._resolve(rc, ref, ref_type, f"{fp}.reference")
        if isinstance(declared, str) and ref_type and declared != ref_type:
            msg = f"Reference.type {declared!r} does not match the reference target type {ref_type!r}"
            rc.error("value", f"{fp}.type", msg, "reference-target")
        if ref_type and allowed is not None and ref_type not in allowed:
            msg = (
                f"reference {ref!r} points to a {ref_type}, but {node.elem.path} "
                f"allows only {', '.join(sorted(allowed))}"
            )
            rc.error("structure", f"{fp}.reference", msg, "reference-target")

    def _literal(self, rc: ResourceContext, ref: str, fp: str) -> tuple[bool, str | None]:
        """(well formed, the resource type it names if it names one) of a literal reference."""
        if ref.startswith("#"):
            rc.add_ref(ref)
            return True, None
        if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            msg = check_primitive("uri", ref)
            if msg:
                rc.error("value", fp, f"invalid reference: {msg}", "reference-format")
                return False, None
            return True, None
        m = REL_REF.fullmatch(ref)
        ma = ABS_REF.fullmatch(ref) if m is None else None
        ref_type = m[1] if m else ma[2] if ma else None
        if ref_type is None and not _ANY_URI.fullmatch(ref):
            msg = (
                f"reference {ref!r} is not a valid literal reference "
                "(Type/id, an absolute URL, urn:uuid: or #id)"
            )
            rc.error("value", fp, msg, "reference-format")
            return False, None
        if ref_type is not None and not self.registry.is_resource_type(ref_type):
            rc.error(
                "value", fp, f"reference {ref!r} names unknown resource type {ref_type!r}", "reference-format"
            )
            return False, None
        return True, ref_type

    @staticmethod
    def _resolve(rc: ResourceContext, ref: str, ref_type: str | None, fp: str) -> str | None:
        """The type of the resource ``ref`` resolves to (or ``ref_type``); inside a Bundle, a
        reference that does not resolve is reported."""
        target = rc.resolve(ref)
        if target is not None:
            return target.get("resourceType") if ref != "#" else ref_type
        if rc.bundle is not None and rc.bundle.bundle_type is not None and not ref.startswith("#"):
            if ref.startswith("urn:"):
                msg = (
                    f"reference {ref!r} does not resolve to any Bundle entry "
                    "(urn: references must resolve inside the Bundle)"
                )
                rc.error("not-found", fp, msg, "reference-resolve")
            elif REL_REF.fullmatch(ref):
                rc.warning(
                    "not-found",
                    fp,
                    f"reference {ref!r} does not resolve inside the Bundle",
                    "reference-resolve",
                )
        return ref_type

    def _allowed_for(self, elem: ElementDef) -> frozenset[str] | None:
        """The resource types the element's target profiles allow (None: any)."""
        profiles: tuple[str, ...] = ()
        for t in elem.types:
            if t.code in ("Reference", "CodeableReference"):
                profiles += t.target_profiles
        return self._allowed_types(profiles) if profiles else None

    def _allowed_types(self, profiles: tuple[str, ...]) -> frozenset[str] | None:
        if profiles in self._allowed:
            return self._allowed[profiles]
        result: frozenset[str] | None = None
        out: set[str] = set()
        for p in profiles:
            if p in _ANY_RESOURCE:
                break
            m = self.registry.get(p)
            if m is not None:
                out.add(m.type)
            elif p.startswith(SD_BASE):
                out.add(p.rsplit("/", 1)[1])
            else:
                break  # an uninstalled profile: its base type is unknown
        else:
            result = frozenset(out) or None
        self._allowed[profiles] = result
        return result
