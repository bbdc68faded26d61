"""Primitive values in the walk: the JSON value and its ``_element`` object.

The lexical forms themselves (date, uri, id ...) are checked by ``validate/primitives.py``; here
the value's JSON shape, maxLength, ``#id`` canonicals, the ``_element`` object's keys and
extensions, ele-1, bindings, fixed/pattern values and the element's invariants.
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.validate.model import ElementDef
from evidence_publisher.validate.primitives import check_primitive
from evidence_publisher.validate.walk.bindings import BINDABLE_TYPES
from evidence_publisher.validate.walk.context import Node
from evidence_publisher.validate.walk.invariants import value_only
from evidence_publisher.validate.walk.walking import Walking

_LOCAL_REF_TYPES = ("canonical", "uri", "url")
# the same codes, systems, URLs and names come back in every resource of a corpus
_CLEAN_SIZE = 8192
_CLEAN_CHARS = 1024


class Primitives:
    def __init__(self, walker: Walking) -> None:
        self.walker = walker
        self._element_extension: ElementDef | None = None
        # (element, type, text) of plain strings found clean: the same again is clean again
        self._clean: dict[tuple[int, str, str], ElementDef] = {}
        self._value_only_elems: dict[int, tuple[ElementDef, bool]] = {}

    def check(self, node: Node, value: Any, ext: Any) -> None:
        """A primitive item: ``value`` (None when only ``_element`` is present) and ``ext``."""
        elem, tcode = node.elem, node.tcode
        key, before = None, 0
        if (
            ext is None
            and type(value) is str
            and len(value) <= _CLEAN_CHARS
            and not value.startswith("#")
            and self.walker.differential is None
        ):
            key = (id(elem), tcode, value)
            if key in self._clean:
                return
            before = len(node.rc.issues)
        self._check(node, value, ext)
        if key is not None and len(node.rc.issues) == before and self._value_only(elem, tcode):
            if len(self._clean) >= _CLEAN_SIZE:
                self._clean.clear()
            self._clean[key] = elem  # holding the element keeps its id unique

    def _value_only(self, elem: ElementDef, tcode: str) -> bool:
        """Whether every check of a plain string of this element reads that string alone (its
        lexical form, maxLength, binding, fixed or pattern value, and invariants that read
        nothing but the string)."""
        hit = self._value_only_elems.get(id(elem))
        if hit is None or hit[0] is not elem:
            cons = self.walker.invariants.constraints_for(elem, tcode, None)
            hit = self._value_only_elems[id(elem)] = (elem, all(value_only(c.expression) for c in cons))
        return hit[1]

    def _check(self, node: Node, value: Any, ext: Any) -> None:
        elem, tcode = node.elem, node.tcode
        if value is not None:
            if isinstance(value, dict | list):
                msg = f"{elem.path} is a primitive ({tcode}): a JSON object or array is not allowed"
                node.error("structure", msg, "json-type")
                return
            # element ids are paths with slice names (Observation.code:x), not the id type's form
            problem = check_primitive("string" if elem.path == "ElementDefinition.id" else tcode, value)
            if problem:
                node.error("value", f"{tcode} {problem}", f"{tcode}-format")
            elif elem.max_length and isinstance(value, str) and len(value) > elem.max_length:
                node.error("value", f"longer than maxLength {elem.max_length}", "max-length")
            if isinstance(value, str) and value.startswith("#") and tcode in _LOCAL_REF_TYPES:
                _local_reference(node, value)
        if ext is not None and not self._element_object(node, ext):
            ext = None
        walker = self.walker
        if value is not None and elem.binding is not None and tcode in BINDABLE_TYPES:
            walker.bindings.check(node, value)
        if value is not None and (elem.fixed is not None or elem.pattern is not None):
            walker.bindings.fixed_pattern(node, value)
        walker.invariants.primitive(node, value, ext)

    def _element_object(self, node: Node, ext: Any) -> bool:
        """The ``_element`` object (id and extensions); False when it is not an object."""
        rc, fp = node.rc, node.fp
        if not isinstance(ext, dict):
            node.error("structure", "a primitive's _element must be a JSON object", "json-type")
            return False
        for k in ext:
            if k not in ("id", "extension"):
                msg = f"unknown element {k!r} in a primitive's extension object"
                rc.error("structure", f"{fp}.{k}", msg, "unknown-element")
        exts = ext.get("extension")
        if exts is not None:
            if not isinstance(exts, list) or not exts:
                rc.error(
                    "structure", f"{fp}.extension", "extension must be a non-empty JSON array", "json-array"
                )
            else:
                self._extensions(node, exts)
        if "id" in ext:
            problem = check_primitive("string", ext["id"])
            if problem:
                rc.error("value", f"{fp}.id", f"string {problem}", "string-format")
        return True

    def _extensions(self, node: Node, exts: list) -> None:
        """The extensions of a primitive: their context is the primitive element itself."""
        elem = self._extension_element()
        for i, x in enumerate(exts):
            xfp = f"{node.fp}.extension[{i}]"
            if not isinstance(x, dict):
                node.rc.error("structure", xfp, "an extension must be a JSON object", "json-type")
                continue
            self.walker.extensions.check(
                Node(node.rc, xfp, node.model, elem.path, elem, "Extension", node), x
            )

    def _extension_element(self) -> ElementDef:
        """``Element.extension``, the element a primitive's ``_element.extension`` items are."""
        if self._element_extension is None:
            element = self.walker.registry.get("Element")
            assert element is not None
            self._element_extension = element.children["Element"]["extension"][0]
        return self._element_extension


def _local_reference(node: Node, value: str) -> None:
    """A ``#id`` in a canonical, uri or url: counted for dom-3; a canonical must resolve."""
    node.rc.add_ref(value)
    if node.tcode == "canonical" and value != "#" and node.rc.resolve(value) is None:
        msg = f"canonical {value!r} names no contained resource with id {value[1:]!r}"
        node.error("not-found", msg, "reference-resolve")
