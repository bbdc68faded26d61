"""Specification §5.2 (filtering and projection: ``where()``, ``select()``, ``repeat()``; ``ofType()``
is with the types in types.py), §5.3 (subsetting: ``first()``, ``tail()``, ``intersect()``;
indexers are in paths.py) and §5.4 (combining: ``combine()``; ``|`` is with the operators)."""

from __future__ import annotations

import json

from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    Node,
    node_path,
    where_truthy,
)


def _l_where(crit: Fn) -> Inv:
    return lambda env, this, focus: [x for x in focus if where_truthy(crit(env, [x]))]


def _l_select(proj: Fn) -> Inv:
    def select(env: Env, this: Coll, focus: Coll) -> Coll:
        out: Coll = []
        for x in focus:
            out.extend(proj(env, [x]))
        return out

    return select


def _repeat_key(node: Node) -> tuple:
    value, path = node
    if path is None:
        try:
            hash(value)
        except TypeError as exc:
            raise Fallback("repeat() over unhashable plain values") from exc
        return ("plain", value)
    return ("node", json.dumps(value, sort_keys=True, default=str), node_path(value, path))


def _l_repeat(proj: Fn) -> Inv:
    def repeat(env: Env, this: Coll, focus: Coll) -> Coll:
        out: Coll = []
        seen: set[tuple] = set()
        items = list(focus)
        i = 0
        while i < len(items):
            new = [e for e in proj(env, [items[i]]) if _repeat_key(e) not in seen]
            i += 1
            for e in new:
                seen.add(_repeat_key(e))
            out.extend(new)
            items.extend(new)
        return out

    return repeat


def _f_first() -> Inv:
    return lambda env, this, focus: focus[:1]


def _f_tail() -> Inv:
    return lambda env, this, focus: focus[1:]


def _f_intersect(other: Fn) -> Inv:
    def intersect(env: Env, this: Coll, focus: Coll) -> Coll:
        right = other(env, this)
        out: Coll = []
        for item in focus:
            if any(item[0] == o[0] for o in right) and not any(item[0] == u[0] for u in out):
                out.append(item)
        return out

    return intersect


def _f_combine(other: Fn) -> Inv:
    return lambda env, this, focus: focus + other(env, this)


FUNCTIONS: Functions = {
    "first": ((0,), _f_first),
    "tail": ((0,), _f_tail),
    "intersect": ((1,), _f_intersect),
    "combine": ((1,), _f_combine),
}
LAMBDAS: Functions = {
    "where": ((1,), _l_where),
    "select": ((1,), _l_select),
    "repeat": ((1,), _l_repeat),
}
