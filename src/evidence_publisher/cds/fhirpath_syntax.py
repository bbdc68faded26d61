"""Strict FHIRPath syntax check.

fhirpathpy's parser installs a silent ANTLR error listener, so ``entry.where((`` "compiles" and
then quietly returns ``[]`` — a broken published condition would simply never fire. This check
runs the same generated grammar with a listener that raises, and requires that all input was
consumed.
"""

from __future__ import annotations

from typing import Any

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser


class _Raise(ErrorListener):
    def syntaxError(
        self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise ValueError(f"column {column + 1}: {msg}")


def syntax_error(expression: str) -> str | None:
    """Return a message when ``expression`` is not valid FHIRPath, else None."""
    listener = _Raise()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    try:
        parser.expression()
        if tokens.LA(1) != Token.EOF:
            return f"unexpected {tokens.LT(1).text!r} at column {tokens.LT(1).column + 1}"
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # the ANTLR runtime raises its own exception types
        return f"{type(exc).__name__}: {exc}"
    return None
