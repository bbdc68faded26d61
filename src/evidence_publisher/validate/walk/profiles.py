"""Claimed profiles: the resource walked again against each installed profile in meta.profile.

The second walk uses the profile's snapshot (its cardinalities, fixed/pattern values, bindings
and invariants); then the items of sliced elements are assigned to their slices
(``slicing.py``) and each item is checked against its slice. Issues identical to the base walk's
collapse in the OperationOutcome. EBM profiles are checked by ``ebm.py`` instead.
"""

from __future__ import annotations

from dataclasses import replace

from evidence_publisher.constants import EBM_SD
from evidence_publisher.validate import slicing
from evidence_publisher.validate.model import PRIMITIVE_TYPES, ElementDef, Slice, TypeModel
from evidence_publisher.validate.walk.context import Node, ResourceContext
from evidence_publisher.validate.walk.walking import Walking


class Profiles:
    def __init__(self, walker: Walking) -> None:
        self.walker = walker
        self.registry = walker.registry

    def claimed(self, res: dict, rtype: str, fp: str, rc: ResourceContext) -> None:
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        if not isinstance(profiles, list):
            return
        for i, url in enumerate(profiles):
            if not isinstance(url, str) or url.startswith(EBM_SD):
                continue
            profile = self.registry.get(url.split("|", 1)[0])
            at = f"{fp}.meta.profile[{i}]"
            if profile is None:
                msg = f"profile {url!r} is not installed; the resource was not checked against it"
                rc.warning("not-found", at, msg, "profile-unknown")
            elif profile.type != rtype:
                rc.error(
                    "structure", at, f"profile {url!r} constrains {profile.type}, not {rtype}", "profile-type"
                )
            elif profile.sd.get("derivation") == "constraint":
                root = Node(rc, fp, profile, rtype, profile.root, rtype)
                self.walker.walk_object(root, res, is_resource=True)
                if profile.slicings(self.registry.is_resource_type):
                    self._slice_walk(res, profile, rtype, fp, replace(rc, entries=[]))

    # ------------------------------------------------------------------ slicing
    def _slice_walk(self, data: dict, view: TypeModel, path: str, fp: str, rc: ResourceContext) -> None:
        """Follow the view's elements down to its sliced elements and check their slices."""
        slicings = view.slicings(self.registry.is_resource_type)
        prefixes = view.slice_prefixes()
        for el, items in _slice_groups(data, view, path, fp, prefixes):
            sl = slicings.get(el.path)
            chosen: list[Slice | None] = [None] * len(items)
            if sl is not None:
                chosen, issues = slicing.assign(sl, items, f"{fp}.{el.name}", self.registry.is_resource_type)
                rc.issues.extend(issues)
            for item, s in zip(items, chosen, strict=True):
                if s is not None:
                    self._slice_item(item, s, rc)
                elif isinstance(item.value, dict) and not el.content_ref:
                    self._slice_walk(item.value, view, el.path, item.fp, rc)

    def _slice_item(self, item: slicing.Item, s: Slice, rc: ResourceContext) -> None:
        """Check one item against its slice: the slice element, then the slice's sub-elements."""
        elem, view = s.element, s.view
        value, tcode = item.value, item.tcode
        node = Node(rc, item.fp, view, elem.path, elem, tcode)
        if tcode in PRIMITIVE_TYPES:
            if isinstance(value, dict):  # only the _element object is present
                self.walker.walk_item(node, None, value)
            else:
                self.walker.walk_item(node, value, None)
            return
        if elem.resource_types or tcode == "Resource":
            return  # the resource itself is validated by the main walk
        self.walker.walk_item(node, value, None)
        if isinstance(value, dict):
            self._slice_constrained(node, value)
            self._slice_walk(value, view, elem.path, item.fp, rc)

    def _slice_constrained(self, node: Node, data: dict) -> None:
        """The slice's sub-elements under a data type (Coding, Quantity ...), which
        ``Walker.walk_item`` walks against the generic type: their cardinality, then each child
        against its slice definition (fixed/pattern, binding, type, invariants) and deeper
        constrained children. BackboneElements were already walked against the view."""
        elem, view = node.elem, node.model
        path = elem.content_ref.split("#", 1)[1] if elem.content_ref else elem.path
        table = view.children.get(path)
        if not table:
            return
        if not (node.tcode in ("BackboneElement", "Element") and path in view.has_children):
            counts: dict[str, int] = {}
            for key, entry in table.items():
                if key in data or "_" + key in data:
                    self.walker.walk_property(node, key, data.get(key), data.get("_" + key), entry, counts)
            self.walker.cardinality(node, table, counts)
        for child, items in _slice_groups(data, view, path, node.fp, None):
            if child.path not in view.has_children or child.content_ref or child.resource_types:
                continue
            for item in items:
                if isinstance(item.value, dict) and item.tcode not in PRIMITIVE_TYPES:
                    sub = Node(node.rc, item.fp, view, child.path, child, item.tcode)
                    self._slice_constrained(sub, item.value)


def _slice_groups(
    data: dict, view: TypeModel, path: str, fp: str, only: frozenset[str] | None
) -> list[tuple[ElementDef, list[slicing.Item]]]:
    """(element, its items) for the view's children of ``path`` present in ``data``."""
    groups: dict[int, tuple[ElementDef, list[slicing.Item]]] = {}
    for key, (el, t) in view.children.get(path, {}).items():
        if only is not None and el.path not in only:
            continue
        value, ext = data.get(key), data.get("_" + key)
        items = groups.setdefault(id(el), (el, []))[1]
        if value is None and ext is None:
            continue
        tcode = t or (el.types[0].code if el.types else "BackboneElement")
        base_fp = f"{fp}.{el.name}.ofType({tcode})" if el.choice else f"{fp}.{el.name}"
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
