"""Fidelity checks: quotes occur in their sources, numbers occur in their quotes, derivations add up."""

from __future__ import annotations

import ast
import operator
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_WORDS = {
    "zero": 0,
    "no": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
}
_WORD_RE = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.IGNORECASE)


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space (quotes match whitespace-insensitively)."""
    return _WS.sub(" ", text).strip()


def quote_occurs(quote: str, source_text: str, *, ignore_case: bool = False) -> bool:
    q, s = normalise(quote), normalise(source_text)
    if ignore_case:
        q, s = q.casefold(), s.casefold()
    return q in s


def numbers_in(text: str) -> set[Decimal]:
    """Every number written in ``text``, digits ('2,538', '17.2') and words ('eight')."""
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        digits = match.group(1).replace(",", "") + (match.group(2) or "")
        found.add(Decimal(digits))
    for match in _WORD_RE.finditer(text):
        found.add(Decimal(_WORDS[match.group(1).lower()]))
    return found


def number_occurs(value: Decimal | int, text: str) -> bool:
    """True when ``value`` is written in ``text`` (numerically: '2505.0' matches 2505.0)."""
    return Decimal(value) in numbers_in(text)


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


class FormulaError(ValueError):
    pass


def evaluate_formula(formula: str, values: dict[str, Decimal]) -> Decimal:
    """Evaluate ``+ - * /`` arithmetic over named Decimal values (no other syntax is accepted)."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {formula!r} is not valid arithmetic: {exc.msg}") from exc

    def ev(node: ast.AST) -> Decimal:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            try:
                return _OPS[type(node.op)](ev(node.left), ev(node.right))
            except (ZeroDivisionError, InvalidOperation) as exc:
                raise FormulaError(f"formula {formula!r} divides by zero") from exc
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise FormulaError(f"formula {formula!r} uses {node.id!r}, which is not an input")
            return values[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Decimal(str(node.value))
        raise FormulaError(f"formula {formula!r} may only use + - * / over its inputs and numbers")

    return ev(tree)


def agrees_at_precision(computed: Decimal, stated: Decimal | int) -> bool:
    """``computed`` rounds to ``stated`` at the precision ``stated`` is written with."""
    stated_d = Decimal(stated)
    exponent = stated_d.as_tuple().exponent
    quantum = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    return computed.quantize(quantum, rounding=ROUND_HALF_EVEN) == stated_d.quantize(quantum)
