"""The compiler proper: one walk over fhirpathpy's parse tree per expression, returning a closure.

Each parse-tree node type has a builder in ``_Compiler._BUILDERS``; binary operators come from
operators.OPERATORS, type operators and type-specifier functions from types.py, and functions
from the tables of the chapter modules (``FUNCTIONS``: parameters evaluated on ``$this``;
``LAMBDAS``: parameters evaluated per input item). Anything without an entry raises
``Unsupported``, and the expression is left to fhirpathpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from evidence_publisher.constants import UCUM
from evidence_publisher.fhirpath import adapter
from evidence_publisher.fhirpath.compiler import (
    conversion,
    existence,
    fhir,
    filtering,
    operators,
    paths,
    strings,
    types,
)
from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    Unsupported,
    is_number,
)

Tree = dict[str, Any]


def _merge(*tables: Functions) -> Functions:
    merged: Functions = {}
    for table in tables:
        if merged.keys() & table.keys():
            raise RuntimeError(f"two chapters define {sorted(merged.keys() & table.keys())}")
        merged.update(table)
    return merged


_FUNCTIONS = _merge(
    existence.FUNCTIONS,
    filtering.FUNCTIONS,
    conversion.FUNCTIONS,
    strings.FUNCTIONS,
    paths.FUNCTIONS,
    operators.FUNCTIONS,
    fhir.FUNCTIONS,
)
_LAMBDAS = _merge(existence.LAMBDAS, filtering.LAMBDAS, conversion.LAMBDAS)
_UCUM: Coll = [(UCUM, None)]
_CONSTANTS: dict[str, Fn] = {
    "context": lambda env, this: env.context,
    "resource": lambda env, this: env.resource,
    "rootResource": lambda env, this: env.root_resource,
    "ucum": lambda env, this: _UCUM,
}


def _literal(node: Tree) -> Coll:
    read = adapter.literal_reader(node["type"])
    if read is None:
        raise Unsupported(node["type"])
    return [(v, None) for v in read(node)]


def _fn_parts(inv: Tree) -> tuple[str, list[Tree]]:
    functn = inv["children"][0]
    name = adapter.name(functn["children"][0])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    return name, params


class _Compiler:
    def __init__(self) -> None:
        self.lambda_depth = 0

    # expressions are "independent" when they read no $this (only literals and %variables);
    # inside a lambda such an expression is evaluated once per call and remembered (sdf-24/25
    # compare each element with a list built from %context, which would otherwise be rebuilt
    # for every element)
    def independent(self, node: Tree) -> bool:
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
            name, params = _fn_parts(inv)
            if name in _LAMBDAS or name in types.TYPE_FUNCTIONS:
                return True
            return all(self.independent(p) for p in params)
        if t == "TypeExpression":
            return self.independent(ch[0])
        return bool(ch) and all(self.independent(c) for c in ch)

    def expr(self, node: Tree) -> Fn:
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

    def lam(self, node: Tree) -> Fn:
        self.lambda_depth += 1
        try:
            return self.expr(node)
        finally:
            self.lambda_depth -= 1

    def _expr(self, node: Tree) -> Fn:
        build = self._BUILDERS.get(node["type"])
        if build is not None:
            return build(self, node)
        return self._binary(node)

    # ---- builders, one per parse-tree node type -------------------------------------------------
    def _inner(self, node: Tree) -> Fn:
        return self.expr(node["children"][0])

    def _invocation_term(self, node: Tree) -> Fn:
        inv = self.invocation(node["children"][0], term=True)
        return lambda env, this: inv(env, this, this)

    def _literal_term(self, node: Tree) -> Fn:
        value = _literal(node["children"][0])
        return lambda env, this: value

    def _external_constant(self, node: Tree) -> Fn:
        name = adapter.name(node["children"][0]["children"][0])
        fn = _CONSTANTS.get(name)
        if fn is None:
            raise Unsupported(f"%{name}")
        return fn

    def _invocation_expression(self, node: Tree) -> Fn:
        left = self.expr(node["children"][0])
        inv = self.invocation(node["children"][1], term=False)
        return lambda env, this: inv(env, this, left(env, this))

    def _indexer(self, node: Tree) -> Fn:
        return paths.indexer(self.expr(node["children"][0]), self.expr(node["children"][1]))

    def _polarity(self, node: Tree) -> Fn:
        inner = self.expr(node["children"][0])
        negate = node["terminalNodeText"][0] == "-"

        def polarity(env: Env, this: Coll) -> Coll:
            r = inner(env, this)
            if len(r) != 1 or r[0][1] is not None or not is_number(r[0][0]):
                raise Fallback("polarity of something other than one number")
            return [(-r[0][0], r[0][1])] if negate else r

        return polarity

    def _type_expression(self, node: Tree) -> Fn:
        op = node["terminalNodeText"][0]
        build = types.TYPE_OPERATORS.get(op)
        if build is None:
            raise Unsupported(f"type operator {op}")
        return build(self.expr(node["children"][0]), adapter.type_name(node["children"][1]))

    def _binary(self, node: Tree) -> Fn:
        t = node["type"]
        ch = node.get("children") or []
        op = (node.get("terminalNodeText") or [""])[0]
        if len(ch) != 2:
            raise Unsupported(t)
        build = operators.OPERATORS.get((t, op))
        if build is None:
            raise Unsupported(f"{t} {op}".strip())
        return build(self.expr(ch[0]), self.expr(ch[1]))

    _BUILDERS: ClassVar[dict[str, Callable[[_Compiler, Tree], Fn]]] = {
        "TermExpression": _inner,
        "ParenthesizedTerm": _inner,
        "InvocationTerm": _invocation_term,
        "LiteralTerm": _literal_term,
        "ExternalConstantTerm": _external_constant,
        "InvocationExpression": _invocation_expression,
        "IndexerExpression": _indexer,
        "PolarityExpression": _polarity,
        "TypeExpression": _type_expression,
    }

    # ---- invocations ------------------------------------------------------------------------------
    def invocation(self, node: Tree, term: bool) -> Inv:
        t = node["type"]
        if t == "MemberInvocation":
            key = adapter.name(node["children"][0])
            if term and key[:1].isupper():
                return paths.type_filter_or_member(key)
            return paths.member_invocation(key)
        if t == "ThisInvocation":
            return lambda env, this, focus: this
        if t == "FunctionInvocation":
            return self.function(node)
        raise Unsupported(t)

    def function(self, node: Tree) -> Inv:
        name, params = _fn_parts(node)
        n = len(params)
        lam = _LAMBDAS.get(name)
        if lam is not None and n in lam[0]:
            return lam[1](*[self.lam(p) for p in params])
        simple = _FUNCTIONS.get(name)
        if simple is not None:
            arity, make = simple
            if n not in arity:
                raise Unsupported(f"{name}() with {n} parameters")
            return make(*[self.expr(p) for p in params])
        typed = types.TYPE_FUNCTIONS.get(name)
        if typed is not None:
            if n != 1:
                raise Unsupported(f"{name}() arity")
            return typed(adapter.type_name(params[0]))
        raise Unsupported(f"function {name}() with {n} parameters")


def compile_tree(tree: Tree) -> Fn:
    """The closure for a parse tree from adapter.parse; raises Unsupported outside the compiled set."""
    return _Compiler().expr(tree["children"][0])
