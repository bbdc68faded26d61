"""Invariants in the walk: the constraints of each node whose context element exists.

ele-1, ext-1 and dom-2..6 run as native Python (``native.py``); pure existence checks over direct
children are decided by ``shortcuts.py``; every other invariant runs as a closure compiled once
per expression (the ``fhirpath`` package), or through fhirpathpy when the compiled closure cannot
decide. In differential mode (``Walker.differential``) fhirpathpy also runs next to every verdict
reached without it, and both answers are recorded.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from evidence_publisher import fhirpath
from evidence_publisher.fhirpath.shortcuts import compile_shortcut
from evidence_publisher.validate import native
from evidence_publisher.validate.model import Constraint, ElementDef, TypeModel
from evidence_publisher.validate.outcome import Issue
from evidence_publisher.validate.walk.context import Node, ResourceContext
from evidence_publisher.validate.walk.walking import Entry, Walking

NATIVE_KEYS = frozenset({"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"})
ELE1 = Constraint("ele-1", "error", "", native.ELE1, "")
EXT1 = Constraint("ext-1", "error", "", native.EXT1, "")
Subject = tuple[Any, str, Any]  # what an invariant ran on: (data, type path, _element object)


class Invariants:
    def __init__(self, walker: Walking) -> None:
        self.walker = walker
        self._constraints: dict[tuple[int, str], tuple[Constraint, ...]] = {}
        self._primitive_constraints: dict[int, tuple[Constraint, ...]] = {}
        self._domain: tuple[Constraint, ...] | None = None
        # (expression, type, text) -> result, for invariants of a string that read nothing else
        self._memo: dict[tuple[str, str, str], list] = {}

    # ------------------------------------------------------------------ per node kind
    def complex(self, node: Node, data: dict, is_resource: bool) -> None:
        """ele-1 (not on a resource) and the constraints of an object walked by ``Walker.walk_object``."""
        model, path = node.model, node.path
        if not is_resource:
            ok = native.ele1_complex(data)
            if self.walker.differential is not None:
                self._diff("native", ELE1, node.rc, (data, path, None), ok)
            if not ok:
                node.error("invariant", "All FHIR elements must have a @value or children", "ele-1")
        cons = self.constraints_for(node.elem, node.tcode, model if path == model.type else None)
        if not cons:
            return
        table = model.children.get(path, {})
        for c in cons:
            self._eval(c, node, data, path, None, table)

    def primitive(self, node: Node, value: Any, ext: Any) -> None:
        """ele-1 and the constraints of a primitive element (``ext``: its ``_element`` object)."""
        ok = native.ele1_primitive(value, ext)
        if self.walker.differential is not None:
            self._diff("native", ELE1, node.rc, (value, node.tcode, ext), ok)
        if not ok:
            node.error("invariant", "All FHIR elements must have a @value or children", "ele-1")
        elem = node.elem
        cons = self._primitive_constraints.get(id(elem))
        if cons is None:  # a primitive type has no constraints of its own beyond ele-1
            cons = self._primitive_constraints[id(elem)] = self.constraints_for(elem, node.tcode, None)
        for c in cons:
            self._eval(c, node, value, node.tcode, ext, None)

    def ext1(self, node: Node, data: dict) -> None:
        ok = native.ext1(data)
        if self.walker.differential is not None:
            self._diff("native", EXT1, node.rc, (data, "Extension", None), ok)
        if not ok:
            node.error("invariant", "Must have either extensions or value[x], not both", "ext-1")

    def domain_resource(self, res: dict, rtype: str, fp: str, rc: ResourceContext) -> None:
        """dom-2..6 of a DomainResource (the R5.0.0 snapshots of canonical resources omit them)."""
        if "DomainResource" not in self.walker.registry.ancestors(rtype):
            return
        for c in self.domain_constraints():
            if c.key == "dom-6" and rc.parent is not None:
                continue  # contained resources carry no narrative of their own (Java agrees)
            ok, where = native.dom(c.key, res, rc.local_refs)
            if self.walker.differential is not None:
                self._diff("native", c, rc, (res, rtype, None), ok)
            if not ok:
                _fail(rc, fp if where is None else f"{fp}.contained[{where}]", c)

    # ------------------------------------------------------------------ which constraints apply
    def constraints_for(
        self, elem: ElementDef, tcode: str, type_model: TypeModel | None
    ) -> tuple[Constraint, ...]:
        """The element's constraints and, for a node of type ``type_model``, the type's own,
        without the natively checked ones."""
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
            self._constraints[key] = cons
        return cons

    def domain_constraints(self) -> tuple[Constraint, ...]:
        if self._domain is None:
            dm = self.walker.registry.get("DomainResource")
            self._domain = tuple(c for c in dm.root.constraints if c.key.startswith("dom-")) if dm else ()
        return self._domain

    # ------------------------------------------------------------------ evaluation
    # six parameters: the constraint, where to report, and the three inputs FHIRPath runs on
    # (the node's data, its type path, a primitive's _element) plus the children's table
    def _eval(
        self, c: Constraint, node: Node, data: Any, type_path: str, ext: Any, table: dict[str, Entry] | None
    ) -> None:
        rc = node.rc
        shortcut = compile_shortcut(c.expression) if isinstance(data, dict) and table is not None else None
        decided = shortcut(data, table) if shortcut is not None else None
        if decided is not None:
            if self.walker.differential is not None:
                self._diff("shortcut", c, rc, (data, type_path, ext), decided)
            if not decided:
                _fail(rc, node.fp, c)
            return
        result = self._compiled(c, rc, (data, type_path, ext))
        if result is None:
            try:
                result = _reference_result(c, rc, (data, type_path, ext), self.walker)
            except fhirpath.FhirPathError as exc:
                msg = f"invariant {c.key} could not be evaluated: {exc}"
                rc.warning("processing", node.fp, msg, c.key)
                return
        if result == [False] or (len(result) == 1 and result[0] is False):
            _fail(rc, node.fp, c)

    def _compiled(self, c: Constraint, rc: ResourceContext, subject: Subject) -> list | None:
        """The compiled closure's result as fhirpathpy would return it, or None (use fhirpathpy)."""
        try:
            expression = fhirpath.invariant(c.expression)
        except fhirpath.FhirPathSyntaxError:
            return None
        data, type_path, _ext = subject
        key = None
        if type(data) is str and len(data) <= _MEMO_CHARS and value_only(c.expression):
            key = (c.expression, type_path, data)
            hit = self._memo.get(key)
            if hit is not None and self.walker.differential is None:
                return hit
        result = expression.compiled_result(
            data,
            type_path,
            resource=rc.resource,
            root_resource=rc.root_resource,
            hooks=fhirpath.Hooks(rc.resolve_full, self.walker.member_of),
        )
        if result is None:
            return None
        if key is not None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = result
        if self.walker.differential is not None:
            self._diff("compiled", c, rc, subject, not (result == [False]))
        return result

    def _diff(self, kind: str, c: Constraint, rc: ResourceContext, subject: Subject, ok: bool) -> None:
        """Differential mode: record fhirpathpy's verdict next to ours."""
        differential = self.walker.differential
        assert differential is not None
        if kind not in self.walker.differential_kinds:
            return
        try:
            result = _reference_result(c, rc, subject, self.walker)
            fp_ok: Any = not (result == [False])
        except fhirpath.FhirPathError as exc:
            fp_ok = f"error: {exc}"
        data, type_path, ext = subject
        differential.append((c.key, type_path, ok, fp_ok, data, ext))


