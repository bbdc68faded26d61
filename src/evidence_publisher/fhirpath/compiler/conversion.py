"""Specification §5.5 (conversion: ``iif()``, ``toString()``, ``toInteger()``) and §5.9 (utility:
``trace()``)."""

from __future__ import annotations

from evidence_publisher.fhirpath import adapter
from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    is_number,
    is_true,
)

_INTEGER_TEXT = adapter.INTEGER_TEXT  # bound here for the method-call fast path (see paths.py)


def _l_iif(cond: Fn, ok: Fn, otherwise: Fn | None = None) -> Inv:
    def iif(env: Env, this: Coll, focus: Coll) -> Coll:
        if is_true(cond(env, focus)):
            return ok(env, focus)
        return otherwise(env, focus) if otherwise is not None else []

    return iif


def _f_to_string() -> Inv:
    def to_string(env: Env, this: Coll, focus: Coll) -> Coll:
        if len(focus) != 1:
            return []
        v = focus[0][0]
        if isinstance(v, dict | list | float) or v is None:
            raise Fallback("toString() of a complex value")
        return [(str(v), None)]

    return to_string


def _f_to_integer() -> Inv:
    def to_integer(env: Env, this: Coll, focus: Coll) -> Coll:
        if len(focus) != 1:
            return []
        v = focus[0][0]
        if v is False or v is True:
            return [(int(v), None)]
        if is_number(v):
            return [(v, None)] if int(v) == v else []
        if isinstance(v, str):
            return [(int(v), None)] if _INTEGER_TEXT.match(v) else []
        if isinstance(v, float):
            raise Fallback("float value")
        return []

    return to_integer


def _f_trace(*_params: Fn) -> Inv:
    # this package's trace() (functions.py) returns its input unwrapped, as plain values
    return lambda env, this, focus: [(v, None) for v, _ in focus]


FUNCTIONS: Functions = {
    "toString": ((0,), _f_to_string),
    "toInteger": ((0,), _f_to_integer),
    "trace": ((0, 1, 2), _f_trace),
}
LAMBDAS: Functions = {
    # iif's branches are evaluated on its input as $this, and only the branch taken
    "iif": ((2, 3), _l_iif),
}
