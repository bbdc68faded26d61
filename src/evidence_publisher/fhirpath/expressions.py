"""One FHIRPath expression: parsed once, answered by the compiled engine where it can and by
fhirpathpy (the reference engine) where it cannot.

``expression(text)`` reads FHIRPath as written (the CDS service's conditions). ``invariant(text)``
first repairs two slips in the R5 core's invariants (``quote_reserved``). Both remember their
result, a parse failure included: the validator meets the same invariant at every element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evidence_publisher.fhirpath import adapter, fallbacks
from evidence_publisher.fhirpath.compiler import Env, Fallback, Fn, Unsupported, compile_tree, plain
from evidence_publisher.fhirpath.errors import FhirPathSyntaxError
from evidence_publisher.fhirpath.functions import for_fhirpathpy
from evidence_publisher.fhirpath.hooks import NO_HOOKS, Hooks


@dataclass(frozen=True, eq=False)
class Expression:
    text: str  # as parsed (after the repairs, for an invariant)
    tree: adapter.Tree  # the parse tree both engines read
    compiled: Fn | None  # None: every evaluation goes to fhirpathpy, for the reason in handover
    handover: tuple[str, str] | None = None  # (fallbacks kind, reason) when compiled is None

    def evaluate(
        self,
        data: Any,
        type_path: str | None = None,
        *,
        resource: Any = None,
        root_resource: Any = None,
        hooks: Hooks = NO_HOOKS,
        ext: Any = None,
    ) -> list[Any]:
        """The result on ``data`` (the context node: with its model path ``type_path``, or a plain
        resource when None) with %resource and %rootResource bound, compiled where possible."""
        result = self.compiled_result(
            data, type_path, resource=resource, root_resource=root_resource, hooks=hooks
        )
        if result is None:
            return self.reference_result(
                data, type_path, resource=resource, root_resource=root_resource, hooks=hooks, ext=ext
            )
        return result

    def compiled_result(
        self,
        data: Any,
        type_path: str | None = None,
        *,
        resource: Any = None,
        root_resource: Any = None,
        hooks: Hooks = NO_HOOKS,
    ) -> list[Any] | None:
        """The compiled engine's result, or None when it hands over (counted in fallbacks)."""
        fn = self.compiled
        if fn is None:
            kind, reason = self.handover or ("unsupported", "")
            if kind == "error" and fallbacks.is_strict():
                raise RuntimeError(f"the FHIRPath compiler failed on {self.text!r}: {reason}")
            fallbacks.record(kind, self.text, reason)
            return None
        context = [(data, type_path)]
        env = Env(
            context,
            [] if resource is None else [(resource, None)],
            [] if root_resource is None else [(root_resource, None)],
            hooks.resolve,
            hooks.member_of,
        )
        try:
            return plain(fn(env, context))
        except Fallback as exc:
            fallbacks.record("fallback", self.text, str(exc))
        except Exception as exc:  # a case the compiler did not foresee: fhirpathpy decides
            if fallbacks.is_strict():
                raise
            fallbacks.record("error", self.text, f"{type(exc).__name__}: {exc}")
        return None

    def reference_result(
        self,
        data: Any,
        type_path: str | None = None,
        *,
        resource: Any = None,
        root_resource: Any = None,
        hooks: Hooks = NO_HOOKS,
        ext: Any = None,
    ) -> list[Any]:
        """fhirpathpy's result (``ext``: the context primitive's extension object); raises
        FhirPathEvaluationError where fhirpathpy raises."""
        variables: dict[str, Any] = {}
        if resource is not None:
            variables["resource"] = resource
        if root_resource is not None:
            variables["rootResource"] = root_resource
        return adapter.evaluate(self.tree, data, type_path, variables, for_fhirpathpy(hooks), ext)


def quote_reserved(expression: str) -> str:
    """Back-quote reserved words used as path segments (``text.div`` -> ``text.`div```) and turn
    double-quoted strings into single-quoted ones (eld-11 in R5 core uses them)."""
    expression = re.sub(r"(?<=\.)(div)\b(?!\s*\()", r"`\1`", expression)
    return re.sub(r'"([^"\'\\]*)"', r"'\1'", expression)


def _build(text: str) -> Expression | FhirPathSyntaxError:
    try:
        tree = adapter.parse(text)
    except FhirPathSyntaxError as exc:
        return exc
    try:
        return Expression(text, tree, compile_tree(tree))
    except Unsupported as exc:
        return Expression(text, tree, None, ("unsupported", str(exc)))
    except Exception as exc:  # a compiler bug: fhirpathpy answers (in strict mode, raise it)
        if fallbacks.is_strict():
            raise
        return Expression(text, tree, None, ("error", f"{type(exc).__name__}: {exc}"))


_EXPRESSIONS: dict[str, Expression | FhirPathSyntaxError] = {}
_INVARIANTS: dict[str, Expression | FhirPathSyntaxError] = {}


def expression(text: str) -> Expression:
    """``text`` parsed as FHIRPath; raises FhirPathSyntaxError unless all of it is valid."""
    hit = _EXPRESSIONS.get(text)
    if hit is None:
        hit = _EXPRESSIONS[text] = _build(text)
    if isinstance(hit, Expression):
        return hit
    raise FhirPathSyntaxError(hit.expression, hit.detail)  # a fresh one: no growing traceback


def invariant(text: str) -> Expression:
    """A StructureDefinition constraint's expression, repaired by ``quote_reserved`` and parsed
    (the walker calls this once per evaluation: keep it a dictionary lookup)."""
    hit = _INVARIANTS.get(text)
    if hit is None:
        hit = _INVARIANTS[text] = _build(quote_reserved(text))
    if isinstance(hit, Expression):
        return hit
    raise FhirPathSyntaxError(hit.expression, hit.detail)
