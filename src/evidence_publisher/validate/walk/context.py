"""Where the walk stands: the resource being validated and the cursor over one of its JSON nodes.

``ResourceContext`` is one resource under validation (top level, contained or a Bundle entry):
the issues found so far, what its references can resolve against, and the ``#id`` references
seen inside it. ``Node`` is the cursor handed from one check to the next: the FHIRPath of a JSON
value, the element definition and type it was reached through, and the snapshot its children are
looked up in. Checks report through one-line helpers (``node.error(...)``, ``rc.warning(...)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from evidence_publisher.validate.model import ElementDef, TypeModel
from evidence_publisher.validate.outcome import Issue

REL_REF = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
ABS_REF = re.compile(
    r"(https?://\S+/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?"
)


@dataclass
class BundleIndex:
    """What references resolve against: a Bundle's entries (or resources validated together)."""

    by_full_url: dict[str, dict] = field(default_factory=dict)
    by_type_id: dict[str, dict] = field(default_factory=dict)
    bundle_type: str | None = None

    @classmethod
    def of(cls, bundle: dict) -> BundleIndex:
        idx = cls(bundle_type=bundle.get("type"))
        for entry in bundle.get("entry") or ():
            if not isinstance(entry, dict):
                continue
            res = entry.get("resource")
            if not isinstance(res, dict):
                continue
            full = entry.get("fullUrl")
            if isinstance(full, str):
                idx.by_full_url[full] = res
            idx.add(res)
        return idx

    def add(self, res: dict) -> None:
        rtype, rid = res.get("resourceType"), res.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            self.by_type_id.setdefault(f"{rtype}/{rid}", res)

    def resolve(self, ref: str) -> dict | None:
        hit = self.by_full_url.get(ref)
        if hit is not None:
            return hit
        key = type_id_key(ref)
        return None if key is None else self.by_type_id.get(key)

    def resolve_full(self, ref: str) -> dict | None:
        """The whole target resource, for FHIRPath's ``resolve()``. ``resolve`` may answer with
        less (its type, ``meta`` and ``category``: all the other checks read of a target) when
        the targets are not held in memory."""
        return self.resolve(ref)


def type_id_key(ref: str) -> str | None:
    """``Type/id`` of a relative or absolute literal reference (None for other forms)."""
    m = ABS_REF.fullmatch(ref)
    if m:
        return f"{m[2]}/{m[3]}"
    m = REL_REF.fullmatch(ref)
    if m:
        return f"{m[1]}/{m[2]}"
    return None


@dataclass
class ResourceContext:
    """One resource under validation and the issues found in it."""

    resource: dict
    root_resource: dict
    issues: list[Issue]
    bundle: BundleIndex | None = None
    parent: ResourceContext | None = None
    local_refs: set[str] = field(default_factory=set)  # '#...' strings seen anywhere inside
    entries: list[tuple[dict, list[Issue]]] = field(default_factory=list)

    def add(self, severity: str, code: str, fp: str, message: str, rule: str) -> None:
        self.issues.append(Issue(severity, code, fp, message, rule))

    def error(self, code: str, fp: str, message: str, rule: str) -> None:
        self.issues.append(Issue("error", code, fp, message, rule))

    def warning(self, code: str, fp: str, message: str, rule: str) -> None:
        self.issues.append(Issue("warning", code, fp, message, rule))

    def contained(self) -> dict[str, dict]:
        out = {}
        for c in self.root_resource.get("contained") or ():
            if isinstance(c, dict) and isinstance(c.get("id"), str):
                out[c["id"]] = c
        return out

    def resolve(self, ref: str) -> dict | None:
        if ref.startswith("#"):
            if ref == "#":
                return self.root_resource
            return self.contained().get(ref[1:])
        if self.bundle is not None:
            return self.bundle.resolve(ref)
        return None

    def resolve_full(self, ref: str) -> dict | None:
        """Like ``resolve``, but the whole target (see ``BundleIndex.resolve_full``)."""
        if self.bundle is not None and not ref.startswith("#"):
            return self.bundle.resolve_full(ref)
        return self.resolve(ref)

    def add_ref(self, value: str) -> None:
        ctx: ResourceContext | None = self
        while ctx is not None:
            ctx.local_refs.add(value)
            ctx = ctx.parent


class Node:
    """The walk's cursor: one JSON value of a resource and the definitions that govern it.

    ``fp`` is the value's FHIRPath; ``elem`` and ``tcode`` are the element definition and type
    it was reached through; ``model`` and ``path`` say where its children are defined (the
    resource's, a datatype's, a profile's or an extension's snapshot, under ``path``).
    ``parent`` is the node holding it: an extension's context is checked against its parent.
    """

    __slots__ = ("elem", "fp", "model", "parent", "path", "rc", "tcode")

    # seven parameters: one per field of this record, built once per JSON value on the hot path
    def __init__(
        self,
        rc: ResourceContext,
        fp: str,
        model: TypeModel,
        path: str,
        elem: ElementDef,
        tcode: str,
        parent: Node | None = None,
    ) -> None:
        self.rc = rc
        self.fp = fp
        self.model = model
        self.path = path
        self.elem = elem
        self.tcode = tcode
        self.parent = parent

    def at(self, fp: str) -> Node:
        """The same element at another FHIRPath (one item of a repeating element)."""
        return Node(self.rc, fp, self.model, self.path, self.elem, self.tcode, self.parent)

    def within(self, model: TypeModel, path: str, elem: ElementDef) -> Node:
        """The same value, its children looked up in ``model`` under ``path``."""
        return Node(self.rc, self.fp, model, path, elem, self.tcode, self.parent)

    def error(self, code: str, message: str, rule: str) -> None:
        self.rc.issues.append(Issue("error", code, self.fp, message, rule))

    def warning(self, code: str, message: str, rule: str) -> None:
        self.rc.issues.append(Issue("warning", code, self.fp, message, rule))
