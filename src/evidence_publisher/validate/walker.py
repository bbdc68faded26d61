"""The structural walk: one pass over a resource's JSON driven by compiled snapshots.

For every JSON property the walker finds the element definition (``TypeModel.children``), then
checks array form, ``null``, cardinality, primitive lexical form, type, fixed/pattern values,
bindings, references and extensions, and evaluates the invariants whose context element exists.
ele-1, ext-1 and dom-2..6 run as native Python (``native.py``); every other invariant runs as a
closure compiled once per expression (the ``fhirpath`` package), or through fhirpathpy when the
compiled closure cannot decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from evidence_publisher import fhirpath
from evidence_publisher.fhirpath.shortcuts import compile_shortcut
from evidence_publisher.validate import native, resource_rules, slicing
from evidence_publisher.validate.codings import CodingChecks
from evidence_publisher.validate.model import (
    PRIMITIVE_TYPES,
    Constraint,
    ElementDef,
    ModelRegistry,
    Slice,
    TypeModel,
)
from evidence_publisher.validate.outcome import Issue
from evidence_publisher.validate.primitives import check_primitive
from evidence_publisher.validate.terminology import Terminology, is_ig_only

SD = "http://hl7.org/fhir/StructureDefinition/"
EBM_BASE = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"
NATIVE_KEYS = frozenset({"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"})
_REL_REF = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?")
_ABS_REF = re.compile(
    r"(https?://\S+/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?"
)
_CODING_TYPES = frozenset({"code", "Coding", "CodeableConcept", "CodeableReference", "string", "uri"})


@dataclass
class BundleIndex:
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
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                idx.by_type_id.setdefault(f"{rtype}/{rid}", res)
        return idx

    def add(self, res: dict) -> None:
        rtype, rid = res.get("resourceType"), res.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            self.by_type_id.setdefault(f"{rtype}/{rid}", res)

    def resolve(self, ref: str) -> dict | None:
        hit = self.by_full_url.get(ref)
        if hit is not None:
            return hit
        m = _ABS_REF.fullmatch(ref)
        if m:
            return self.by_type_id.get(f"{m[2]}/{m[3]}")
        m = _REL_REF.fullmatch(ref)
        if m:
            return self.by_type_id.get(f"{m[1]}/{m[2]}")
        return None


@dataclass
class ResourceContext:
    resource: dict
    root_resource: dict
    issues: list[Issue]
    bundle: BundleIndex | None = None
    parent: ResourceContext | None = None
    local_refs: set[str] = field(default_factory=set)  # '#...' strings seen anywhere inside
    entries: list[tuple[dict, list[Issue]]] = field(default_factory=list)

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

    def add_ref(self, value: str) -> None:
        ctx: ResourceContext | None = self
        while ctx is not None:
            ctx.local_refs.add(value)
            ctx = ctx.parent


class Walker:
    def __init__(self, registry: ModelRegistry, terminology: Terminology) -> None:
        self.registry = registry
        self.terminology = terminology
        self._constraints: dict[tuple[int, str], tuple[Constraint, ...]] = {}
        self._native: dict[tuple[int, str], tuple[Constraint, ...]] = {}
        self._node_ids: dict[tuple[str, str], frozenset[str]] = {}
        self._allowed: dict[tuple[str, ...], frozenset[str] | None] = {}
        self._domain: dict[str, tuple[Constraint, ...]] = {}
        self._ballot: dict[str, str | None] = {}
        self.codings = CodingChecks(registry.definitions)
        self._ext_pack: bool | None = None
        # differential mode: (key, type path, our verdict, fhirpathpy's verdict, data, ext) for every
        # invariant answered without fhirpathpy, of the kinds listed (native, shortcut, compiled)
        self.differential: list[tuple[str, str, bool, Any, Any, Any]] | None = None
        self.differential_kinds: frozenset[str] = frozenset({"native", "shortcut", "compiled"})
        self.extension_hook: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ resources
    def resource(
        self,
        res: Any,
        fp: str,
        issues: list[Issue],
        *,
        parent: ResourceContext | None = None,
        bundle: BundleIndex | None = None,
        contained: bool = False,
    ) -> ResourceContext | None:
        if not isinstance(res, dict):
            issues.append(Issue("error", "structure", fp, "a resource must be a JSON object", "json"))
            return None
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or not self.registry.is_resource_type(rtype):
            issues.append(
                Issue(
                    "error",
                    "structure",
                    fp,
                    f"unknown or missing resourceType {rtype!r}: it must name a concrete FHIR R5 "
                    "resource type",
                    "resource-type",
                )
            )
            return None
        model = self.registry.get(rtype)
        assert model is not None
        if contained and parent is not None:
            rc = ResourceContext(res, parent.root_resource, issues, parent.bundle, parent)
        else:
            rc = ResourceContext(res, res, issues, bundle, None)
        self._object(res, model, rtype, fp, rc, model.root, rtype, is_resource=True)
        self._resource_rules(res, rtype, fp, rc, model)
        rc.issues.extend(resource_rules.check(res, rtype, fp, self.codings))
        self._claimed_profiles(res, rtype, fp, rc)
        return rc

    def _claimed_profiles(self, res: dict, rtype: str, fp: str, rc: ResourceContext) -> None:
        """Walk again with each installed constraint profile named in meta.profile.

        The second walk uses the profile's snapshot (its cardinalities, fixed/pattern values,
        bindings and invariants), then ``_slice_walk`` assigns the items of sliced elements to
        their slices (``slicing.py``) and checks each item against its slice. Issues identical to
        the base walk's collapse in the OperationOutcome. EBM profiles are checked by ebm.py.
        """
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        if not isinstance(profiles, list):
            return
        for i, url in enumerate(profiles):
            if not isinstance(url, str) or url.startswith(EBM_BASE):
                continue
            profile = self.registry.get(url.split("|", 1)[0])
            if profile is None:
                rc.issues.append(
                    Issue(
                        "warning",
                        "not-found",
                        f"{fp}.meta.profile[{i}]",
                        f"profile {url!r} is not installed; the resource was not checked against it",
                        "profile-unknown",
                    )
                )
                continue
            if profile.type != rtype:
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"{fp}.meta.profile[{i}]",
                        f"profile {url!r} constrains {profile.type}, not {rtype}",
                        "profile-type",
                    )
                )
                continue
            if profile.sd.get("derivation") == "constraint":
                self._object(res, profile, rtype, fp, rc, profile.root, rtype, is_resource=True)
                if profile.slicings(self.registry.is_resource_type):
                    self._slice_walk(res, profile, rtype, fp, replace(rc, entries=[]))

    # ------------------------------------------------------------------ slicing (profile walk only)
    def _slice_walk(self, data: dict, view: TypeModel, path: str, fp: str, rc: ResourceContext) -> None:
        """Follow the view's elements down to its sliced elements and check their slices."""
        slicings = view.slicings(self.registry.is_resource_type)
        prefixes = view.slice_prefixes()
        for el, items in self._slice_groups(data, view, path, fp, prefixes):
            sl = slicings.get(el.path)
            chosen: list[Slice | None] = [None] * len(items)
            if sl is not None:
                base_fp = f"{fp}.{el.name}"
                chosen, issues = slicing.assign(sl, items, base_fp, self.registry.is_resource_type)
                rc.issues.extend(issues)
            for item, s in zip(items, chosen, strict=True):
                if s is not None:
                    self._slice_item(item, s, rc)
                elif isinstance(item.value, dict) and not el.content_ref:
                    self._slice_walk(item.value, view, el.path, item.fp, rc)

    def _slice_groups(
        self, data: dict, view: TypeModel, path: str, fp: str, only: frozenset[str] | None
    ) -> list[tuple[ElementDef, list[slicing.Item]]]:
        """(element, its items) for the view's children of ``path`` present in ``data``."""
        groups: dict[int, tuple[ElementDef, list[slicing.Item]]] = {}
        for key, (el, t) in view.children.get(path, {}).items():
            if only is not None and el.path not in only:
                continue
            value, ext = data.get(key), data.get("_" + key)
            if value is None and ext is None:
                groups.setdefault(id(el), (el, []))
                continue
            tcode = t or (el.types[0].code if el.types else "BackboneElement")
            base_fp = f"{fp}.{el.name}.ofType({tcode})" if el.choice else f"{fp}.{el.name}"
            items = groups.setdefault(id(el), (el, []))[1]
            if el.array and (isinstance(value, list) or isinstance(ext, list)):
                values = value if isinstance(value, list) else []
                exts = ext if isinstance(ext, list) else []
                for i in range(max(len(values), len(exts))):
                    v = values[i] if i < len(values) else None
                    e = exts[i] if i < len(exts) else None
                    if v is not None or e is not None:
                        items.append(slicing.Item(v if v is not None else e, tcode, f"{base_fp}[{i}]"))
            elif not el.array and not isinstance(value, list):
                items.append(slicing.Item(value if value is not None else ext, tcode, base_fp))
        return list(groups.values())

    def _slice_item(self, item: slicing.Item, s: Slice, rc: ResourceContext) -> None:
        """Check one item against its slice: the slice element, then the slice's sub-elements."""
        elem, view = s.element, s.view
        value, tcode = item.value, item.tcode
        if tcode in PRIMITIVE_TYPES:
            ext = None
            if isinstance(value, dict):  # only the _element object is present
                value, ext = None, value
            self._item(value, ext, elem, tcode, item.fp, rc, view, None, None)
            return
        if elem.resource_types or tcode == "Resource":
            return  # the resource itself is validated by the main walk
        self._item(value, None, elem, tcode, item.fp, rc, view, None, None)
        if isinstance(value, dict):
            self._slice_constrained(value, view, elem, tcode, item.fp, rc)
            self._slice_walk(value, view, elem.path, item.fp, rc)

    def _slice_constrained(
        self, data: dict, view: TypeModel, elem: ElementDef, tcode: str, fp: str, rc: ResourceContext
    ) -> None:
        """The slice's sub-elements under a data type (Coding, Quantity ...), which ``_item``
        walks against the generic type: their cardinality, then each child against its slice
        definition (fixed/pattern, binding, type, invariants) and deeper constrained children.
        BackboneElements were already walked against the view by ``_item``."""
        path = elem.content_ref.split("#", 1)[1] if elem.content_ref else elem.path
        table = view.children.get(path)
        if not table:
            return
        walked = tcode in ("BackboneElement", "Element") and path in view.has_children
        if not walked:
            counts: dict[str, int] = {}
            node_ids = self.node_ids(elem, tcode, view)
            for key, entry in table.items():
                if key in data or "_" + key in data:
                    value, ext = data.get(key), data.get("_" + key)
                    self._property(key, value, ext, entry, fp, rc, counts, view, node_ids, None)
            self._cardinality(table, counts, fp, rc)
        for child, items in self._slice_groups(data, view, path, fp, None):
            if child.path not in view.has_children or child.content_ref or child.resource_types:
                continue
            for item in items:
                if isinstance(item.value, dict) and item.tcode not in PRIMITIVE_TYPES:
                    self._slice_constrained(item.value, view, child, item.tcode, item.fp, rc)

    def _resource_rules(self, res: dict, rtype: str, fp: str, rc: ResourceContext, model: TypeModel) -> None:
        if "DomainResource" not in self.registry.ancestors(rtype):
            return
        for c in self.domain_constraints():
            if c.key == "dom-6" and rc.parent is not None:
                continue  # contained resources carry no narrative of their own (Java agrees)
            ok, where = native.dom(c.key, res, rc.local_refs)
            if self.differential is not None:
                self._diff(c, res, rtype, rc, ok)
            if not ok:
                sev = "warning" if c.severity == "warning" else "error"
                loc = fp if where is None else f"{fp}.contained[{where}]"
                self._invariant_issue(rc, sev, loc, c)

    def domain_constraints(self) -> tuple[Constraint, ...]:
        if "dom" not in self._domain:
            dm = self.registry.get("DomainResource")
            cons = tuple(c for c in dm.root.constraints if c.key.startswith("dom-")) if dm else ()
            self._domain["dom"] = cons
        return self._domain["dom"]

    # ------------------------------------------------------------------ complex nodes
    def _object(
        self,
        data: dict,
        model: TypeModel,
        sd_path: str,
        fp: str,
        rc: ResourceContext,
        elem: ElementDef,
        tcode: str,
        *,
        is_resource: bool = False,
        ext_parent: TypeModel | None = None,
    ) -> None:
        table = model.children.get(sd_path, {})
        counts: dict[str, int] = {}
        node_ids = None
        for key, value in data.items():
            if key == "resourceType" and is_resource:
                continue
            if key.startswith("_"):
                base = key[1:]
                entry = table.get(base)
                if entry is None or entry[1] not in PRIMITIVE_TYPES:
                    rc.issues.append(
                        Issue(
                            "error",
                            "structure",
                            f"{fp}.{key}",
                            f"unknown element {key!r}: no primitive element {base!r} here",
                            "unknown-element",
                        )
                    )
                    continue
                if base in data:
                    continue  # handled together with the value
                if node_ids is None:
                    node_ids = self.node_ids(elem, tcode, model)
                self._property(base, None, value, entry, fp, rc, counts, model, node_ids, ext_parent)
                continue
            entry = table.get(key)
            if entry is None:
                rc.issues.append(self._unknown(key, value, table, fp))
                continue
            if node_ids is None and key in ("extension", "modifierExtension"):
                node_ids = self.node_ids(elem, tcode, model)
            self._property(
                key, value, data.get("_" + key), entry, fp, rc, counts, model, node_ids, ext_parent
            )
        self._cardinality(table, counts, fp, rc)
        # invariants
        self._node_constraints(data, elem, tcode, model, sd_path, fp, rc, None, is_resource)

    @staticmethod
    def _cardinality(table: dict, counts: dict[str, int], fp: str, rc: ResourceContext) -> None:
        """min/max of every child element of one node (a choice element counted once)."""
        seen: set[int] = set()
        for child, _t in table.values():
            if id(child) in seen:
                continue
            seen.add(id(child))
            n = counts.get(child.path, 0)
            if n < child.min:
                msg = f"{child.path} is required (min {child.min}, found {n})"
                rc.issues.append(Issue("error", "required", f"{fp}.{child.name}", msg, "cardinality"))
            elif child.max is not None and n > child.max:
                msg = f"{child.path} allows at most {child.max} (found {n})"
                if child.choice:
                    msg += ": use only one of the choice types"
                rc.issues.append(Issue("error", "structure", f"{fp}.{child.name}", msg, "cardinality"))

    def _unknown(self, key: str, value: Any, table: dict, fp: str) -> Issue:
        hint = ""
        for name, (el, _t) in table.items():
            if el.choice and key.startswith(el.name) and key != name:
                allowed = ", ".join(el.name + t.code[0].upper() + t.code[1:] for t in el.types)
                hint = f"; {el.name}[x] allows {allowed}"
                break
        return Issue("error", "structure", f"{fp}.{key}", f"unknown element {key!r}{hint}", "unknown-element")

    def _property(
        self,
        key: str,
        value: Any,
        ext: Any,
        entry: tuple[ElementDef, str | None],
        fp: str,
        rc: ResourceContext,
        counts: dict[str, int],
        model: TypeModel,
        node_ids: frozenset[str] | None,
        ext_parent: TypeModel | None,
    ) -> None:
        elem, tcode = entry
        base_fp = f"{fp}.{elem.name}"
        if elem.choice:
            base_fp = f"{base_fp}.ofType({tcode})"
        if tcode is None:
            tcode = elem.types[0].code if elem.types else "BackboneElement"
        is_prim = tcode in PRIMITIVE_TYPES
        if value is None and ext is None:
            rc.issues.append(
                Issue(
                    "error",
                    "structure",
                    base_fp,
                    "null is not allowed in FHIR JSON: omit the element",
                    "json-null",
                )
            )
            counts[elem.path] = counts.get(elem.path, 0)
            return
        if elem.array:
            values = value if value is not None else None
            exts = ext
            if values is not None and not isinstance(values, list):
                rc.issues.append(
                    Issue("error", "structure", base_fp, f"{elem.path} must be a JSON array", "json-array")
                )
                values = [values]
            if exts is not None and not isinstance(exts, list):
                rc.issues.append(
                    Issue("error", "structure", f"{fp}._{key}", f"_{key} must be a JSON array", "json-array")
                )
                exts = [exts]
            if values is not None and len(values) == 0:
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        base_fp,
                        "empty arrays are not allowed in FHIR JSON: omit the element",
                        "json-empty-array",
                    )
                )
            n = max(len(values or ()), len(exts or ()))
            if values is not None and exts is not None and len(values) != len(exts):
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"{fp}._{key}",
                        f"_{key} must have the same length as {key}",
                        "json-array",
                    )
                )
            counts[elem.path] = counts.get(elem.path, 0) + n
            for i in range(n):
                v = values[i] if values is not None and i < len(values) else None
                e = exts[i] if exts is not None and i < len(exts) else None
                ifp = f"{base_fp}[{i}]"
                if v is None and (e is None or not is_prim):
                    rc.issues.append(
                        Issue(
                            "error", "structure", ifp, "null is not allowed here: omit the item", "json-null"
                        )
                    )
                    continue
                self._item(v, e, elem, tcode, ifp, rc, model, node_ids, ext_parent)
        else:
            if isinstance(value, list):
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        base_fp,
                        f"{elem.path} is a single value, not a JSON array",
                        "json-array",
                    )
                )
                counts[elem.path] = counts.get(elem.path, 0) + max(1, len(value))
                return
            if isinstance(ext, list):
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"{fp}._{key}",
                        f"_{key} must be a JSON object, not an array",
                        "json-array",
                    )
                )
                ext = None
            counts[elem.path] = counts.get(elem.path, 0) + 1
            self._item(value, ext, elem, tcode, base_fp, rc, model, node_ids, ext_parent)

    def _item(
        self,
        value: Any,
        ext: Any,
        elem: ElementDef,
        tcode: str,
        fp: str,
        rc: ResourceContext,
        model: TypeModel,
        node_ids: frozenset[str] | None,
        ext_parent: TypeModel | None,
    ) -> None:
        if tcode in PRIMITIVE_TYPES:
            self._primitive(value, ext, elem, tcode, fp, rc, model)
            return
        if tcode == "Resource" or (elem.types and elem.types[0].code == "Resource"):
            if elem.path == "Bundle.entry.resource" or (
                elem.path.endswith(".resource") and (elem.path.startswith("Parameters."))
            ):
                self._entry_resource(value, fp, rc)
            else:
                self.resource(value, fp, rc.issues, parent=rc, contained=True)
            return
        if not isinstance(value, dict):
            rc.issues.append(
                Issue(
                    "error",
                    "structure",
                    fp,
                    f"{elem.path} must be a JSON object ({tcode}), not {type(value).__name__} {value!r}",
                    "json-type",
                )
            )
            return
        if tcode == "Extension":
            self._extension(value, fp, rc, node_ids or frozenset(), model, ext_parent, elem)
            return
        if elem.content_ref:
            target = elem.content_ref.split("#", 1)[1]
            self._object(value, model, target, fp, rc, model.elements.get(target, elem), tcode)
        elif elem.path in model.has_children and tcode in ("BackboneElement", "Element"):
            self._object(value, model, elem.path, fp, rc, elem, tcode)
        else:
            dt = self.registry.get(tcode)
            if dt is None:
                rc.issues.append(
                    Issue("warning", "not-supported", fp, f"no definition for type {tcode!r}", "unknown-type")
                )
                return
            self._object(value, dt, dt.type, fp, rc, elem, tcode)
        if tcode == "Coding":
            rc.issues.extend(self.codings.check(value, fp))
        if tcode == "Reference":
            self._reference(value, elem, fp, rc)
        elif tcode == "CodeableReference" and isinstance(value.get("reference"), dict):
            self._reference(value["reference"], elem, f"{fp}.reference", rc)
        if elem.binding is not None and tcode in _CODING_TYPES:
            self._binding(value, elem, tcode, fp, rc)
        if elem.fixed is not None or elem.pattern is not None:
            self._fixed_pattern(value, elem, fp, rc)

    def _entry_resource(self, value: Any, fp: str, rc: ResourceContext) -> None:
        rtype = value.get("resourceType") if isinstance(value, dict) else None
        entry_issues: list[Issue] = []
        sub = self.resource(value, str(rtype or "Resource"), entry_issues, bundle=rc.bundle)
        if sub is None or not isinstance(value, dict):
            # unreadable entry resources are reported on the Bundle itself
            rc.issues.extend(Issue(i.severity, i.code, fp, i.message, i.rule) for i in entry_issues)
            return
        rc.entries.append((value, entry_issues))
        rc.entries.extend(sub.entries)

    # ------------------------------------------------------------------ primitives
    def _primitive(
        self,
        value: Any,
        ext: Any,
        elem: ElementDef,
        tcode: str,
        fp: str,
        rc: ResourceContext,
        model: TypeModel,
    ) -> None:
        if value is not None:
            if isinstance(value, dict | list):
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        fp,
                        f"{elem.path} is a primitive ({tcode}): a JSON object or array is not allowed",
                        "json-type",
                    )
                )
                return
            # element ids are paths with slice names (Observation.code:x), not the id type's form
            msg = check_primitive("string" if elem.path == "ElementDefinition.id" else tcode, value)
            if msg:
                rc.issues.append(Issue("error", "value", fp, f"{tcode} {msg}", f"{tcode}-format"))
            elif elem.max_length and isinstance(value, str) and len(value) > elem.max_length:
                rc.issues.append(
                    Issue("error", "value", fp, f"longer than maxLength {elem.max_length}", "max-length")
                )
            if isinstance(value, str) and value.startswith("#") and tcode in ("canonical", "uri", "url"):
                rc.add_ref(value)
                if tcode == "canonical" and value != "#" and rc.resolve(value) is None:
                    rc.issues.append(
                        Issue(
                            "error",
                            "not-found",
                            fp,
                            f"canonical {value!r} names no contained resource with id {value[1:]!r}",
                            "reference-resolve",
                        )
                    )
        if ext is not None:
            if not isinstance(ext, dict):
                rc.issues.append(
                    Issue(
                        "error", "structure", fp, "a primitive's _element must be a JSON object", "json-type"
                    )
                )
                ext = None
            else:
                for k in ext:
                    if k not in ("id", "extension"):
                        rc.issues.append(
                            Issue(
                                "error",
                                "structure",
                                f"{fp}.{k}",
                                f"unknown element {k!r} in a primitive's extension object",
                                "unknown-element",
                            )
                        )
                exts = ext.get("extension")
                if exts is not None:
                    if not isinstance(exts, list) or not exts:
                        rc.issues.append(
                            Issue(
                                "error",
                                "structure",
                                f"{fp}.extension",
                                "extension must be a non-empty JSON array",
                                "json-array",
                            )
                        )
                    else:
                        ids = self.node_ids(elem, tcode, model)
                        for i, x in enumerate(exts):
                            xfp = f"{fp}.extension[{i}]"
                            if not isinstance(x, dict):
                                rc.issues.append(
                                    Issue(
                                        "error",
                                        "structure",
                                        xfp,
                                        "an extension must be a JSON object",
                                        "json-type",
                                    )
                                )
                                continue
                            self._extension(x, xfp, rc, ids, model, None, None)
                if "id" in ext:
                    msg = check_primitive("string", ext["id"])
                    if msg:
                        rc.issues.append(
                            Issue("error", "value", f"{fp}.id", f"string {msg}", "string-format")
                        )
        ok = native.ele1_primitive(value, ext)
        if self.differential is not None:
            c = Constraint("ele-1", "error", "", native.ELE1, "")
            self._diff(c, value, tcode, rc, ok, ext)
        if not ok:
            rc.issues.append(
                Issue("error", "invariant", fp, "All FHIR elements must have a @value or children", "ele-1")
            )
        if value is not None and elem.binding is not None and tcode in _CODING_TYPES:
            self._binding(value, elem, tcode, fp, rc)
        if value is not None and (elem.fixed is not None or elem.pattern is not None):
            self._fixed_pattern(value, elem, fp, rc)
        cons = self._constraints_for(elem, tcode, None)
        if cons:
            for c in cons:
                self._eval(c, value, tcode, fp, rc, ext)

    # ------------------------------------------------------------------ invariants
    def _constraints_for(
        self, elem: ElementDef, tcode: str, type_model: TypeModel | None
    ) -> tuple[Constraint, ...]:
        key = (id(elem), tcode)
        cons = self._constraints.get(key)
        if cons is None:
            merged: dict[str, Constraint] = {}
            for c in elem.constraints:
                merged.setdefault(c.key, c)
            if type_model is not None and type_model.type == tcode:
                for c in type_model.root.constraints:
                    merged.setdefault(c.key, c)
            cons = tuple(c for c in merged.values() if c.key not in NATIVE_KEYS)
            self._native[key] = tuple(c for c in merged.values() if c.key in ("ele-1", "ext-1"))
            self._constraints[key] = cons
        return cons

    def _node_constraints(
        self,
        data: dict,
        elem: ElementDef,
        tcode: str,
        model: TypeModel,
        sd_path: str,
        fp: str,
        rc: ResourceContext,
        ext: Any,
        is_resource: bool,
    ) -> None:
        type_model = model if sd_path == model.type else None
        cons = self._constraints_for(elem, tcode, type_model)
        if not is_resource:
            ok = native.ele1_complex(data)
            if self.differential is not None:
                self._diff(
                    Constraint("ele-1", "error", "", native.ELE1, ""),
                    data,
                    self._type_path(elem, tcode, model, sd_path),
                    rc,
                    ok,
                )
            if not ok:
                rc.issues.append(
                    Issue(
                        "error", "invariant", fp, "All FHIR elements must have a @value or children", "ele-1"
                    )
                )
        if not cons:
            return
        type_path = self._type_path(elem, tcode, model, sd_path)
        table = model.children.get(sd_path, {})
        for c in cons:
            self._eval(c, data, type_path, fp, rc, ext, table)

    @staticmethod
    def _type_path(elem: ElementDef, tcode: str, model: TypeModel, sd_path: str) -> str:
        if sd_path == model.type:
            return model.type
        return sd_path

    def _eval(
        self,
        c: Constraint,
        data: Any,
        type_path: str,
        fp: str,
        rc: ResourceContext,
        ext: Any = None,
        table: dict | None = None,
    ) -> None:
        shortcut = compile_shortcut(c.expression) if isinstance(data, dict) and table is not None else None
        decided = shortcut(data, table) if shortcut is not None else None
        if decided is not None:
            if self.differential is not None:
                self._diff(c, data, type_path, rc, decided, ext, "shortcut")
            if not decided:
                self._invariant_issue(rc, "warning" if c.severity == "warning" else "error", fp, c)
            return
        result = self._compiled(c, data, type_path, rc, ext)
        if result is None:
            try:
                result = fhirpath.invariant(c.expression).reference_result(
                    data,
                    type_path,
                    resource=rc.resource,
                    root_resource=rc.root_resource,
                    hooks=fhirpath.Hooks(rc.resolve, self.member_of),
                    ext=ext,
                )
            except fhirpath.FhirPathError as exc:
                rc.issues.append(
                    Issue(
                        "warning", "processing", fp, f"invariant {c.key} could not be evaluated: {exc}", c.key
                    )
                )
                return
        if result == [False] or (len(result) == 1 and result[0] is False):
            self._invariant_issue(rc, "warning" if c.severity == "warning" else "error", fp, c)

    def _compiled(
        self, c: Constraint, data: Any, type_path: str, rc: ResourceContext, ext: Any
    ) -> list | None:
        """The compiled closure's result as fhirpathpy would return it, or None (use fhirpathpy)."""
        try:
            expression = fhirpath.invariant(c.expression)
        except fhirpath.FhirPathSyntaxError:
            return None
        result = expression.compiled_result(
            data,
            type_path,
            resource=rc.resource,
            root_resource=rc.root_resource,
            hooks=fhirpath.Hooks(rc.resolve, self.member_of),
        )
        if result is None:
            return None
        if self.differential is not None:
            self._diff(c, data, type_path, rc, not (result == [False]), ext, "compiled")
        return result

    @staticmethod
    def _invariant_issue(rc: ResourceContext, severity: str, fp: str, c: Constraint) -> None:
        rc.issues.append(
            Issue(severity, "invariant", fp, f"{c.human or 'invariant failed'} ({c.expression})", c.key)
        )

    def _diff(
        self,
        c: Constraint,
        data: Any,
        type_path: str,
        rc: ResourceContext,
        ok: bool,
        ext: Any = None,
        kind: str = "native",
    ) -> None:
        assert self.differential is not None
        if kind not in self.differential_kinds:
            return
        try:
            result = fhirpath.invariant(c.expression).reference_result(
                data,
                type_path,
                resource=rc.resource,
                root_resource=rc.root_resource,
                hooks=fhirpath.Hooks(rc.resolve, self.member_of),
                ext=ext,
            )
            fp_ok: Any = not (result == [False])
        except fhirpath.FhirPathError as exc:
            fp_ok = f"error: {exc}"
        self.differential.append((c.key, type_path, ok, fp_ok, data, ext))

    # ------------------------------------------------------------------ extensions
    def node_ids(self, elem: ElementDef | None, tcode: str, model: TypeModel) -> frozenset[str]:
        key = (elem.path if elem else "", tcode)
        ids = self._node_ids.get(key)
        if ids is None:
            s = {"Element", "Base"}
            if elem is not None:
                s.add(elem.path)
                if elem.content_ref:
                    s.add(elem.content_ref.split("#", 1)[1])
            s.update(self.registry.ancestors(tcode))
            s.add(tcode)
            ids = frozenset(s)
            self._node_ids[key] = ids
        return ids

    def _extension(
        self,
        data: dict,
        fp: str,
        rc: ResourceContext,
        node_ids: frozenset[str],
        model: TypeModel,
        ext_parent: TypeModel | None,
        elem: ElementDef | None,
    ) -> None:
        generic = self.registry.get("Extension")
        assert generic is not None
        url = data.get("url")
        ok = native.ext1(data)
        if self.differential is not None:
            self._diff(Constraint("ext-1", "error", "", native.EXT1, ""), data, "Extension", rc, ok)
        if not ok:
            rc.issues.append(
                Issue("error", "invariant", fp, "Must have either extensions or value[x], not both", "ext-1")
            )
        parent_ext = model if model.type == "Extension" and model.url != SD + "Extension" else None
        if not isinstance(url, str):
            self._object(data, generic, "Extension", fp, rc, generic.root, "Extension")
            return
        if parent_ext is not None and "://" not in url and not url.startswith("urn:"):
            sl = parent_ext.extension_slices.get(url)
            if sl is None:
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"{fp}.url",
                        f"sub-extension {url!r} is not defined by {parent_ext.url}",
                        "extension-unknown",
                    )
                )
            else:
                self._check_value_types(data, sl.get("value"), fp, rc, url)
            self._object(data, generic, "Extension", fp, rc, generic.root, "Extension")
            return
        definition = self.registry.get(url)
        if definition is None or definition.type != "Extension":
            modifier = elem is not None and elem.name == "modifierExtension"
            core = url.startswith(SD) and self._extension_pack_installed()
            why = (
                " (an unknown modifier extension cannot be ignored)"
                if modifier
                else " (the HL7 namespace, whose extensions are all in hl7.fhir.uv.extensions.r5)"
                if core
                else ""
            )
            rc.issues.append(
                Issue(
                    "error" if modifier or core else "warning",
                    "not-found",
                    f"{fp}.url",
                    f"extension {url!r} is not defined in any installed package{why}",
                    "extension-unknown",
                )
            )
            self._object(data, generic, "Extension", fp, rc, generic.root, "Extension")
            return
        if self.extension_hook is not None:
            self.extension_hook(url)
        start = len(rc.issues)
        self._defined_extension(data, url, definition, fp, rc, node_ids, ext_parent, parent_ext, elem)
        ballot = self._ballot_only(url)
        if ballot is not None:
            # a definition only a pre-release package has may still change: not an error yet
            rc.issues[start:] = [
                replace(
                    i, severity="warning", message=f"{i.message} (defined only in the pre-release {ballot})"
                )
                if i.severity == "error"
                else i
                for i in rc.issues[start:]
            ]

    def _extension_pack_installed(self) -> bool:
        if self._ext_pack is None:
            packages = getattr(self.registry.definitions, "packages", ())
            self._ext_pack = any(getattr(p, "name", "") == "hl7.fhir.uv.extensions.r5" for p in packages)
        return self._ext_pack

    def _ballot_only(self, url: str) -> str | None:
        """The pre-release package (e.g. hl7.fhir.uv.extensions.r5#5.3.0-ballot-tc1) that alone
        defines extension ``url``, or None when a released package vouches for it."""
        hit = self._ballot.get(url, False)
        if hit is not False:
            return hit
        defs = self.registry.definitions
        package_of = getattr(defs, "package_of", None)
        released = getattr(defs, "released_extension_urls", None)
        pkg = package_of(url) if package_of is not None else None
        answer = None
        if pkg is not None and released is not None and "-" in pkg.version and url not in released():
            answer = f"{pkg.name}#{pkg.version}"
        self._ballot[url] = answer
        return answer

    def _defined_extension(
        self,
        data: dict,
        url: str,
        definition: TypeModel,
        fp: str,
        rc: ResourceContext,
        node_ids: frozenset[str],
        ext_parent: TypeModel | None,
        parent_ext: TypeModel | None,
        elem: ElementDef | None,
    ) -> None:
        if parent_ext is None:
            self._modifier_placement(url, definition, fp, rc, elem)
        if not self._context_ok(definition, node_ids, ext_parent, parent_ext):
            ctx = ", ".join(c.get("expression", "?") for c in definition.sd.get("context", ()))
            rc.issues.append(
                Issue(
                    "error",
                    "structure",
                    fp,
                    f"extension {url!r} is not allowed here (its context is {ctx})",
                    "extension-context",
                )
            )
        self._object(data, definition, "Extension", fp, rc, definition.root, "Extension")
        if definition.extension_slices:
            self._slice_counts(data, definition, fp, rc)

    @staticmethod
    def _modifier_placement(
        url: str, definition: TypeModel, fp: str, rc: ResourceContext, elem: ElementDef | None
    ) -> None:
        """A modifier extension goes in ``modifierExtension`` and only there."""
        as_modifier = elem is not None and elem.name == "modifierExtension"
        if definition.is_modifier == as_modifier:
            return
        if definition.is_modifier:
            where, fix = "extension", "move it to modifierExtension"
        else:
            where, fix = "modifierExtension", "move it to extension"
        rc.issues.append(
            Issue(
                "error",
                "structure",
                fp,
                f"extension {url!r} is {'' if definition.is_modifier else 'not '}a modifier extension "
                f"and cannot be used in {where}: {fix}",
                "extension-modifier",
            )
        )

    @staticmethod
    def _slice_counts(data: dict, definition: TypeModel, fp: str, rc: ResourceContext) -> None:
        subs = [x.get("url") for x in data.get("extension") or () if isinstance(x, dict)]
        for url, table in definition.extension_slices.items():
            head = table[""]
            n = subs.count(url)
            if n < head.min or (head.max is not None and n > head.max):
                bound = f"{head.min}..{'*' if head.max is None else head.max}"
                rc.issues.append(
                    Issue(
                        "error",
                        "required" if n < head.min else "structure",
                        f"{fp}.extension",
                        f"sub-extension {url!r} of {definition.url} must occur {bound} times (found {n})",
                        "cardinality",
                    )
                )

    def _check_value_types(
        self, data: dict, value_elem: ElementDef | None, fp: str, rc: ResourceContext, url: str
    ) -> None:
        present = [k for k in data if k.startswith("value")]
        if value_elem is None:
            return
        allowed = {"value" + t.code[0].upper() + t.code[1:] for t in value_elem.types}
        for k in present:
            if allowed and k not in allowed:
                rc.issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"{fp}.{k}",
                        f"sub-extension {url!r} does not allow {k}",
                        "extension-type",
                    )
                )
        if value_elem.min > 0 and not present and "extension" not in data:
            rc.issues.append(
                Issue(
                    "error",
                    "required",
                    f"{fp}.value",
                    f"sub-extension {url!r} requires a value",
                    "cardinality",
                )
            )

    def _context_ok(
        self,
        definition: TypeModel,
        node_ids: frozenset[str],
        ext_parent: TypeModel | None,
        parent_ext: TypeModel | None,
    ) -> bool:
        contexts = definition.sd.get("context") or ()
        if not contexts:
            return True
        for c in contexts:
            expr = c.get("expression", "")
            if c.get("type") == "extension":
                if parent_ext is not None and parent_ext.url == expr:
                    return True
                continue
            if c.get("type") == "fhirpath":
                return True
            if expr in node_ids:
                return True
        return False

    # ------------------------------------------------------------------ references
    def _allowed_types(self, profiles: tuple[str, ...]) -> frozenset[str] | None:
        if profiles in self._allowed:
            return self._allowed[profiles]
        out: set[str] | None = set()
        for p in profiles:
            if p == SD + "Resource" or p == SD + "DomainResource":
                out = None
                break
            m = self.registry.get(p)
            if m is not None:
                out.add(m.type)
            elif p.startswith(SD):
                out.add(p.rsplit("/", 1)[1])
            else:
                out = None  # an uninstalled profile: its base type is unknown
                break
        result = frozenset(out) if out is not None and out else None
        self._allowed[profiles] = result
        return result

    def _reference(self, value: dict, elem: ElementDef, fp: str, rc: ResourceContext) -> None:
        ref = value.get("reference")
        profiles: tuple[str, ...] = ()
        for t in elem.types:
            if t.code in ("Reference", "CodeableReference"):
                profiles += t.target_profiles
        allowed = self._allowed_types(profiles) if profiles else None
        declared = value.get("type")
        if isinstance(declared, str) and allowed is not None and declared not in allowed:
            rc.issues.append(
                Issue(
                    "error",
                    "structure",
                    f"{fp}.type",
                    f"Reference.type {declared!r} is not allowed here "
                    f"(allowed: {', '.join(sorted(allowed))})",
                    "reference-target",
                )
            )
        if not isinstance(ref, str):
            return
        ref_type: str | None = None
        if ref.startswith("#"):
            rc.add_ref(ref)
        elif ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            msg = check_primitive("uri", ref)
            if msg:
                rc.issues.append(
                    Issue(
                        "error", "value", f"{fp}.reference", f"invalid reference: {msg}", "reference-format"
                    )
                )
                return
        else:
            m = _REL_REF.fullmatch(ref) or None
            if m:
                ref_type = m[1]
            else:
                ma = _ABS_REF.fullmatch(ref)
                if ma:
                    ref_type = ma[2]
                elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+", ref):
                    rc.issues.append(
                        Issue(
                            "error",
                            "value",
                            f"{fp}.reference",
                            f"reference {ref!r} is not a valid literal reference "
                            "(Type/id, an absolute URL, urn:uuid: or #id)",
                            "reference-format",
                        )
                    )
                    return
            if ref_type is not None and not self.registry.is_resource_type(ref_type):
                rc.issues.append(
                    Issue(
                        "error",
                        "value",
                        f"{fp}.reference",
                        f"reference {ref!r} names unknown resource type {ref_type!r}",
                        "reference-format",
                    )
                )
                return
        target = rc.resolve(ref)
        if target is not None:
            ref_type = target.get("resourceType") if ref != "#" else ref_type
        elif rc.bundle is not None and rc.bundle.bundle_type is not None and not ref.startswith("#"):
            if ref.startswith("urn:"):
                rc.issues.append(
                    Issue(
                        "error",
                        "not-found",
                        f"{fp}.reference",
                        f"reference {ref!r} does not resolve to any Bundle entry "
                        "(urn: references must resolve inside the Bundle)",
                        "reference-resolve",
                    )
                )
            elif _REL_REF.fullmatch(ref):
                rc.issues.append(
                    Issue(
                        "warning",
                        "not-found",
                        f"{fp}.reference",
                        f"reference {ref!r} does not resolve inside the Bundle",
                        "reference-resolve",
                    )
                )
        if isinstance(declared, str) and ref_type and declared != ref_type:
            rc.issues.append(
                Issue(
                    "error",
                    "value",
                    f"{fp}.type",
                    f"Reference.type {declared!r} does not match the reference target type {ref_type!r}",
                    "reference-target",
                )
            )
        if ref_type and allowed is not None and ref_type not in allowed:
            rc.issues.append(
                Issue(
                    "error",
                    "structure",
                    f"{fp}.reference",
                    f"reference {ref!r} points to a {ref_type}, but {elem.path} "
                    f"allows only {', '.join(sorted(allowed))}",
                    "reference-target",
                )
            )

    # ------------------------------------------------------------------ terminology
    def member_of(self, value: Any, url: str) -> bool | None:
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

    def _binding(self, value: Any, elem: ElementDef, tcode: str, fp: str, rc: ResourceContext) -> None:
        assert elem.binding is not None
        strength, url = elem.binding
        vs = self.terminology.value_set(url)
        if vs.unknown:
            return
        sev = "error" if strength == "required" else "warning"
        code = "code-invalid"
        if tcode in ("code", "string", "uri"):
            if not isinstance(value, str) or vs.contains(None, value) is not False:
                return
            if tcode != "code" and strength != "required":
                return
            rc.issues.append(
                Issue(sev, code, fp, f"code {value!r} is not in the {strength} value set {url}", url)
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
                rc.issues.append(Issue(sev, code, fp, f"no code given; one is required from {url}", url))
            return
        answers = [vs.contains(c.get("system"), c["code"]) for c in codings]
        if any(a is not False for a in answers):
            return
        if all(is_ig_only(c.get("system")) for c in codings):
            return
        shown = ", ".join(f"{c.get('system', '')}#{c['code']}" for c in codings)
        where = fp if tcode == "Coding" else f"{fp}.coding[0]" if len(codings) == 1 else fp
        rc.issues.append(Issue(sev, code, where, f"{shown} is not in the {strength} value set {url}", url))

    def _fixed_pattern(self, value: Any, elem: ElementDef, fp: str, rc: ResourceContext) -> None:
        if elem.fixed is not None and not native.deep_equal(value, elem.fixed):
            rc.issues.append(
                Issue(
                    "error",
                    "value",
                    fp,
                    f"value {value!r} differs from the fixed value {elem.fixed!r}",
                    "fixed-value",
                )
            )
        if elem.pattern is not None and not native.matches_pattern(value, elem.pattern):
            rc.issues.append(
                Issue(
                    "error",
                    "value",
                    fp,
                    f"value {value!r} does not match the pattern {elem.pattern!r}",
                    "pattern-value",
                )
            )
