"""The one module that imports fhirpathpy and the ANTLR runtime.

fhirpathpy documents ``evaluate``, ``compile``, ``apply_parsed_path`` and ``models``. This package
also needs what it keeps in undocumented modules: its generated grammar and parse-tree listener
(to parse with an error listener that raises), its readers of identifiers, literals and type
specifiers and its ordering of date and Quantity values (so the compiled engine reads and
compares exactly as fhirpathpy does), and its value classes. They are imported here and nowhere
else, so an upgrade of fhirpathpy (pinned below 3 in pyproject.toml) is checked in one place;
tests/fhirpath/test_fhirpath_package.py enforces that.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy.engine import type_specifier
from fhirpathpy.engine.evaluators import (
    boolean_literal,
    identifier,
    null_literal,
    number_literal,
    string_literal,
)
from fhirpathpy.engine.invocations import equality
from fhirpathpy.engine.invocations.misc import intRegex
from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, FP_Type, ResourceNode, TypeInfo
from fhirpathpy.engine.util import arraify
from fhirpathpy.models import models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from evidence_publisher.fhirpath.errors import FhirPathEvaluationError, FhirPathSyntaxError

__all__ = [
    "CHOICE_TYPES",
    "INTEGER_TEXT",
    "MODEL",
    "PATHS_DEFINED_ELSEWHERE",
    "PATH_TO_TYPE",
    "TYPE_PARENT",
    "FP_DateTime",
    "FP_Quantity",
    "FP_Type",
    "Tree",
    "compare",
    "evaluate",
    "literal_reader",
    "name",
    "parse",
    "resource_node",
    "type_name",
    "unwrap",
]

Tree = dict[str, Any]  # fhirpathpy's parse tree: {"type", "text", "terminalNodeText", "children"}

MODEL: dict[str, Any] = models["r5"]
CHOICE_TYPES: dict[str, list[str]] = MODEL["choiceTypePaths"]
PATH_TO_TYPE: dict[str, str] = MODEL["path2Type"]
PATHS_DEFINED_ELSEWHERE: dict[str, str] = MODEL["pathsDefinedElsewhere"]
TYPE_PARENT: dict[str, str] = MODEL["type2Parent"]
INTEGER_TEXT: re.Pattern[str] = intRegex  # what fhirpathpy's toInteger() accepts in a string


# ---- parsing -------------------------------------------------------------------------------------
class _Problem(Exception):
    pass


class _RaiseOnError(ErrorListener):  # type: ignore[misc]  # antlr4 ships no type information
    """fhirpathpy's own parse installs a silent listener: ``entry.where((`` would "parse" and then
    quietly answer ``[]``, and the ANTLR runtime prints some errors to stdout. This one raises at
    the first error instead, so nothing is recovered and nothing is printed."""

    def syntaxError(
        self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise _Problem(f"column {column + 1}: {msg}")


def parse(expression: str) -> Tree:
    """fhirpathpy's parse tree of ``expression``; raises FhirPathSyntaxError unless all of it is
    valid FHIRPath."""
    listener = _RaiseOnError()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    try:
        tree = parser.expression()
        if tokens.LA(1) != Token.EOF:
            extra = tokens.LT(1)
            raise _Problem(f"unexpected {extra.text!r} at column {extra.column + 1}")
        ast = ASTPathListener()
        ParseTreeWalker().walk(ast, tree)
    except _Problem as exc:
        raise FhirPathSyntaxError(expression, str(exc)) from None
    except RecursionError:
        raise FhirPathSyntaxError(expression, "nested too deeply") from None
    return ast.parentStack[0]


# ---- what the compiled engine reads as fhirpathpy does ---------------------------------------------
def name(node: Tree) -> str:
    """An identifier, unquoted as fhirpathpy reads it."""
    return identifier(None, None, node)[0].replace("`", "")


_LITERALS: dict[str, Callable[[Any, Any, Tree], list[Any]]] = {
    "NullLiteral": null_literal,
    "BooleanLiteral": boolean_literal,
    "StringLiteral": string_literal,
    "NumberLiteral": number_literal,
}


def literal_reader(kind: str) -> Callable[[Tree], list[Any]] | None:
    """fhirpathpy's reader of one literal kind (unescaped strings, integer-or-decimal numbers),
    or None for the kinds the compiled engine leaves to fhirpathpy (dates, times, quantities)."""
    read = _LITERALS.get(kind)
    if read is None:
        return None
    return lambda node: read(None, None, node)


def type_name(node: Tree) -> tuple[str | None, str]:
    """(namespace, name) of a type specifier such as ``FHIR.Quantity``, as fhirpathpy reads it."""
    info = type_specifier(None, None, node)
    return info.namespace, info.name


_ORDER: dict[str, Callable[[Any, list[Any], list[Any]], Any]] = {
    "<": equality.lt,
    "<=": equality.lte,
    ">": equality.gt,
    ">=": equality.gte,
}


def compare(op: str, left: Any, right: Any) -> list[Any]:
    """fhirpathpy's ``<``, ``<=``, ``>``, ``>=`` on two single values (dates and Quantities by
    precision); raises what fhirpathpy raises."""
    return arraify(_ORDER[op](None, [left], [right]))


def resource_node(data: Any, path: str | None, ext: Any = None) -> Any:
    """fhirpathpy's typed node: ``data`` with its model path and its primitive extension object."""
    return ResourceNode.create_node(data, path, ext)


def unwrap(value: Any) -> Any:
    """The JSON inside a typed node (fhirpathpy passes function arguments as nodes)."""
    return value.data if isinstance(value, ResourceNode) else value


# ---- the reference engine -------------------------------------------------------------------------
# fhirpathpy's messages show its nodes as "<fhirpathpy.engine.nodes.ResourceNode object at 0x7f..>":
# keep the class name, drop the address, so that reports do not change from run to run
_OBJECT_REPR = re.compile(r"<(?:\w+\.)*(\w+) object at 0x[0-9a-fA-F]+>")


class _R5Types:
    """fhirpathpy reads the type hierarchy from the class attribute ``TypeInfo.model``, which it sets
    only when an ``is``/``as`` runs; until then ``ofType(Resource)`` matches type names exactly. So
    that its answers never depend on what ran before, every evaluation runs inside this scope: the
    first one in sets the R5 model, the last one out puts back what was there (nothing is changed
    at import). The count makes it safe for the CDS service's worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = TypeInfo.model
                TypeInfo.model = MODEL  # type: ignore[assignment]  # fhirpathpy declares it as None
            self._users += 1

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                TypeInfo.model, self._saved = self._saved, None


_R5_TYPES = _R5Types()


def evaluate(
    tree: Tree,
    data: Any,
    type_path: str | None,
    variables: dict[str, Any],
    functions: dict[str, dict[str, Any]],
    ext: Any = None,
) -> list[Any]:
    """fhirpathpy on ``data`` (a typed node when ``type_path`` is given, else the plain JSON), with
    the R5 model, ``%``-variables and extra functions; what fhirpathpy raises becomes
    FhirPathEvaluationError with fhirpathpy's message."""
    root = data if type_path is None else resource_node(data, type_path, ext)
    try:
        with _R5_TYPES:
            return fhirpathpy.apply_parsed_path(
                root, tree, variables, MODEL, {"userInvocationTable": functions}
            )
    except Exception as exc:  # fhirpathpy raises bare Exceptions, KeyErrors, TypeErrors ...
        raise FhirPathEvaluationError(_OBJECT_REPR.sub(r"<\1>", str(exc))) from exc