# The same strings come back in every resource (canonical URLs, names): verdicts of the
# invariants that read only the string itself are kept, as primitives.py keeps lexical verdicts.
_MEMO_SIZE = 4096
_MEMO_CHARS = 1024
# what lets an expression read more than its context string: variables (%resource ...), the
# hooks (resolve, memberOf), the clock, and side effects (trace)
_READS_MORE = re.compile(r"%|\b(?:resolve|memberOf|now|today|timeOfDay|trace|conformsTo)\b")


@functools.cache
def value_only(expression: str) -> bool:
    """Whether the expression's result on a string depends on that string alone."""
    return _READS_MORE.search(expression) is None


def _reference_result(c: Constraint, rc: ResourceContext, subject: Subject, walker: Walking) -> list:
    """fhirpathpy's answer (the reference implementation), raising fhirpath.FhirPathError."""
    data, type_path, ext = subject
    return fhirpath.invariant(c.expression).reference_result(
        data,
        type_path,
        resource=rc.resource,
        root_resource=rc.root_resource,
        hooks=fhirpath.Hooks(rc.resolve_full, walker.member_of),
        ext=ext,
    )


def _fail(rc: ResourceContext, fp: str, c: Constraint) -> None:
    severity = "warning" if c.severity == "warning" else "error"
    rc.issues.append(
        Issue(severity, "invariant", fp, f"{c.human or 'invariant failed'} ({c.expression})", c.key)
    )
