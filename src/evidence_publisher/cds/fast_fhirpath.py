"""A closure compiler for the FHIRPath subset applicability conditions use.

fhirpathpy interprets its parse tree on every call (about 1-2 ms per condition here), which
alone would cap the service near 300 calls/s per core. This module compiles the same parse tree
once into Python closures for a small subset: paths (with R5 choice types and resource types
from fhirpathpy's own R5 model), literals, ``%resource``/``%rootResource``/``%context``,
``$this``, ``= != < <= > >=``, ``and or xor implies``, ``|``, ``in``/``contains``, unary ``-``, and
``where() exists() empty() count() first() not() all() ofType()``.

Anything outside the subset is refused at compile time (``compile_fast`` returns None) and
anything uncertain at run time (dates, mixed types, non-boolean operands of logic, ...) raises
``Fallback``; in both cases the caller evaluates with fhirpathpy, the reference. A differential
test checks that both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhirpathpy.models import models
from fhirpathpy.parser import parse

_MODEL = models["r5"]
_CHOICE: dict[str, list[str]] = _MODEL["choiceTypePaths"]
_PATH2TYPE: dict[str, str] = _MODEL["path2Type"]
_ELSEWHERE: dict[str, str] = _MODEL["pathsDefinedElsewhere"]
_PRIMITIVE_CHOICE = {
    "String",
    "Boolean",
    "Integer",
    "Integer64",
    "Decimal",
    "DateTime",
    "Date",
    "Time",
    "Code",
    "Uri",
    "Url",
    "Canonical",
    "Id",
    "Markdown",
    "Instant",
    "Base64Binary",
    "Oid",
    "Uuid",
    "PositiveInt",
    "UnsignedInt",
}
_TEMPORAL = {"date", "dateTime", "instant", "time"}
_ROOT_VARS = {"resource", "rootResource", "context"}

Node = tuple[Any, str | None]  # (JSON value, model path or type name; None when unknown)
Coll = list[Node]
Fn = Callable[[Coll, Coll], Coll]  # (root, focus) -> result


class Fallback(Exception):
    """The fast path cannot decide this case; evaluate with fhirpathpy."""


class Unsupported(Exception):
    """The expression uses something outside the compiled subset."""


# ---- navigation ------------------------------------------------------------------------------
def _child_path(item: Any, ctype: str | None, cpath: str | None) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("resourceType"), str):
        return item["resourceType"]
    if ctype is None:
        return None
    if ctype in ("BackboneElement", "Element"):
        return cpath
    if ctype == "Resource":
        return None
    return ctype


def _members(focus: Coll, name: str) -> Coll:
    out: Coll = []
    for value, path in focus:
        if not isinstance(value, dict):
            continue
        cpath = f"{path}.{name}" if path else None
        if cpath is not None:
            cpath = _ELSEWHERE.get(cpath, cpath)
        if cpath is not None and cpath in _CHOICE:
            for t in _CHOICE[cpath]:
                key = name + t
                if key in value:
                    tname = t[0].lower() + t[1:] if t in _PRIMITIVE_CHOICE else t
                    raw = value[key]
                    out.extend((x, tname) for x in (raw if isinstance(raw, list) else [raw]) if x is not None)
            continue
        if name not in value:
            if cpath is None and any(
                k.startswith(name) and len(k) > len(name) and k[len(name)].isupper() for k in value
            ):
                raise Fallback(f"possible choice element {name!r} on an untyped node")
            continue
        raw = value[name]
        ctype = _PATH2TYPE.get(cpath) if cpath else None
        for item in raw if isinstance(raw, list) else [raw]:
            if item is not None:
                out.append((item, _child_path(item, ctype, cpath)))
    return out


def _is_type(path: str | None, value: Any, tname: str) -> bool:
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        t: str | None = value["resourceType"]
    elif path is None or "." in path:
        raise Fallback("type of an untyped or backbone node")
    else:
        t = path
    # exact type, as fhirpathpy (the reference) does; it ignores the type hierarchy
    return t == tname


# ---- values ---------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, int | Decimal) and not isinstance(v, bool)


def _eq(a: Node, b: Node) -> bool:
    (va, pa), (vb, pb) = a, b
    if pa in _TEMPORAL or pb in _TEMPORAL:
        raise Fallback("temporal equality")
    if isinstance(va, bool) and isinstance(vb, bool):
        return va is vb
    if _is_num(va) and _is_num(vb):
        return Decimal(va) == Decimal(vb)
    if isinstance(va, str) and isinstance(vb, str):
        return va == vb
    raise Fallback("equality between other types")


def _bool(coll: Coll) -> bool | None:
    if not coll:
        return None
    if len(coll) == 1 and isinstance(coll[0][0], bool):
        return coll[0][0]
    raise Fallback("non-boolean operand of a logical operator")


def _single(coll: Coll) -> Node:
    if len(coll) != 1:
        raise Fallback("collection with more than one item where one is expected")
    return coll[0]


def _lit(value: Any) -> Coll:
    return [(value, None)]


TRUE, FALSE = [(True, "boolean")], [(False, "boolean")]


def _b(x: bool) -> Coll:
    return TRUE if x else FALSE


# ---- compiler -------------------------------------------------------------------------------
def _ident(node: dict[str, Any]) -> str:
    text = node["terminalNodeText"][0]
    return text[1:-1] if text.startswith("`") else text


def _type_name(param: dict[str, Any]) -> str:
    # ofType(X): TermExpression > InvocationTerm > MemberInvocation > Identifier
    n = param
    for expected in ("TermExpression", "InvocationTerm", "MemberInvocation", "Identifier"):
        if n.get("type") != expected:
            raise Unsupported("ofType() needs a simple type name")
        if expected != "Identifier":
            n = n["children"][0]
    return _ident(n)


def _string(text: str) -> str:
    if "\\" in text:
        raise Unsupported("escapes in string literals")
    return text[1:-1]


def _literal(node: dict[str, Any]) -> Coll:
    t = node["type"]
    text = node["terminalNodeText"][0] if node.get("terminalNodeText") else node.get("text")
    if t == "NullLiteral":
        return []
    if t == "BooleanLiteral":
        return _b(text == "true")
    if t == "StringLiteral":
        return [(_string(text), "string")]
    if t == "NumberLiteral":
        return [(Decimal(text) if "." in text else int(text), None)]
    raise Unsupported(t)


def _function(node: dict[str, Any]) -> Callable[[Coll, Coll], Coll]:
    functn = node["children"][0]
    name = _ident(functn["children"][0])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    if name == "ofType":
        if len(params) != 1:
            raise Unsupported("ofType arity")
        tname = _type_name(params[0]).removeprefix("FHIR.")
        return lambda root, focus: [n for n in focus if _is_type(n[1], n[0], tname)]
    crit = _compile(params[0]) if params else None
    if len(params) > 1:
        raise Unsupported(f"{name} with {len(params)} parameters")

    def keep(root: Coll, item: Node) -> bool:
        return crit is not None and _bool(crit(root, [item])) is True

    if name == "where" and crit:
        return lambda root, focus: [n for n in focus if keep(root, n)]
    if name == "exists":
        if crit:
            return lambda root, focus: _b(any(keep(root, n) for n in focus))
        return lambda root, focus: _b(bool(focus))
    if name == "all" and crit:
        return lambda root, focus: _b(all(keep(root, n) for n in focus))
    if crit is not None:
        raise Unsupported(f"{name}() with a parameter")
    if name == "empty":
        return lambda root, focus: _b(not focus)
    if name == "count":
        return lambda root, focus: [(len(focus), "integer")]
    if name == "first":
        return lambda root, focus: focus[:1]
    if name == "not":

        def not_(root: Coll, focus: Coll) -> Coll:
            b = _bool(focus)
            return [] if b is None else _b(not b)

        return not_
    raise Unsupported(f"function {name}()")


def _invocation(node: dict[str, Any], term: bool) -> Callable[[Coll, Coll], Coll]:
    t = node["type"]
    if t == "MemberInvocation":
        name = _ident(node["children"][0])
        if term and name[:1].isupper():
            # a leading type name filters the context (``Bundle.entry``)
            return lambda root, focus: [
                n for n in focus if isinstance(n[0], dict) and n[0].get("resourceType") == name
            ]
        return lambda root, focus: _members(focus, name)
    if t == "FunctionInvocation":
        return _function(node)
    if t == "ThisInvocation":
        return lambda root, focus: focus
    raise Unsupported(t)


def _compile(node: dict[str, Any]) -> Fn:
    t = node["type"]
    ch = node.get("children", [])
    ops = node.get("terminalNodeText") or []
    if t == "TermExpression":
        return _compile(ch[0])
    if t == "InvocationTerm":
        return _invocation(ch[0], term=True)
    if t == "LiteralTerm":
        value = _literal(ch[0])
        return lambda root, focus: value
    if t == "ExternalConstantTerm":
        name = _ident(ch[0]["children"][0])
        if name not in _ROOT_VARS:
            raise Unsupported(f"%{name}")
        return lambda root, focus: root
    if t == "ParenthesizedTerm":
        return _compile(ch[0])
    if t == "InvocationExpression":
        left, inv = _compile(ch[0]), _invocation(ch[1], term=False)
        return lambda root, focus: inv(root, left(root, focus))
    if t == "PolarityExpression":
        inner = _compile(ch[0])
        sign = ops[0]

        def polarity(root: Coll, focus: Coll) -> Coll:
            r = inner(root, focus)
            if not r:
                return []
            v, p = _single(r)
            if not _is_num(v):
                raise Fallback("polarity of a non-number")
            return [(-v if sign == "-" else v, p)]

        return polarity
    if len(ch) != 2:
        raise Unsupported(t)
    a, b = _compile(ch[0]), _compile(ch[1])
    op = ops[0] if ops else ""
    if t == "EqualityExpression" and op in ("=", "!="):
        negate = op == "!="

        def equality(root: Coll, focus: Coll) -> Coll:
            left, right = a(root, focus), b(root, focus)
            if not left or not right:
                return []
            same = len(left) == len(right) and all(_eq(x, y) for x, y in zip(left, right, strict=True))
            return _b(same != negate)

        return equality
    if t == "InequalityExpression":

        def inequality(root: Coll, focus: Coll) -> Coll:
            left, right = a(root, focus), b(root, focus)
            if not left or not right:
                return []
            (x, px), (y, py) = _single(left), _single(right)
            if (
                px in _TEMPORAL
                or py in _TEMPORAL
                or not ((_is_num(x) and _is_num(y)) or (isinstance(x, str) and isinstance(y, str)))
            ):
                raise Fallback("comparison between these types")
            return _b({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])

        return inequality
    if t == "AndExpression":

        def and_(root: Coll, focus: Coll) -> Coll:
            x, y = _bool(a(root, focus)), _bool(b(root, focus))
            if x is False or y is False:
                return FALSE
            return TRUE if x is True and y is True else []

        return and_
    if t == "OrExpression" and op == "or":

        def or_(root: Coll, focus: Coll) -> Coll:
            x, y = _bool(a(root, focus)), _bool(b(root, focus))
            if x is True or y is True:
                return TRUE
            return FALSE if x is False and y is False else []

        return or_
    if t == "OrExpression" and op == "xor":

        def xor(root: Coll, focus: Coll) -> Coll:
            x, y = _bool(a(root, focus)), _bool(b(root, focus))
            return [] if x is None or y is None else _b(x != y)

        return xor
    if t == "ImpliesExpression":

        def implies(root: Coll, focus: Coll) -> Coll:
            x, y = _bool(a(root, focus)), _bool(b(root, focus))
            if x is False or y is True:
                return TRUE
            return FALSE if x is True and y is False else []

        return implies
    if t == "UnionExpression":

        def union(root: Coll, focus: Coll) -> Coll:
            out: Coll = []
            for n in a(root, focus) + b(root, focus):
                if isinstance(n[0], dict | list):
                    raise Fallback("union of complex values")
                if not any(_eq(n, m) for m in out):
                    out.append(n)
            return out

        return union
    if t == "MembershipExpression" and op in ("in", "contains"):
        item_side, coll_side = (a, b) if op == "in" else (b, a)

        def membership(root: Coll, focus: Coll) -> Coll:
            item = item_side(root, focus)
            if not item:
                return []
            x = _single(item)
            return _b(any(_eq(x, m) for m in coll_side(root, focus)))

        return membership
    raise Unsupported(f"{t} {op}".strip())


def compile_fast(expression: str) -> Callable[[dict[str, Any]], list[Any]] | None:
    """Compile ``expression`` for a context resource, or None when outside the subset.

    The returned function takes the context resource (here the patient Bundle), which is also
    ``%resource``/``%rootResource``/``%context``, and may raise ``Fallback``.
    """
    try:
        tree = parse(expression)
        fn = _compile(tree["children"][0])
    except (Unsupported, KeyError, IndexError, ValueError, ArithmeticError):
        return None

    def run(resource: dict[str, Any]) -> list[Any]:
        root: Coll = [(resource, resource.get("resourceType"))]
        return [v for v, _ in fn(root, root)]

    return run
