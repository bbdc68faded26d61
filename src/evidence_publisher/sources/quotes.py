"""Fidelity checks: quotes occur in their sources, numbers occur in their quotes, derivations add up."""

from __future__ import annotations

import ast
import functools
import operator
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

_WS = re.compile(r"\s+")
# A number as written: an optional sign (only where a minus can stand: after a space, a bracket or
# "=", never inside "12-15" or "+/-3"), digits with optional thousands commas (exactly three digits
# per group), an optional decimal part, and an optional power of ten ("x 10^6", "×10⁶", "e-3").
_NUMBER = re.compile(
    r"(?<![\w.])"
    r"(?:(?<![^\s(\[=:;,<>])(?P<sign>[-\u2212]))?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?P<frac>\.\d+)?"
    r"(?:\s?[x×*·]\s?10(?:\^|\*\*)\s?(?P<exp>[-+\u2212]?\d+)"
    r"|\s?[x×*·]\s?10(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"
    r"|[eE](?P<e>[-+]?\d+)(?!\w))?"
)
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
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


@functools.lru_cache(maxsize=32)
def _normalised(text: str, ignore_case: bool) -> str:
    """Source documents are normalised once, not once per quote."""
    out = normalise(text)
    return out.casefold() if ignore_case else out


def quote_occurs(quote: str, source_text: str, *, ignore_case: bool = False) -> bool:
    q = normalise(quote)
    if ignore_case:
        q = q.casefold()
    return q in _normalised(source_text, ignore_case)


@functools.lru_cache(maxsize=256)
def numbers_in(text: str) -> dict[tuple, str]:
    """Every number written in ``text``, keyed by its decimal text, with the text as written.

    The result is cached (a quote is checked for several numbers): do not modify it.
    The key is ``Decimal.as_tuple()``: sign, digits and exponent, so 3.2 and 3.20 are different
    numbers and 858.0 is not 858. Thousands commas are dropped ('2,538' is 2538). A number with a
    power of ten ('3.0 × 10^6') gives two: the mantissa as written (3.0, for a value whose unit
    carries the power) and the whole (3.0E+6). Small numbers written as words ('eight') count.
    """
    found: dict[tuple, str] = {}
    for m in _NUMBER.finditer(text):
        mantissa = Decimal(("-" if m["sign"] else "") + m["int"].replace(",", "") + (m["frac"] or ""))
        found.setdefault(mantissa.as_tuple(), text[m.start() : m.end("frac") if m["frac"] else m.end("int")])
        power = m["exp"] or (m["sup"] and m["sup"].translate(_SUPERSCRIPT)) or m["e"]
        if power:
            scaled = mantissa.scaleb(int(power.replace("\u2212", "-")))
            found.setdefault(scaled.as_tuple(), m.group())
    for m in _WORD_RE.finditer(text):
        found.setdefault(Decimal(_WORDS[m.group(1).lower()]).as_tuple(), m.group(1))
    return found


def number_occurs(value: Decimal | int, text: str) -> bool:
    """True when ``value`` is written in ``text`` with the same digits ('858.0' matches 858.0 only)."""
    return Decimal(value).as_tuple() in numbers_in(text)


def written_differently(value: Decimal | int, text: str) -> str | None:
    """How ``text`` writes a number equal to ``value`` but with other digits ('3.2' for 3.20)."""
    for key, written in numbers_in(text).items():
        if Decimal(key) == Decimal(value):
            return written
    return None


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


# ---------------------------------------------------------------------------------------------
# Where a quote and its numbers stand in the source document (for the build report's provenance)
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _indexed(text: str, fold: bool) -> tuple[str, tuple[int, ...]]:
    """``text`` normalised like ``normalise`` (and case-folded when ``fold``), with the index in
    ``text`` of every character of the result."""
    chars: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _WS.finditer(text):
        for i in range(pos, m.start()):
            piece = text[i].casefold() if fold else text[i]
            chars.append(piece)
            index.extend([i] * len(piece))
        chars.append(" ")
        index.append(m.start())
        pos = m.end()
    for i in range(pos, len(text)):
        piece = text[i].casefold() if fold else text[i]
        chars.append(piece)
        index.extend([i] * len(piece))
    return "".join(chars), tuple(index)


def locate(
    quote: str, text: str, *, ignore_case: bool = False, start: int = 0, end: int | None = None
) -> tuple[int, int] | None:
    """Where ``quote`` first occurs in ``text[start:end]``, matched as ``quote_occurs`` matches
    (whitespace-insensitive): ``(first, last + 1)`` as indexes into ``text``, or None."""
    wanted = normalise(quote)
    if ignore_case:
        wanted = wanted.casefold()
    if not wanted:
        return None
    norm, index = _indexed(text, ignore_case)
    end = len(text) if end is None else end
    i = norm.find(wanted)
    while i >= 0:
        first, last = index[i], index[i + len(wanted) - 1]
        if first >= start and last < end:
            return first, last + 1
        if first >= end:
            return None
        i = norm.find(wanted, i + 1)
    return None


def number_spans(
    value: Decimal | int, text: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """Every place in ``text[start:end]`` where ``value`` is written with the same decimal text (the
    rule of ``number_occurs``), as ``(first, last + 1)`` indexes into ``text``. A quote can write
    the same number more than once; which one was meant is not known, so all are given."""
    key = Decimal(value).as_tuple()
    end = len(text) if end is None else end
    piece = text[start:end]
    spans: list[tuple[int, int]] = []
    for m in _NUMBER.finditer(piece):
        mantissa = Decimal(("-" if m["sign"] else "") + m["int"].replace(",", "") + (m["frac"] or ""))
        power = m["exp"] or (m["sup"] and m["sup"].translate(_SUPERSCRIPT)) or m["e"]
        if mantissa.as_tuple() == key:
            spans.append((start + m.start(), start + (m.end("frac") if m["frac"] else m.end("int"))))
        elif power and mantissa.scaleb(int(power.replace("\u2212", "-"))).as_tuple() == key:
            spans.append((start + m.start(), start + m.end()))
    for m in _WORD_RE.finditer(piece):
        if Decimal(_WORDS[m.group(1).lower()]).as_tuple() == key:
            spans.append((start + m.start(1), start + m.end(1)))
    return sorted(spans)
