"""FHIRPath compiled to Python closures, answering what fhirpathpy answers.

fhirpathpy (the reference engine here) interprets its parse tree on every call; on the R5
examples that interpretation is most of the validator's time. This module walks the same parse
tree once per expression and returns a closure. Its semantics are fhirpathpy's own, including its
choices where the FHIRPath specification leaves room (string comparison of date strings,
first-item equality, truthiness inside ``where``): a faster engine that answered differently
would change what the validator reports.

Two escape hatches keep it honest:

* ``Unsupported`` at compile time (a function or operator outside the compiled set):
  ``compile_expression`` returns None and the caller uses fhirpathpy for that expression.
* ``Fallback`` at run time (date/time and Quantity arithmetic, a non-boolean operand of a logical
  operator, anything where fhirpathpy would raise or convert): the caller evaluates that one call
  with fhirpathpy.

``tests/validate/test_validate_compiled_differential.py`` evaluates both engines on every
invariant at every element of the R5 examples and asserts the same verdict.

Representation: a collection is a list of ``(value, path)`` pairs. ``path`` is the FHIR model
path or type name of a node reached by navigation (fhirpathpy's ``ResourceNode.path``), ``""`` for
such a node whose path is unknown, and ``None`` for a plain value (a literal or a function result),
which fhirpathpy keeps unwrapped and treats differently in a few places.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from fhirpathpy.engine import type_specifier as fp_type_specifier
from fhirpathpy.engine.evaluators import (
    boolean_literal,
    identifier,
    null_literal,
    number_literal,
    string_literal,
)
from fhirpathpy.engine.invocations import equality as fp_equality
from fhirpathpy.engine.invocations.misc import intRegex as fp_int_regex
from fhirpathpy.engine.nodes import FP_Type
from fhirpathpy.engine.util import arraify
from fhirpathpy.models import models
from fhirpathpy.parser import parse

from evidence_publisher.validate.fhirpath import (
    boundary,
    comparable,
    conforms_to,
    has_value,
    html_checks,
    quote_reserved,
)

_MODEL = models["r5"]
_CHOICE: dict[str, list[str]] = _MODEL["choiceTypePaths"]
_PATH2TYPE: dict[str, str] = _MODEL["path2Type"]
_ELSEWHERE: dict[str, str] = _MODEL["pathsDefinedElsewhere"]
_PARENT: dict[str, str] = _MODEL["type2Parent"]
_TEMPORAL_PATHS = frozenset({"date", "dateTime", "time"})
UCUM = "http://unitsofmeasure.org"

# tests set this so that a closure raising anything but Fallback fails loudly instead of handing over
STRICT = False

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

_UCUM: Coll = [(UCUM, None)]
TRUE: Coll = [(True, None)]
FALSE: Coll = [(False, None)]


def _b(x: bool) -> Coll:
    return TRUE if x else FALSE


# ---- nodes ----------------------------------------------------------------------------------
def _eff_path(value: Any, path: str | None) -> str | None:
    """fhirpathpy's ResourceNode.path: a resource's type wins over any given path."""
    if isinstance(value, dict):
        rt = value.get("resourceType")
        if rt is not None:
            return rt
    return path or None


def _key(value: Any) -> str:
    """fhirpathpy's de-duplication key (``util.uniq``)."""
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError:
        return str(value)


def _as_bool(coll: Coll) -> bool | None:
    """A logical operand: empty, or one boolean (fhirpathpy raises on anything else)."""
    if not coll:
        return None
    if len(coll) == 1:
        v = coll[0][0]
        if v is True or v is False:
            return v
    raise Fallback("non-boolean operand of a logical operator")


def _single_str(coll: Coll) -> str:
    if len(coll) == 1 and isinstance(coll[0][0], str):
        return coll[0][0]
    raise Fallback("string function on something other than one string")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | Decimal) and not isinstance(v, bool)


def _arraify(value: Any) -> Coll:
    """fhirpathpy's ``util.arraify`` on a plain function result."""
    if value is None:
        return []
    return [(value, None)]


