"""Native evaluation of the simplest invariant shapes (existence logic over direct children).

Most core invariants are boolean combinations of ``x.exists()`` / ``x.empty()`` on direct
children (qty-3 ``code.empty() or system.exists()``, ref-2, exp-1, ident-1 ...), or are guarded by
such an atom (cod-1 ``code.exists().not() implies ...``, cnl-0 ``name.exists() implies ...``).
``compile_shortcut`` turns an expression into a function of the node's JSON that returns True/False
when existence alone decides the result and None when FHIRPath must run. The walker's
differential mode checks every decided answer against fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

_ATOM = re.compile(r"([a-z][A-Za-z0-9]*)\.(exists|empty|hasValue)\(\)(\.not\(\))?")

Shortcut = Callable[[Any, Any], bool | None]


def present(data: Any, name: str, table: Any) -> bool:
    """FHIRPath ``name.exists()`` on a JSON object.

    ``table`` maps the node's JSON property names to (element definition, type) pairs (the
    validator's ``TypeModel.children``; an element has ``name`` and ``choice``). It tells a
    choice element (``value`` -> ``valueString``) from an unrelated property that merely starts
    with the same letters (``code`` vs ``codeFilter``).
    """
    if not isinstance(data, dict):
        return False
    v = data.get(name)
    if v is not None and v != []:
        return True
    if data.get("_" + name) is not None:
        return True
    for k, value in data.items():
        entry = table.get(k.lstrip("_")) if table else None
        if entry is not None and entry[0].choice and entry[0].name == name and value is not None:
            return True
    return False


def _atom(name: str, fn: str, negated: bool) -> Shortcut:
    if fn == "hasValue":
        # hasValue() is true only for a primitive with a value: decidable when absent
        def has_value(data: Any, table: Any) -> bool | None:
            if present(data, name, table):
                return None
            return negated

        return has_value
    want = fn == "exists"

    def atom(data: Any, table: Any) -> bool:
        return (present(data, name, table) == want) != negated

    return atom


def _parse_atom(text: str) -> Shortcut | None:
    m = _ATOM.fullmatch(text.strip())
    if not m:
        return None
    return _atom(m[1], m[2], bool(m[3]))


_GUARD_NAME = re.compile(r"([a-z][A-Za-z0-9]*)\.exists\(\)")
# ref-1: reference.exists() implies (reference.startsWith('#').not() or ...)
_NOT_STARTS_WITH = re.compile(r"\(([a-z][A-Za-z0-9]*)\.startsWith\('([^'\\]*)'\)\.not\(\)\s+or\s+.*\)", re.S)
# cnl-0: name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){1,254}$')
_MATCHES = re.compile(r"([a-z][A-Za-z0-9]*)\.matches\('([^'\\]*)'\)")


def _string_test(guard: str, rest: str) -> Shortcut | None:
    """After ``name.exists() implies``: a test of the string ``name`` that its plain JSON string
    decides (other forms, such as a list or a value held only in ``_name``, are left to FHIRPath).

    ``(name.startsWith('x').not() or ...)`` is true for a string not starting with ``x`` (the
    rest is not read); ``name.matches('re')`` is ``re`` searched in the string, as the compiled
    ``matches()`` does (``compiler/strings.py``).
    """
    g = _GUARD_NAME.fullmatch(guard.strip())
    if g is None:
        return None
    name = g[1]
    m = _NOT_STARTS_WITH.fullmatch(rest.strip())
    if m is not None and m[1] == name:
        prefix = m[2]

        def not_starts_with(data: Any, _table: Any) -> bool | None:
            v = data.get(name) if isinstance(data, dict) else None
            return True if isinstance(v, str) and not v.startswith(prefix) else None

        return not_starts_with
    m = _MATCHES.fullmatch(rest.strip())
    if m is not None and m[1] == name and m[2]:
        try:
            pattern = re.compile(m[2], re.DOTALL)
        except re.error:
            return None

        def matches(data: Any, _table: Any) -> bool | None:
            v = data.get(name) if isinstance(data, dict) else None
            return pattern.search(v) is not None if isinstance(v, str) else None

        return matches
    return None


@cache
def compile_shortcut(expression: str) -> Shortcut | None:
    expr = expression.strip()
    # A or B or C ... (every operand an atom)
    atoms = [_parse_atom(p) for p in re.split(r"\s+or\s+", expr)]
    if all(a is not None for a in atoms):

        def disjunction(data: Any, table: Any) -> bool | None:
            undecided = False
            for a in atoms:
                r = a(data, table)  # type: ignore[misc]
                if r is True:
                    return True
                if r is None:
                    undecided = True
            return None if undecided else False

        return disjunction
    # GUARD implies REST: true when GUARD is false
    m = re.match(r"^(.+?)\s+implies\s+(.+)$", expr, re.S)
    if m:
        guard = _parse_atom(m[1])
        rest = _parse_atom(m[2]) or _string_test(m[1], m[2])
        if guard is not None:

            def implication(data: Any, table: Any) -> bool | None:
                g = guard(data, table)
                if g is False:
                    return True
                if g is True and rest is not None:
                    return rest(data, table)
                return None

            return implication
    # GUARD or REST, where only the first operand is an atom: true when it is true
    m = re.match(r"^([a-z][A-Za-z0-9]*\.(?:exists|empty)\(\)(?:\.not\(\))?)\s+or\s+", expr)
    if m:
        first = _parse_atom(m[1])
        if first is not None:

            def leading_or(data: Any, table: Any) -> bool | None:
                return True if first(data, table) is True else None

            return leading_or
    return None
