"""What every chapter of the compiler shares: the value representation, the evaluation
environment, the two hand-over signals and the helpers that mirror fhirpathpy's conversions.

A collection is a list of ``(value, path)`` pairs. ``path`` is the FHIR model path or type name
of a node reached by navigation (fhirpathpy's ``ResourceNode.path``), ``""`` for such a node
whose path is unknown, and ``None`` for a plain value (a literal or a function result), which
fhirpathpy keeps unwrapped and treats differently in a few places.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Node = tuple[Any, "str | None"]
Coll = list[Node]


class Fallback(Exception):
    """This evaluation needs fhirpathpy (it would convert, raise or compare with precision)."""


class Unsupported(Exception):
    """The expression uses something outside the compiled set."""


class Env:
    """What one evaluation sees besides ``$this``: %context, %resource, %rootResource, the
    reference resolver and the terminology check. ``memo`` holds this evaluation's values of
    expressions that do not depend on ``$this``."""

    __slots__ = ("context", "member_of", "memo", "resolve", "resource", "root_resource")

    def __init__(
        self,
        context: Coll,
        resource: Coll,
        root_resource: Coll,
        resolve: Callable[[str], dict | None] | None = None,
        member_of: Callable[[Any, str], bool | None] | None = None,
    ) -> None:
        self.context = context
        self.resource = resource
        self.root_resource = root_resource
        self.resolve = resolve
        self.member_of = member_of
        self.memo: dict[int, Coll] = {}


Fn = Callable[[Env, Coll], Coll]  # (env, $this) -> result
Inv = Callable[[Env, Coll, Coll], Coll]  # (env, $this, input) -> result
# a chapter's function table: name -> (accepted parameter counts, builder(*parameter Fns) -> Inv)
Functions = dict[str, tuple[tuple[int, ...], Callable[..., Inv]]]

TRUE: Coll = [(True, None)]
FALSE: Coll = [(False, None)]


def boolean(x: bool) -> Coll:
    return TRUE if x else FALSE


def node_path(value: Any, path: str | None) -> str | None:
    """fhirpathpy's ResourceNode.path: a resource's type wins over any given path."""
    if isinstance(value, dict):
        rt = value.get("resourceType")
        if rt is not None:
            return rt
    return path or None


def is_number(v: Any) -> bool:
    return isinstance(v, int | Decimal) and not isinstance(v, bool)


def logical(coll: Coll) -> bool | None:
    """A logical operand: empty, or one boolean (fhirpathpy raises on anything else)."""
    if not coll:
        return None
    if len(coll) == 1:
        v = coll[0][0]
        if v is True or v is False:
            return v
    raise Fallback("non-boolean operand of a logical operator")


def single_string(coll: Coll) -> str:
    if len(coll) == 1 and isinstance(coll[0][0], str):
        return coll[0][0]
    raise Fallback("string function on something other than one string")


def plain_values(value: Any) -> Coll:
    """fhirpathpy's ``util.arraify`` on a plain function result."""
    if value is None:
        return []
    return [(value, None)]


def _key(value: Any) -> str:
    """fhirpathpy's de-duplication key (``util.uniq``)."""
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:
        return str(value)


def distinct(coll: Coll) -> Coll:
    """fhirpathpy's distinct_fn for the shapes it meets here (``distinct()`` and ``|``)."""
    if not coll:
        return []
    if all(p is not None for _, p in coll):
        seen: dict[str, Any] = {}
        for value, _ in coll:
            seen[_key(value)] = value
        return [(v, "") for v in seen.values()]
    if any(p is not None for _, p in coll):
        raise Fallback("distinct of navigated and plain values together")
    plain: dict[str, Node] = {}
    for item in coll:
        plain[_key(item[0])] = item
    return list(plain.values())


def arg_string(fn: Fn, env: Env, this: Coll) -> str | None:
    """A String parameter: evaluated on $this; empty -> None; anything but one string -> Fallback."""
    r = fn(env, this)
    if not r:
        return None
    if len(r) == 1 and isinstance(r[0][0], str):
        return r[0][0]
    raise Fallback("parameter is not one string")


def arg_integer(fn: Fn, env: Env, this: Coll) -> int | None:
    r = fn(env, this)
    if not r:
        return None
    if len(r) == 1 and is_number(r[0][0]) and int(r[0][0]) == r[0][0]:
        return int(r[0][0])
    raise Fallback("parameter is not one integer")


def values(coll: Coll) -> list[Any]:
    return [v for v, _ in coll]


def as_plain(items: list[Any]) -> Coll:
    return [(v, None) for v in items]


def where_truthy(r: Coll) -> bool:
    """fhirpathpy keeps an item when the criteria's first result is truthy (a node always is)."""
    if not r:
        return False
    v, p = r[0]
    return True if p is not None else bool(v)


def is_true(r: Coll) -> bool:
    return len(r) == 1 and r[0][0] == True  # noqa: E712 - fhirpathpy's is_true uses ==