# ---- navigation ------------------------------------------------------------------------------
def _member(coll: Coll, key: str) -> Coll:
    out: Coll = []
    for value, p in coll:
        path = _eff_path(value, p)
        child = f"{path}.{key}" if path else f"_.{key}"
        child = _ELSEWHERE.get(child, child)
        if not isinstance(value, dict):
            if key == "length" and value is not None:
                raise Fallback("'length' on a primitive")
            continue
        raw = raw_ = None
        types = _CHOICE.get(child)
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
        child = _PATH2TYPE.get(child, child)
        for data in (raw, raw_):
            if data is None or data == []:
                continue
            if isinstance(data, list):
                out.extend((x, child) for x in data)
            else:
                out.append((data, child))
    return out


def _children(coll: Coll, with_underscore: bool) -> Coll:
    out: Coll = []
    for value, p in coll:
        if not isinstance(value, dict):
            if isinstance(value, list):
                raise Fallback("children of a list")
            continue
        path = _eff_path(value, p)
        for prop, data in value.items():
            if not with_underscore and prop.startswith("_"):
                continue
            child = path + "." + prop if path is not None else ""
            if prop == "extension":
                child = "Extension"
            child = _ELSEWHERE.get(child, child)
            child = _PATH2TYPE.get(child, child)
            if isinstance(data, list):
                out.extend((x, child) for x in data)
            else:
                out.append((data, child))
    return out


def _descendants(coll: Coll) -> Coll:
    out: Coll = []
    level = _children(coll, True)
    while level:
        out.extend(level)
        level = _children(level, True)
    return out


# ---- types ------------------------------------------------------------------------------------
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
    eff = _eff_path(value, path)
    if eff is None:
        raise Fallback("type of a node without a path")
    if eff.startswith("System."):
        return "System", eff[7:]
    if "." not in eff:
        return "FHIR", eff
    return "FHIR", "BackboneElement"


def _is_type(value: Any, path: str | None, spec: tuple[str | None, str]) -> bool:
    ns, name = _type_of(value, path)
    want_ns, want = spec
    if want_ns and ns != want_ns:
        return False
    if ns == "FHIR":
        t: str | None = name
        while t:
            if t == want:
                return True
            t = _PARENT.get(t) or _PATH2TYPE.get(t)
        return False
    return name == want


def _type_spec(node: dict[str, Any]) -> tuple[str | None, str]:
    info = fp_type_specifier(None, None, node)  # fhirpathpy's own reading of "FHIR.Quantity"
    return info.namespace, info.name


# ---- compiler ---------------------------------------------------------------------------------
# identifiers and literals are read by fhirpathpy's own evaluators, so both engines see the same
# names, unescaped strings and integer-or-decimal numbers
def _ident(node: dict[str, Any]) -> str:
    return identifier(None, None, node)[0].replace("`", "")


_LITERALS = {
    "NullLiteral": null_literal,
    "BooleanLiteral": boolean_literal,
    "StringLiteral": string_literal,
    "NumberLiteral": number_literal,
}


def _literal(node: dict[str, Any]) -> Coll:
    read = _LITERALS.get(node["type"])
    if read is None:
        raise Unsupported(node["type"])
    return [(v, None) for v in read(None, None, node)]


