"""The structural walk: one pass over a resource's JSON driven by compiled snapshots.

For every JSON property the walker finds the element definition (``TypeModel.children``), checks
the JSON form (``null``, arrays, objects), counts cardinality, and hands each value to the check
for its kind: ``primitives``, ``extensions``, ``references``, ``bindings`` (bound codes, fixed
and pattern values), and ``invariants`` for the constraints whose context element exists.
``profiles`` walks the resource again for each installed profile it claims.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from evidence_publisher.validate import resource_rules
from evidence_publisher.validate.codings import CodingChecks
from evidence_publisher.validate.model import PRIMITIVE_TYPES, ElementDef, ModelRegistry
from evidence_publisher.validate.outcome import Issue
from evidence_publisher.validate.terminology import Terminology
from evidence_publisher.validate.walk.bindings import BINDABLE_TYPES, Bindings
from evidence_publisher.validate.walk.context import BundleIndex, Node, ResourceContext
from evidence_publisher.validate.walk.extensions import Extensions
from evidence_publisher.validate.walk.invariants import Invariants
from evidence_publisher.validate.walk.primitives import Primitives
from evidence_publisher.validate.walk.profiles import Profiles
from evidence_publisher.validate.walk.references import References
from evidence_publisher.validate.walk.walking import Entry

CardinalityPlan = tuple[tuple[ElementDef, ...], dict[str, ElementDef]]  # required elements, all by path
_NO_CHILDREN: dict[str, Entry] = {}


class Walker:
    """Validates resources against the compiled snapshots; its collaborators share its registry."""

    def __init__(self, registry: ModelRegistry, terminology: Terminology) -> None:
        self.registry = registry
        self.terminology = terminology
        self.codings = CodingChecks(registry.definitions)
        # differential mode: (key, type path, our verdict, fhirpathpy's verdict, data, ext) for every
        # invariant answered without fhirpathpy, of the kinds listed (native, shortcut, compiled)
        self.differential: list[tuple[str, str, bool, Any, Any, Any]] | None = None
        self.differential_kinds: frozenset[str] = frozenset({"native", "shortcut", "compiled"})
        self._node_ids: dict[tuple[str, str], frozenset[str]] = {}
        self._plans: dict[int, tuple[dict[str, Entry], CardinalityPlan]] = {}
        self.invariants = Invariants(self)
        self.primitives = Primitives(self)
        self.extensions = Extensions(self)
        self.references = References(registry)
        self.bindings = Bindings(terminology)
        self.profiles = Profiles(self)

    def member_of(self, value: Any, url: str) -> bool | None:
        """FHIRPath ``memberOf()``: the same value set expansions as the binding checks."""
        return self.bindings.member_of(value, url)

    # ------------------------------------------------------------------ resources
    def resource(
        self,
        res: Any,
        fp: str,
        issues: list[Issue],
        *,
        parent: ResourceContext | None = None,
        bundle: BundleIndex | None = None,
    ) -> ResourceContext | None:
        """Validate one resource into ``issues``; ``parent`` is the resource containing it."""
        if not isinstance(res, dict):
            issues.append(Issue("error", "structure", fp, "a resource must be a JSON object", "json"))
            return None
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or not self.registry.is_resource_type(rtype):
            msg = (
                f"unknown or missing resourceType {rtype!r}: it must name a concrete FHIR "
                f"{self.extensions.fhir.release} resource type"
            )
            issues.append(Issue("error", "structure", fp, msg, "resource-type"))
            return None
        model = self.registry.get(rtype)
        assert model is not None
        if parent is not None:
            rc = ResourceContext(res, parent.root_resource, issues, parent.bundle, parent)
        else:
            rc = ResourceContext(res, res, issues, bundle, None)
        self.walk_object(Node(rc, fp, model, rtype, model.root, rtype), res, is_resource=True)
        self.invariants.domain_resource(res, rtype, fp, rc)
        rc.issues.extend(resource_rules.check(res, rtype, fp, self.codings))
        self.profiles.claimed(res, rtype, fp, rc)
        return rc

    def _inline_resource(self, node: Node, value: Any) -> None:
        """A Resource-typed element: a Bundle entry gets its own outcome, contained ones do not."""
        path = node.elem.path
        if path == "Bundle.entry.resource" or (path.endswith(".resource") and path.startswith("Parameters.")):
            self._entry_resource(node, value)
        else:
            self.resource(value, node.fp, node.rc.issues, parent=node.rc)

    def _entry_resource(self, node: Node, value: Any) -> None:
        rc = node.rc
        rtype = value.get("resourceType") if isinstance(value, dict) else None
        entry_issues: list[Issue] = []
        sub = self.resource(value, str(rtype or "Resource"), entry_issues, bundle=rc.bundle)
        if sub is None or not isinstance(value, dict):
            # unreadable entry resources are reported on the Bundle itself
            rc.issues.extend(replace(i, expression=node.fp) for i in entry_issues)
            return
        rc.entries.append((value, entry_issues))
        rc.entries.extend(sub.entries)

    # ------------------------------------------------------------------ objects and properties
    def walk_object(self, node: Node, data: dict, *, is_resource: bool = False) -> None:
        """Walk a JSON object: each property against its element, then cardinality and invariants."""
        table = node.model.children.get(node.path, _NO_CHILDREN)
        counts: dict[str, int] = {}
        for key, value in data.items():
            if key == "resourceType" and is_resource:
                continue
            if key.startswith("_"):
                base = key[1:]
                entry = table.get(base)
                if entry is None or entry[1] not in PRIMITIVE_TYPES:
                    msg = f"unknown element {key!r}: no primitive element {base!r} here"
                    node.rc.error("structure", f"{node.fp}.{key}", msg, "unknown-element")
                elif base not in data:  # otherwise handled together with the value
                    self.walk_property(node, base, None, value, entry, counts)
                continue
            entry = table.get(key)
            if entry is None:
                self._unknown(node, key, table)
                continue
            self.walk_property(node, key, value, data.get("_" + key), entry, counts)
        self.cardinality(node, table, counts)
        self.invariants.complex(node, data, is_resource)

    # six parameters: the JSON pair (value and its ``_key`` twin) and the tally it adds to
    def walk_property(
        self, parent: Node, key: str, value: Any, ext: Any, entry: Entry, counts: dict[str, int]
    ) -> None:
        """One JSON property of ``parent`` (``key`` and ``_key``): its form, count and values."""
        elem, tcode = entry
        fp = f"{parent.fp}.{elem.name}"
        if elem.choice:
            fp = f"{fp}.ofType({tcode})"
        if tcode is None:
            tcode = elem.types[0].code if elem.types else "BackboneElement"
        node = Node(parent.rc, fp, parent.model, elem.path, elem, tcode, parent)
        if value is None and ext is None:
            node.error("structure", "null is not allowed in FHIR JSON: omit the element", "json-null")
            n = 0
        elif elem.array:
            n = self._repeating(node, key, value, ext)
        elif isinstance(value, list):
            node.error("structure", f"{elem.path} is a single value, not a JSON array", "json-array")
            n = max(1, len(value))
        else:
            if isinstance(ext, list):
                msg = f"_{key} must be a JSON object, not an array"
                node.rc.error("structure", _twin(node, key), msg, "json-array")
                ext = None
            self.walk_item(node, value, ext)
            n = 1
        counts[elem.path] = counts.get(elem.path, 0) + n

    def _repeating(self, node: Node, key: str, values: Any, exts: Any) -> int:
        """A repeating element: the form of its JSON arrays, then each item. Returns the count."""
        rc = node.rc
        if values is not None and not isinstance(values, list):
            node.error("structure", f"{node.elem.path} must be a JSON array", "json-array")
            values = [values]
        if exts is not None and not isinstance(exts, list):
            rc.error("structure", _twin(node, key), f"_{key} must be a JSON array", "json-array")
            exts = [exts]
        if values is not None and len(values) == 0:
            msg = "empty arrays are not allowed in FHIR JSON: omit the element"
            node.error("structure", msg, "json-empty-array")
        n = max(len(values or ()), len(exts or ()))
        if values is not None and exts is not None and len(values) != len(exts):
            msg = f"_{key} must have the same length as {key}"
            rc.error("structure", _twin(node, key), msg, "json-array")
        is_prim = node.tcode in PRIMITIVE_TYPES
        for i in range(n):
            v = values[i] if values is not None and i < len(values) else None
            e = exts[i] if exts is not None and i < len(exts) else None
            ifp = f"{node.fp}[{i}]"
            if v is None and (e is None or not is_prim):
                rc.error("structure", ifp, "null is not allowed here: omit the item", "json-null")
                continue
            self.walk_item(node.at(ifp), v, e)
        return n

    def walk_item(self, node: Node, value: Any, ext: Any) -> None:
        """One value of an element (``ext``: a primitive's ``_element`` object), by kind."""
        tcode = node.tcode
        if tcode in PRIMITIVE_TYPES:
            self.primitives.check(node, value, ext)
            return
        elem = node.elem
        if tcode == "Resource" or (elem.types and elem.types[0].code == "Resource"):
            self._inline_resource(node, value)
            return
        if not isinstance(value, dict):
            msg = f"{elem.path} must be a JSON object ({tcode}), not {type(value).__name__} {value!r}"
            node.error("structure", msg, "json-type")
            return
        if tcode == "Extension":
            self.extensions.check(node, value)
            return
        inner = self._children_of(node)
        if inner is None:
            node.warning("not-supported", f"no definition for type {tcode!r}", "unknown-type")
            return
        self.walk_object(inner, value)
        self._datatype_rules(node, value)

    def _children_of(self, node: Node) -> Node | None:
        """``node`` pointed at the definitions of its children, or None for an unknown type."""
        elem, model = node.elem, node.model
        if elem.content_ref:
            path = elem.content_ref.split("#", 1)[1]
            return node.within(model, path, model.elements.get(path, elem))
        if elem.path in model.has_children and node.tcode in ("BackboneElement", "Element"):
            return node  # a backbone element: its children follow it in the same snapshot
        dt = self.registry.get(node.tcode)
        return None if dt is None else node.within(dt, dt.type, elem)

    def _datatype_rules(self, node: Node, value: dict) -> None:
        """The checks of a complex value that its snapshot's elements do not state."""
        elem, tcode = node.elem, node.tcode
        if tcode == "Coding":
            node.rc.issues.extend(self.codings.check(value, node.fp))
        if tcode == "Reference":
            self.references.check(node, value, node.fp)
        elif tcode == "CodeableReference" and isinstance(value.get("reference"), dict):
            self.references.check(node, value["reference"], f"{node.fp}.reference")
        if elem.binding is not None and tcode in BINDABLE_TYPES:
            self.bindings.check(node, value)
        if elem.fixed is not None or elem.pattern is not None:
            self.bindings.fixed_pattern(node, value)

    # ------------------------------------------------------------------ counts and unknown keys
    def cardinality(self, node: Node, table: dict[str, Entry], counts: dict[str, int]) -> None:
        """min/max of the child elements of one node: ``counts`` holds those present, by path
        (a choice element is counted once, whatever its type)."""
        if not table:
            return
        required, by_path = self._cardinality_plan(table)
        for child in required:
            n = counts.get(child.path, 0)
            if n < child.min:
                msg = f"{child.path} is required (min {child.min}, found {n})"
                node.rc.error("required", f"{node.fp}.{child.name}", msg, "cardinality")
        for path, n in counts.items():
            child = by_path[path]
            if n >= child.min and child.max is not None and n > child.max:
                msg = f"{child.path} allows at most {child.max} (found {n})"
                if child.choice:
                    msg += ": use only one of the choice types"
                node.rc.error("structure", f"{node.fp}.{child.name}", msg, "cardinality")

    def _cardinality_plan(self, table: dict[str, Entry]) -> CardinalityPlan:
        """The table's required elements, and its elements by path (computed once per table)."""
        hit = self._plans.get(id(table))
        if hit is None or hit[0] is not table:
            by_path = {child.path: child for child, _t in table.values()}
            required = tuple(child for child in by_path.values() if child.min > 0)
            hit = (table, (required, by_path))
            self._plans[id(table)] = hit  # holding the table keeps its id unique
        return hit[1]

    @staticmethod
    def _unknown(node: Node, key: str, table: dict[str, Entry]) -> None:
        hint = ""
        for name, (el, _t) in table.items():
            if el.choice and key.startswith(el.name) and key != name:
                allowed = ", ".join(el.name + t.code[0].upper() + t.code[1:] for t in el.types)
                hint = f"; {el.name}[x] allows {allowed}"
                break
        node.rc.error("structure", f"{node.fp}.{key}", f"unknown element {key!r}{hint}", "unknown-element")

    # ------------------------------------------------------------------ extension contexts
    def node_ids(self, node: Node | None) -> frozenset[str]:
        """The context names a node answers to (its element path, type and ancestor types)."""
        if node is None:
            return frozenset()
        elem, tcode = node.elem, node.tcode
        key = (elem.path, tcode)
        ids = self._node_ids.get(key)
        if ids is None:
            s = {"Element", "Base", elem.path, tcode, *self.registry.ancestors(tcode)}
            if elem.content_ref:
                s.add(elem.content_ref.split("#", 1)[1])
            ids = frozenset(s)
            self._node_ids[key] = ids
        return ids


def _twin(node: Node, key: str) -> str:
    """The FHIRPath of a property's ``_key`` twin (where its JSON form is reported)."""
    return f"{node.parent.fp if node.parent else ''}._{key}"
