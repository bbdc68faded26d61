"""Specification §5.1 (existence): ``exists()``, ``empty()``, ``count()``, ``all()``,
``allTrue()``, ``allFalse()``, ``distinct()``, ``isDistinct()``."""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    boolean,
    distinct,
    is_true,
    where_truthy,
)


def _f_exists() -> Inv:
    return lambda env, this, focus: boolean(bool(focus))


def _f_empty() -> Inv:
    return lambda env, this, focus: boolean(not focus)


def _f_count() -> Inv:
    return lambda env, this, focus: [(len(focus), None)]


def _f_distinct() -> Inv:
    return lambda env, this, focus: distinct(focus)


def _f_is_distinct() -> Inv:
    return lambda env, this, focus: boolean(len(focus) == len(distinct(focus)))


def _f_all_bool(want: bool) -> Callable[[], Inv]:
    def make() -> Inv:
        def all_bool(env: Env, this: Coll, focus: Coll) -> Coll:
            out = True
            for v, _ in focus:
                if not isinstance(v, bool):
                    raise Fallback("allTrue()/allFalse() on a non-boolean")
                out = out and v is want
            return boolean(out)

        return all_bool

    return make


def _l_exists(crit: Fn) -> Inv:
    return lambda env, this, focus: boolean(any(where_truthy(crit(env, [x])) for x in focus))


def _l_all(crit: Fn) -> Inv:
    return lambda env, this, focus: boolean(all(is_true(crit(env, [x])) for x in focus))


FUNCTIONS: Functions = {
    "exists": ((0,), _f_exists),  # exists(criteria) is in LAMBDAS
    "empty": ((0,), _f_empty),
    "count": ((0,), _f_count),
    "distinct": ((0,), _f_distinct),
    "isDistinct": ((0,), _f_is_distinct),
    "allTrue": ((0,), _f_all_bool(True)),
    "allFalse": ((0,), _f_all_bool(False)),
}
LAMBDAS: Functions = {
    "exists": ((1,), _l_exists),
    "all": ((1,), _l_all),
}