class _Compiler:
    def __init__(self) -> None:
        self.lambda_depth = 0

    # expressions are "independent" when they read no $this (only literals and %variables);
    # inside a lambda such an expression is evaluated once per call and remembered (sdf-24/25
    # compare each element with a list built from %context, which would otherwise be rebuilt
    # for every element)
    def independent(self, node: dict[str, Any]) -> bool:
        t = node["type"]
        ch = node.get("children") or []
        if t in ("LiteralTerm", "ExternalConstantTerm"):
            return True
        if t in ("InvocationTerm", "ThisInvocation"):
            return False
        if t == "InvocationExpression":
            if not self.independent(ch[0]):
                return False
            inv = ch[1]
            if inv["type"] != "FunctionInvocation":
                return inv["type"] == "MemberInvocation"
            name, params = self._fn_parts(inv)
            if name in _LAMBDA_FUNCTIONS or name in ("ofType", "is", "as"):
                return True
            return all(self.independent(p) for p in params)
        if t == "TypeExpression":
            return self.independent(ch[0])
        return bool(ch) and all(self.independent(c) for c in ch)

    @staticmethod
    def _fn_parts(inv: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        functn = inv["children"][0]
        name = _ident(functn["children"][0])
        params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
        return name, params

    def expr(self, node: dict[str, Any]) -> Fn:
        fn = self._expr(node)
        if self.lambda_depth and node["type"] != "LiteralTerm" and self.independent(node):
            slot = id(node)

            def remembered(env: Env, this: Coll) -> Coll:
                hit = env.memo.get(slot)
                if hit is None:
                    hit = env.memo[slot] = fn(env, this)
                return hit

            return remembered
        return fn

    def lam(self, node: dict[str, Any]) -> Fn:
        self.lambda_depth += 1
        try:
            return self.expr(node)
        finally:
            self.lambda_depth -= 1

    def _expr(self, node: dict[str, Any]) -> Fn:
        t = node["type"]
        ch = node.get("children") or []
        op = (node.get("terminalNodeText") or [""])[0]
        if t in ("TermExpression", "ParenthesizedTerm"):
            return self.expr(ch[0])
        if t == "InvocationTerm":
            inv = self.invocation(ch[0], term=True)
            return lambda env, this: inv(env, this, this)
        if t == "LiteralTerm":
            value = _literal(ch[0])
            return lambda env, this: value
        if t == "ExternalConstantTerm":
            name = _ident(ch[0]["children"][0])
            if name == "context":
                return lambda env, this: env.context
            if name == "resource":
                return lambda env, this: env.resource
            if name == "rootResource":
                return lambda env, this: env.root_resource
            if name == "ucum":
                return lambda env, this: _UCUM
            raise Unsupported(f"%{name}")
        if t == "InvocationExpression":
            left = self.expr(ch[0])
            inv = self.invocation(ch[1], term=False)
            return lambda env, this: inv(env, this, left(env, this))
        if t == "IndexerExpression":
            coll_fn, idx_fn = self.expr(ch[0]), self.expr(ch[1])

            def indexer(env: Env, this: Coll) -> Coll:
                coll, idx = coll_fn(env, this), idx_fn(env, this)
                if not idx:
                    return []
                i, p = idx[0]
                if p is not None or not _is_num(i):
                    raise Fallback("index is not a plain number")
                i = int(i)
                return [coll[i]] if 0 <= i < len(coll) else []

            return indexer
        if t == "PolarityExpression":
            inner = self.expr(ch[0])

            def polarity(env: Env, this: Coll) -> Coll:
                r = inner(env, this)
                if len(r) != 1 or r[0][1] is not None or not _is_num(r[0][0]):
                    raise Fallback("polarity of something other than one number")
                return [(-r[0][0], r[0][1])] if op == "-" else r

            return polarity
        if t == "TypeExpression":
            left = self.expr(ch[0])
            spec = _type_spec(ch[1])
            return _is_op(left, spec) if op == "is" else _as_op(left, spec)
        if len(ch) != 2:
            raise Unsupported(t)
        a, b = self.expr(ch[0]), self.expr(ch[1])
        if t == "AndExpression":
            return _and(a, b)
        if t == "OrExpression":
            return _or(a, b) if op == "or" else _xor(a, b)
        if t == "ImpliesExpression":
            return _implies(a, b)
        if t == "EqualityExpression" and op in ("=", "!="):
            return _equality(a, b, op == "!=")
        if t == "InequalityExpression":
            return _inequality(a, b, op)
        if t == "UnionExpression":
            return lambda env, this: _distinct(a(env, this) + b(env, this))
        if t == "MembershipExpression" and op in ("in", "contains"):
            return _membership(a, b, op == "in")
        if t == "AdditiveExpression" and op in ("+", "-"):
            return _additive(a, b, op)
        if t == "AdditiveExpression" and op == "&":
            return _concat(a, b)
        raise Unsupported(f"{t} {op}".strip())

    def invocation(self, node: dict[str, Any], term: bool) -> Inv:
        t = node["type"]
        if t == "MemberInvocation":
            key = _ident(node["children"][0])
            if term and key[:1].isupper():
                return _type_filter_or_member(key)
            return lambda env, this, focus: _member(focus, key)
        if t == "ThisInvocation":
            return lambda env, this, focus: this
        if t == "FunctionInvocation":
            return self.function(node)
        raise Unsupported(t)

    def function(self, node: dict[str, Any]) -> Inv:
        name, params = self._fn_parts(node)
        n = len(params)
        if name in _LAMBDA_FUNCTIONS and n in _LAMBDA_FUNCTIONS[name]:
            lams = [self.lam(p) for p in params]
            return _LAMBDA_BUILDERS[name](*lams)
        builder = _SIMPLE.get(name)
        if builder is not None:
            arity, make = builder
            if n not in arity:
                raise Unsupported(f"{name}() with {n} parameters")
            return make(*[self.expr(p) for p in params])
        if name in ("ofType", "is", "as"):
            if n != 1:
                raise Unsupported(f"{name}() arity")
            spec = _type_spec(params[0])
            if name == "ofType":
                return lambda env, this, focus: [x for x in focus if _is_type(x[0], x[1], spec)]
            single = _is_op if name == "is" else _as_op
            fn = single(lambda env, this: this, spec)
            return lambda env, this, focus: fn(env, focus)
        raise Unsupported(f"function {name}() with {n} parameters")


# ---- operators -------------------------------------------------------------------------------
def _and(a: Fn, b: Fn) -> Fn:
    def and_(env: Env, this: Coll) -> Coll:
        x = _as_bool(a(env, this))
        if x is False:
            return FALSE
        y = _as_bool(b(env, this))
        if y is False:
            return FALSE
        return TRUE if x is True and y is True else []

    return and_


def _or(a: Fn, b: Fn) -> Fn:
    def or_(env: Env, this: Coll) -> Coll:
        x = _as_bool(a(env, this))
        if x is True:
            return TRUE
        y = _as_bool(b(env, this))
        if y is True:
            return TRUE
        return FALSE if x is False and y is False else []

    return or_


def _xor(a: Fn, b: Fn) -> Fn:
    def xor(env: Env, this: Coll) -> Coll:
        x, y = _as_bool(a(env, this)), _as_bool(b(env, this))
        return [] if x is None or y is None else _b(x != y)

    return xor


def _implies(a: Fn, b: Fn) -> Fn:
    def implies(env: Env, this: Coll) -> Coll:
        x = _as_bool(a(env, this))
        if x is False:
            return TRUE
        y = _as_bool(b(env, this))
        if y is True:
            return TRUE
        return FALSE if x is True and y is False else []

    return implies


def _plain_operand(node: Node) -> Any:
    value, path = node
    if path is not None and _eff_path(value, path) == "Quantity":
        raise Fallback("Quantity equality")
    if isinstance(value, float):
        raise Fallback("float value")
    return value


def _equality(a: Fn, b: Fn, negate: bool) -> Fn:
    def equality(env: Env, this: Coll) -> Coll:
        left, right = a(env, this), b(env, this)
        if not left or not right:
            return []
        if len(left) != len(right):
            return _b(negate)
        # fhirpathpy compares the first items only
        same = _plain_operand(left[0]) == _plain_operand(right[0])
        return _b(same != negate)

    return equality


def _drop_primitive_extension(coll: Coll) -> Coll:
    # fhirpathpy's remove_duplicate_extension: ``x`` and ``_x`` both navigated -> keep ``x``
    if len(coll) == 2 and coll[1][1] is not None:
        data = coll[1][0]
        if isinstance(data, dict | list | str) and "extension" in data:
            return coll[:1]
    return coll


_FP_COMPARE = {"<": fp_equality.lt, "<=": fp_equality.lte, ">": fp_equality.gt, ">=": fp_equality.gte}
_COMPARE = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


def _inequality(a: Fn, b: Fn, op: str) -> Fn:
    cmp = _COMPARE[op]

    def inequality(env: Env, this: Coll) -> Coll:
        left, right = a(env, this), b(env, this)
        if not left or not right:
            return []
        left, right = _drop_primitive_extension(left), _drop_primitive_extension(right)
        if len(left) != 1 or len(right) != 1:
            raise Fallback("comparison of collections")
        x, y = left[0][0], right[0][0]
        if (_is_num(x) and _is_num(y)) or (isinstance(x, str) and isinstance(y, str)):
            return _b(cmp(x, y))
        if isinstance(x, bool) and isinstance(y, bool):
            return _b(cmp(x, y))
        if (isinstance(x, FP_Type) or isinstance(y, FP_Type)) and left[0][1] is None and right[0][1] is None:
            # boundaries are fhirpathpy's own types: let its comparison decide (precision rules)
            try:
                return [(r, None) for r in arraify(_FP_COMPARE[op](None, [x], [y]))]
            except Exception as exc:
                raise Fallback(f"comparison: {exc}") from exc
        raise Fallback("comparison between these types")

    return inequality


def _distinct(coll: Coll) -> Coll:
    """fhirpathpy's distinct_fn for the shapes it meets here."""
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


def _membership(a: Fn, b: Fn, is_in: bool) -> Fn:
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
        return _b(any(m[0] == x for m in coll))

    return membership


def _additive(a: Fn, b: Fn, op: str) -> Fn:
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
        if _is_num(x) and _is_num(y):
            return [(x + y if op == "+" else x - y, None)]
        if op == "+" and isinstance(x, str) and isinstance(y, str):
            return [(x + y, None)]
        raise Fallback("arithmetic on these types")

    return additive


def _concat(a: Fn, b: Fn) -> Fn:
    def one(coll: Coll) -> str:
        if not coll:
            return ""
        return _single_str(coll)

    return lambda env, this: [(one(a(env, this)) + one(b(env, this)), None)]


def _is_op(left: Fn, spec: tuple[str | None, str]) -> Fn:
    def is_(env: Env, this: Coll) -> Coll:
        coll = left(env, this)
        if not coll:
            return []
        if len(coll) > 1:
            raise Fallback("'is' on a collection")
        return _b(_is_type(coll[0][0], coll[0][1], spec))

    return is_


def _as_op(left: Fn, spec: tuple[str | None, str]) -> Fn:
    def as_(env: Env, this: Coll) -> Coll:
        coll = left(env, this)
        if not coll:
            return []
        if len(coll) > 1:
            raise Fallback("'as' on a collection")
        return coll if _is_type(coll[0][0], coll[0][1], spec) else []

    return as_


def _type_filter_or_member(key: str) -> Inv:
    """A capitalised first identifier: fhirpathpy filters plain resources by type, else navigates."""

    def term(env: Env, this: Coll, focus: Coll) -> Coll:
        for v, p in focus:
            if p is not None or not isinstance(v, dict):
                return _member(focus, key)  # fhirpathpy: TypeError, caught -> navigation
            if "resourceType" not in v:
                raise Fallback("type filter on a plain object without resourceType")
        return [(v, key) for v, _ in focus if v["resourceType"] == key]

    return term


# ---- functions without lambdas: make(*param_fns) -> Inv ---------------------------------------
def _arg_str(fn: Fn, env: Env, this: Coll) -> str | None:
    """A String parameter: evaluated on $this; empty -> None; anything but one string -> Fallback."""
    r = fn(env, this)
    if not r:
        return None
    if len(r) == 1 and isinstance(r[0][0], str):
        return r[0][0]
    raise Fallback("parameter is not one string")


def _arg_int(fn: Fn, env: Env, this: Coll) -> int | None:
    r = fn(env, this)
    if not r:
        return None
    if len(r) == 1 and _is_num(r[0][0]) and int(r[0][0]) == r[0][0]:
        return int(r[0][0])
    raise Fallback("parameter is not one integer")


def _f_exists() -> Inv:
    return lambda env, this, focus: _b(bool(focus))


def _f_empty() -> Inv:
    return lambda env, this, focus: _b(not focus)


def _f_count() -> Inv:
    return lambda env, this, focus: [(len(focus), None)]


def _f_not() -> Inv:
    def not_(env: Env, this: Coll, focus: Coll) -> Coll:
        if len(focus) != 1:
            return []
        v = focus[0][0]
        return _b(not v) if v is True or v is False else FALSE

    return not_


def _f_first() -> Inv:
    return lambda env, this, focus: focus[:1]


def _f_tail() -> Inv:
    return lambda env, this, focus: focus[1:]


def _f_distinct() -> Inv:
    return lambda env, this, focus: _distinct(focus)


def _f_is_distinct() -> Inv:
    return lambda env, this, focus: _b(len(focus) == len(_distinct(focus)))


def _f_has_value() -> Inv:
    return lambda env, this, focus: [(v, None) for v in has_value([v for v, _ in focus])]


def _f_trace(*_params: Fn) -> Inv:
    # the validator's trace() returns its input unwrapped, as plain values
    return lambda env, this, focus: [(v, None) for v, _ in focus]


def _f_children() -> Inv:
    return lambda env, this, focus: _children(focus, False)


def _f_descendants() -> Inv:
    return lambda env, this, focus: _descendants(focus)


def _f_all_bool(want: bool) -> Callable[[], Inv]:
    def make() -> Inv:
        def all_bool(env: Env, this: Coll, focus: Coll) -> Coll:
            out = True
            for v, _ in focus:
                if not isinstance(v, bool):
                    raise Fallback("allTrue()/allFalse() on a non-boolean")
                out = out and v is want
            return _b(out)

        return all_bool

    return make


def _string_fn(body: Callable[[str, Env, Coll], Any]) -> Inv:
    """fhirpathpy's string functions: empty input -> empty, else exactly one string."""

    def fn(env: Env, this: Coll, focus: Coll) -> Coll:
        if not focus:
            return []
        return _arraify(body(_single_str(focus), env, this))

    return fn


def _f_starts_with(prefix: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = _arg_str(prefix, env, this)
        if p is None:
            return None
        return False if not s else s.startswith(p)

    return _string_fn(body)


def _f_ends_with(suffix: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = _arg_str(suffix, env, this)
        if p is None:
            return None
        return False if not s else s.endswith(p)

    return _string_fn(body)


def _f_contains(sub: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = _arg_str(sub, env, this)
        if p is None:
            raise Fallback("contains() with an empty argument")
        return p in s

    return _string_fn(body)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


def _f_matches(regex: Fn) -> Inv:
    def matches(env: Env, this: Coll, focus: Coll) -> Coll:
        r = _arg_str(regex, env, this)
        if not r or not focus:
            return []
        s = _single_str(focus)
        try:
            pattern = _regex(r)
        except re.error as exc:
            raise Fallback(f"regex: {exc}") from exc
        return _b(pattern.search(s) is not None)

    return matches


def _f_replace_matches(regex: Fn, repl: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        r, p = _arg_str(regex, env, this), _arg_str(repl, env, this)
        if r is None or p is None:
            return None
        try:
            return re.sub(re.compile(r), re.sub(r"\$(\d+)", r"\\\1", p), s)
        except re.error as exc:
            raise Fallback(f"regex: {exc}") from exc

    return _string_fn(body)


def _f_length() -> Inv:
    return _string_fn(lambda s, env, this: len(s))


def _f_substring(start: Fn, length: Fn | None = None) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        i = _arg_int(start, env, this)
        if i is None or i < 0 or i >= len(s):
            return None
        if length is None:
            return s[i:]
        n = _arg_int(length, env, this)
        return s[i:] if n is None else s[i : i + n]

    return _string_fn(body)


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
        if _is_num(v):
            return [(v, None)] if int(v) == v else []
        if isinstance(v, str):
            return [(int(v), None)] if fp_int_regex.match(v) else []
        if isinstance(v, float):
            raise Fallback("float value")
        return []

    return to_integer


def _f_resolve() -> Inv:
    def resolve(env: Env, this: Coll, focus: Coll) -> Coll:
        if env.resolve is None:
            return []
        out: Coll = []
        for v, _ in focus:
            ref = v.get("reference") if isinstance(v, dict) else v
            if not isinstance(ref, str):
                continue
            target = env.resolve(ref)
            if target is not None:
                out.append((target, target.get("resourceType") or ""))
        return out

    return resolve


def _f_member_of(url: Fn) -> Inv:
    def member_of(env: Env, this: Coll, focus: Coll) -> Coll:
        u = _arg_str(url, env, this)
        if u is None:
            raise Fallback("memberOf() without a value set")
        if env.member_of is None or len(focus) != 1:
            return []
        return _arraify(env.member_of(focus[0][0], u))

    return member_of


def _f_conforms_to(url: Fn) -> Inv:
    def conforms(env: Env, this: Coll, focus: Coll) -> Coll:
        u = _arg_str(url, env, this)
        if u is None:
            raise Fallback("conformsTo() without a profile")
        return [(v, None) for v in conforms_to([v for v, _ in focus], u)]

    return conforms


def _f_html_checks() -> Inv:
    return lambda env, this, focus: [(v, None) for v in html_checks([v for v, _ in focus])]


def _f_intersect(other: Fn) -> Inv:
    def intersect(env: Env, this: Coll, focus: Coll) -> Coll:
        right = other(env, this)
        out: Coll = []
        for item in focus:
            if any(item[0] == o[0] for o in right) and not any(item[0] == u[0] for u in out):
                out.append(item)
        return out

    return intersect


def _f_boundary(high: bool) -> Callable[..., Inv]:
    def make(*_precision: Fn) -> Inv:
        # the validator's lowBoundary()/highBoundary() (fhirpath.py) ignore the precision argument
        def bound(env: Env, this: Coll, focus: Coll) -> Coll:
            if any(isinstance(v, float) for v, _ in focus):
                raise Fallback("float value")
            return [(v, None) for v in boundary([v for v, _ in focus], high)]

        return bound

    return make


def _f_comparable(other: Fn) -> Inv:
    def comparable_(env: Env, this: Coll, focus: Coll) -> Coll:
        return [(v, None) for v in comparable([v for v, _ in focus], [v for v, _ in other(env, this)])]

    return comparable_


def _f_extension(url: Fn) -> Inv:
    def extension(env: Env, this: Coll, focus: Coll) -> Coll:
        u = _arg_str(url, env, this)
        out: Coll = []
        for v, _ in focus:
            if not isinstance(v, dict):
                continue
            for e in v.get("extension", []):
                if not isinstance(e, dict) or "url" not in e:
                    raise Fallback("extension without url")
                if e["url"] == u:
                    out.append((e, "Extension"))
                    break
        return out

    return extension


def _f_combine(other: Fn) -> Inv:
    return lambda env, this, focus: focus + other(env, this)


_SIMPLE: dict[str, tuple[tuple[int, ...], Callable[..., Inv]]] = {
    "exists": ((0,), _f_exists),  # exists(criteria) is a lambda function below
    "empty": ((0,), _f_empty),
    "count": ((0,), _f_count),
    "not": ((0,), _f_not),
    "first": ((0,), _f_first),
    "tail": ((0,), _f_tail),
    "distinct": ((0,), _f_distinct),
    "isDistinct": ((0,), _f_is_distinct),
    "hasValue": ((0,), _f_has_value),
    "trace": ((0, 1, 2), _f_trace),
    "children": ((0,), _f_children),
    "descendants": ((0,), _f_descendants),
    "allTrue": ((0,), _f_all_bool(True)),
    "allFalse": ((0,), _f_all_bool(False)),
    "startsWith": ((1,), _f_starts_with),
    "endsWith": ((1,), _f_ends_with),
    "contains": ((1,), _f_contains),
    "matches": ((1,), _f_matches),
    "replaceMatches": ((2,), _f_replace_matches),
    "length": ((0,), _f_length),
    "substring": ((1, 2), _f_substring),
    "toString": ((0,), _f_to_string),
    "toInteger": ((0,), _f_to_integer),
    "resolve": ((0,), _f_resolve),
    "memberOf": ((1,), _f_member_of),
    "conformsTo": ((1,), _f_conforms_to),
    "htmlChecks": ((0,), _f_html_checks),
    "intersect": ((1,), _f_intersect),
    "combine": ((1,), _f_combine),
    "lowBoundary": ((0, 1), _f_boundary(False)),
    "highBoundary": ((0, 1), _f_boundary(True)),
    "comparable": ((1,), _f_comparable),
    "extension": ((1,), _f_extension),
}


# ---- functions with lambdas (criteria evaluated per item, on [item] as $this) ---------------
def _where_truthy(r: Coll) -> bool:
    """fhirpathpy keeps an item when the criteria's first result is truthy (a node always is)."""
    if not r:
        return False
    v, p = r[0]
    return True if p is not None else bool(v)


def _l_where(crit: Fn) -> Inv:
    return lambda env, this, focus: [x for x in focus if _where_truthy(crit(env, [x]))]


def _l_exists(crit: Fn) -> Inv:
    return lambda env, this, focus: _b(any(_where_truthy(crit(env, [x])) for x in focus))


def _is_true(r: Coll) -> bool:
    return len(r) == 1 and r[0][0] == True  # noqa: E712 - fhirpathpy's is_true uses ==


def _l_all(crit: Fn) -> Inv:
    return lambda env, this, focus: _b(all(_is_true(crit(env, [x])) for x in focus))


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
    return ("node", json.dumps(value, sort_keys=True, default=str), _eff_path(value, path))


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


def _l_iif(cond: Fn, ok: Fn, otherwise: Fn | None = None) -> Inv:
    def iif(env: Env, this: Coll, focus: Coll) -> Coll:
        if _is_true(cond(env, focus)):
            return ok(env, focus)
        return otherwise(env, focus) if otherwise is not None else []

    return iif


_LAMBDA_FUNCTIONS: dict[str, tuple[int, ...]] = {
    "where": (1,),
    "exists": (1,),
    "all": (1,),
    "select": (1,),
    "repeat": (1,),
    "iif": (2, 3),
}
_LAMBDA_BUILDERS: dict[str, Callable[..., Inv]] = {
    "where": _l_where,
    "exists": _l_exists,
    "all": _l_all,
    "select": _l_select,
    "repeat": _l_repeat,
    "iif": _l_iif,
}


# ---- entry points -----------------------------------------------------------------------------
Compiled = Callable[[Env, Coll], Coll]


@cache
def compile_expression(expression: str) -> Compiled | None:
    """The closure for ``expression``, or None when it uses something outside the compiled set."""
    sink = io.StringIO()
    try:
        # the antlr parser prints syntax errors to stdout
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            tree = parse(quote_reserved(expression))
        fn = _Compiler().expr(tree["children"][0])
    except Exception:
        return None
    if sink.getvalue():
        return None
    return fn


def evaluate(
    fn: Compiled,
    data: Any,
    type_path: str,
    resource: dict | None,
    root_resource: dict | None,
    resolve: Callable[[str], dict | None] | None = None,
    member_of: Callable[[Any, str], bool | None] | None = None,
) -> Coll:
    """Run a compiled expression on one node, as the walker passes nodes to fhirpathpy."""
    context: Coll = [(data, type_path)]
    env = Env(
        context,
        [] if resource is None else [(resource, None)],
        [] if root_resource is None else [(root_resource, None)],
        resolve,
        member_of,
    )
    return run(fn, env, context)


def run(fn: Compiled, env: Env, this: Coll) -> Coll:
    """Call a compiled closure; anything it did not foresee becomes a Fallback, so an input the
    compiler mishandles costs a fhirpathpy call rather than a crash."""
    try:
        return fn(env, this)
    except Fallback:
        raise
    except Exception as exc:
        if STRICT:
            raise
        raise Fallback(f"compiled closure raised {type(exc).__name__}: {exc}") from exc


def plain(coll: Coll) -> list[Any]:
    """The values of a result, as fhirpathpy returns them (it drops bare primitive extensions)."""
    return [v for v, _ in coll if not (isinstance(v, dict) and list(v) == ["extension"])]
