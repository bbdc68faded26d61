"""Specification §6.3 (the ``is`` and ``as`` operators) and the functions that take a type
specifier: ``ofType()`` (§5.2), ``is()`` and ``as()``. Types are read as fhirpathpy reads them
with the R5 model in effect (a backbone element is ``FHIR.BackboneElement``, plain values are
``System`` types, subtypes follow the R5 hierarchy)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from evidence_publisher.fhirpath import adapter
from evidence_publisher.fhirpath.compiler.core import Coll, Env, Fallback, Fn, Inv, boolean, node_path

TypeSpec = tuple[str | None, str]  # (namespace or None, name)
_TYPE_PARENT = adapter.TYPE_PARENT  # bound here for the method-call fast path (see paths.py)
_PATH_TO_TYPE = adapter.PATH_TO_TYPE


def _type_of(value: Any, path: str | None) -> tuple[str, str]:
    """(namespace, name) as fhirpathpy's TypeInfo.from_value (with its model set)."""
    if path is None:  # a plain value: System namespace by Python type
        if isinstance(value, bool):
            return "System", "Boolean"
        if isinstance(value, int):
            return "System", "Integer"
        if isinstance(value, Decimal | float):
            return "System", "Decimal"
        if isinstance(value, str):
            return "System", "String"
        raise Fallback("type of an unusual plain value")
    eff = node_path(value, path)
    if eff is None:
        raise Fallback("type of a node without a path")
    if eff.startswith("System."):
        return "System", eff[7:]
    if "." not in eff:
        return "FHIR", eff
    return "FHIR", "BackboneElement"


def is_type(value: Any, path: str | None, spec: TypeSpec) -> bool:
    ns, name = _type_of(value, path)
    want_ns, want = spec
    if want_ns and ns != want_ns:
        return False
    if ns == "FHIR":
        t: str | None = name
        while t:
            if t == want:
                return True
            t = _TYPE_PARENT.get(t) or _PATH_TO_TYPE.get(t)
        return False
    return name == want


def is_operator(left: Fn, spec: TypeSpec) -> Fn:
    def is_(env: Env, this: Coll) -> Coll:
        coll = left(env, this)
        if not coll:
            return []
        if len(coll) > 1:
            raise Fallback("'is' on a collection")
        return boolean(is_type(coll[0][0], coll[0][1], spec))

    return is_


def as_operator(left: Fn, spec: TypeSpec) -> Fn:
    def as_(env: Env, this: Coll) -> Coll:
        coll = left(env, this)
        if not coll:
            return []
        if len(coll) > 1:
            raise Fallback("'as' on a collection")
        return coll if is_type(coll[0][0], coll[0][1], spec) else []

    return as_


def _this(env: Env, this: Coll) -> Coll:
    return this


def _f_of_type(spec: TypeSpec) -> Inv:
    return lambda env, this, focus: [x for x in focus if is_type(x[0], x[1], spec)]


def _f_is(spec: TypeSpec) -> Inv:
    fn = is_operator(_this, spec)
    return lambda env, this, focus: fn(env, focus)


def _f_as(spec: TypeSpec) -> Inv:
    fn = as_operator(_this, spec)
    return lambda env, this, focus: fn(env, focus)


# functions whose one parameter is a type specifier, not an expression
TYPE_FUNCTIONS: dict[str, Callable[[TypeSpec], Inv]] = {
    "ofType": _f_of_type,
    "is": _f_is,
    "as": _f_as,
}
# the operators, by the parse tree's operator text
TYPE_OPERATORS: dict[str, Callable[[Fn, TypeSpec], Fn]] = {
    "is": is_operator,
    "as": as_operator,
}
