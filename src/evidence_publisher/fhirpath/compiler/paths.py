"""Specification §3 (path selection) and §5.8 (tree navigation): members, with R5 choice types
and primitive extensions as fhirpathpy navigates them, type names as the first step of a path,
indexers, ``children()`` and ``descendants()``."""

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
    node_path,
)

# bound here rather than imported by name: CPython 3.11 compiles ``imported_name.get(...)`` without
# its method-call fast path (the name might be a module), which costs a third of member()'s time
_CHOICE_TYPES = adapter.CHOICE_TYPES
_PATH_TO_TYPE = adapter.PATH_TO_TYPE
_ELSEWHERE = adapter.PATHS_DEFINED_ELSEWHERE


def member(coll: Coll, key: str) -> Coll:
    out: Coll = []
    for value, p in coll:
        path = node_path(value, p)
        child = f"{path}.{key}" if path else f"_.{key}"
        child = _ELSEWHERE.get(child, child)
        if not isinstance(value, dict):
            if key == "length" and value is not None:
                raise Fallback("'length' on a primitive")
            continue
        raw = raw_ = None
        types = _CHOICE_TYPES.get(child)
        if types:
            for t in types:
                field = key + t
                raw = value.get(field)
                raw_ = value.get("_" + field)
                if raw is not None or raw_ is not None:
                    child += t
                    break
        else:
            raw = value.get(key)
            raw_ = value.get("_" + key)
            if key == "extension":
                child = "Extension"
        child = _PATH_TO_TYPE.get(child, child)
        for data in (raw, raw_):
            if data is None or data == []:
                continue
            if isinstance(data, list):
                out.extend((x, child) for x in data)
            else:
                out.append((data, child))
    return out


def member_invocation(key: str) -> Inv:
    return lambda env, this, focus: member(focus, key)


def type_filter_or_member(key: str) -> Inv:
    """A capitalised first identifier: fhirpathpy filters plain resources by type, else navigates."""

    def term(env: Env, this: Coll, focus: Coll) -> Coll:
        for v, p in focus:
            if p is not None or not isinstance(v, dict):
                return member(focus, key)  # fhirpathpy: TypeError, caught -> navigation
            if "resourceType" not in v:
                raise Fallback("type filter on a plain object without resourceType")
        return [(v, key) for v, _ in focus if v["resourceType"] == key]

    return term


def indexer(coll_fn: Fn, idx_fn: Fn) -> Fn:
    def index(env: Env, this: Coll) -> Coll:
        coll, idx = coll_fn(env, this), idx_fn(env, this)
        if not idx:
            return []
        i, p = idx[0]
        if p is not None or not is_number(i):
            raise Fallback("index is not a plain number")
        i = int(i)
        return [coll[i]] if 0 <= i < len(coll) else []

    return index


def children(coll: Coll, with_underscore: bool) -> Coll:
    out: Coll = []
    for value, p in coll:
        if not isinstance(value, dict):
            if isinstance(value, list):
                raise Fallback("children of a list")
            continue
        path = node_path(value, p)
        for prop, data in value.items():
            if not with_underscore and prop.startswith("_"):
                continue
            child = path + "." + prop if path is not None else ""
            if prop == "extension":
                child = "Extension"
            child = _ELSEWHERE.get(child, child)
            child = _PATH_TO_TYPE.get(child, child)
            if isinstance(data, list):
                out.extend((x, child) for x in data)
            else:
                out.append((data, child))
    return out


def descendants(coll: Coll) -> Coll:
    out: Coll = []
    level = children(coll, True)
    while level:
        out.extend(level)
        level = children(level, True)
    return out


def _f_children() -> Inv:
    return lambda env, this, focus: children(focus, False)


def _f_descendants() -> Inv:
    return lambda env, this, focus: descendants(focus)


FUNCTIONS: Functions = {
    "children": ((0,), _f_children),
    "descendants": ((0,), _f_descendants),
}
