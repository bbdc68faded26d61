"""Specification §6 (operations): §6.1 equality, §6.2 comparison, §6.4 collections (``|``,
``in``, ``contains``), §6.5 boolean logic (with the ``not()`` function), §6.6 math (``+``,
``-``, ``&``). The types operators (§6.3) are in types.py. ``and``/``or``/``implies`` stop at
the operand that decides, as the HL7 Java validator does (fhirpathpy evaluates both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence_publisher.fhirpath import adapter
from evidence_publisher.fhirpath.adapter import FP_Type
from evidence_publisher.fhirpath.compiler.core import (
    FALSE,
    TRUE,
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    Node,
    boolean,
    distinct,
    is_number,
    logical,
    node_path,
    single_string,
)

_TEMPORAL_PATHS = frozenset({"date", "dateTime", "time"})


# ---- §6.5 boolean logic ----------------------------------------------------------------------------
def _and(a: Fn, b: Fn) -> Fn:
    def and_(env: Env, this: Coll) -> Coll:
        x = logical(a(env, this))
        if x is False:
            return FALSE
        y = logical(b(env, this))
        if y is False:
            return FALSE
        return TRUE if x is True and y is True else []

    return and_


def _or(a: Fn, b: Fn) -> Fn:
    def or_(env: Env, this: Coll) -> Coll:
        x = logical(a(env, this))
        if x is True:
            return TRUE
        y = logical(b(env, this))
        if y is True:
            return TRUE
        return FALSE if x is False and y is False else []

    return or_


def _xor(a: Fn, b: Fn) -> Fn:
    def xor(env: Env, this: Coll) -> Coll:
        x, y = logical(a(env, this)), logical(b(env, this))
        return [] if x is None or y is None else boolean(x != y)

    return xor


def _implies(a: Fn, b: Fn) -> Fn:
    def implies(env: Env, this: Coll) -> Coll:
        x = logical(a(env, this))
        if x is False:
            return TRUE
        y = logical(b(env, this))
        if y is True:
            return TRUE
        return FALSE if x is True and y is False else []

    return implies


def _f_not() -> Inv:
    def not_(env: Env, this: Coll, focus: Coll) -> Coll:
        if len(focus) != 1:
            return []
        v = focus[0][0]
        return boolean(not v) if v is True or v is False else FALSE

    return not_


# ---- §6.1 equality ---------------------------------------------------------------------------------
def _plain_operand(node: Node) -> Any:
    value, path = node
    if path is not None and node_path(value, path) == "Quantity":
        raise Fallback("Quantity equality")
    if isinstance(value, float):
        raise Fallback("float value")
    return value


def _equality(negate: bool) -> Callable[[Fn, Fn], Fn]:
    def make(a: Fn, b: Fn) -> Fn:
        def equality(env: Env, this: Coll) -> Coll:
            left, right = a(env, this), b(env, this)
            if not left or not right:
                return []
            if len(left) != len(right):
                return boolean(negate)
            # fhirpathpy compares the first items only
            same = _plain_operand(left[0]) == _plain_operand(right[0])
            return boolean(same != negate)

        return equality

    return make


# ---- §6.2 comparison -------------------------------------------------------------------------------
def _drop_primitive_extension(coll: Coll) -> Coll:
    # fhirpathpy's remove_duplicate_extension: ``x`` and ``_x`` both navigated -> keep ``x``
    if len(coll) == 2 and coll[1][1] is not None:
        data = coll[1][0]
        if isinstance(data, dict | list | str) and "extension" in data:
            return coll[:1]
    return coll


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _same_unit_values(x: Any, y: Any) -> tuple[Any, Any] | None:
    """The values of two FHIR Quantity objects with the same system and code (or, without a code,
    the same unit), else None: other units need a conversion the compiled engine leaves alone."""
    if not (isinstance(x, dict) and isinstance(y, dict)):
        return None
    xv, yv = x.get("value"), y.get("value")
    if not (is_number(xv) and is_number(yv)) or x.get("comparator") or y.get("comparator"):
        return None
    if x.get("code") is not None or y.get("code") is not None:
        same = (x.get("system"), x.get("code")) == (y.get("system"), y.get("code"))
    else:
        same = x.get("unit") == y.get("unit")
    return (xv, yv) if same else None


def _inequality(op: str) -> Callable[[Fn, Fn], Fn]:
    cmp = _COMPARE[op]

    def make(a: Fn, b: Fn) -> Fn:
        def inequality(env: Env, this: Coll) -> Coll:
            left, right = a(env, this), b(env, this)
            if not left or not right:
                return []
            left, right = _drop_primitive_extension(left), _drop_primitive_extension(right)
            if len(left) != 1 or len(right) != 1:
                raise Fallback("comparison of collections")
            x, y = left[0][0], right[0][0]
            if (is_number(x) and is_number(y)) or (isinstance(x, str) and isinstance(y, str)):
                return boolean(cmp(x, y))
            if isinstance(x, bool) and isinstance(y, bool):
                return boolean(cmp(x, y))
            same_unit = _same_unit_values(x, y)
            if same_unit is not None:  # two FHIR Quantities in one unit (R4's rng-2: low <= high)
                return boolean(cmp(*same_unit))
            plain = left[0][1] is None and right[0][1] is None
            if plain and (isinstance(x, FP_Type) or isinstance(y, FP_Type)):
                # boundaries are fhirpathpy's own types: let its comparison decide (precision rules)
                try:
                    return [(r, None) for r in adapter.compare(op, x, y)]
                except Exception as exc:  # fhirpathpy raises bare Exceptions on incomparable values
                    raise Fallback(f"comparison: {exc}") from exc
            raise Fallback("comparison between these types")

        return inequality

    return make


# ---- §6.4 collections ------------------------------------------------------------------------------
def _union(a: Fn, b: Fn) -> Fn:
    return lambda env, this: distinct(a(env, this) + b(env, this))


def _membership(is_in: bool) -> Callable[[Fn, Fn], Fn]:
    def make(a: Fn, b: Fn) -> Fn:
        def membership(env: Env, this: Coll) -> Coll:
            left, right = a(env, this), b(env, this)
            item, coll = (left, right) if is_in else (right, left)
            if not item:
                return []
            if not coll:
                return FALSE
            if len(item) > 1:
                raise Fallback("membership of a collection")
            x = item[0][0]
            if isinstance(x, float):
                raise Fallback("float value")
            return boolean(any(m[0] == x for m in coll))

        return membership

    return make


# ---- §6.6 math -------------------------------------------------------------------------------------
def _additive(op: str) -> Callable[[Fn, Fn], Fn]:
    def make(a: Fn, b: Fn) -> Fn:
        def additive(env: Env, this: Coll) -> Coll:
            left, right = a(env, this), b(env, this)
            if not left or not right:
                return []
            left, right = _drop_primitive_extension(left), _drop_primitive_extension(right)
            if len(left) != 1 or len(right) != 1:
                raise Fallback("arithmetic on collections")
            (x, px), (y, py) = left[0], right[0]
            if px in _TEMPORAL_PATHS or py in _TEMPORAL_PATHS:
                raise Fallback("date arithmetic")
            if is_number(x) and is_number(y):
                return [(x + y if op == "+" else x - y, None)]
            if op == "+" and isinstance(x, str) and isinstance(y, str):
                return [(x + y, None)]
            raise Fallback("arithmetic on these types")

        return additive

    return make


def _concat(a: Fn, b: Fn) -> Fn:
    def one(coll: Coll) -> str:
        if not coll:
            return ""
        return single_string(coll)

    return lambda env, this: [(one(a(env, this)) + one(b(env, this)), None)]


# (parse-tree node type, operator text) -> builder(left, right)
OPERATORS: dict[tuple[str, str], Callable[[Fn, Fn], Fn]] = {
    ("AndExpression", "and"): _and,
    ("OrExpression", "or"): _or,
    ("OrExpression", "xor"): _xor,
    ("ImpliesExpression", "implies"): _implies,
    ("EqualityExpression", "="): _equality(negate=False),
    ("EqualityExpression", "!="): _equality(negate=True),
    **{("InequalityExpression", op): _inequality(op) for op in _COMPARE},
    ("UnionExpression", "|"): _union,
    ("MembershipExpression", "in"): _membership(is_in=True),
    ("MembershipExpression", "contains"): _membership(is_in=False),
    ("AdditiveExpression", "+"): _additive("+"),
    ("AdditiveExpression", "-"): _additive("-"),
    ("AdditiveExpression", "&"): _concat,
}
FUNCTIONS: Functions = {
    "not": ((0,), _f_not),
}
