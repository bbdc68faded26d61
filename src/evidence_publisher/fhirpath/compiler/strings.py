"""Specification §5.6 (string manipulation): ``startsWith()``, ``endsWith()``, ``contains()``,
``matches()``, ``replaceMatches()``, ``length()``, ``substring()``."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    arg_integer,
    arg_string,
    boolean,
    plain_values,
    single_string,
)


def _string_fn(body: Callable[[str, Env, Coll], Any]) -> Inv:
    """fhirpathpy's string functions: empty input -> empty, else exactly one string."""

    def fn(env: Env, this: Coll, focus: Coll) -> Coll:
        if not focus:
            return []
        return plain_values(body(single_string(focus), env, this))

    return fn


def _f_starts_with(prefix: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = arg_string(prefix, env, this)
        if p is None:
            return None
        return False if not s else s.startswith(p)

    return _string_fn(body)


def _f_ends_with(suffix: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = arg_string(suffix, env, this)
        if p is None:
            return None
        return False if not s else s.endswith(p)

    return _string_fn(body)


def _f_contains(sub: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        p = arg_string(sub, env, this)
        if p is None:
            raise Fallback("contains() with an empty argument")
        return p in s

    return _string_fn(body)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


def _f_matches(regex: Fn) -> Inv:
    def matches(env: Env, this: Coll, focus: Coll) -> Coll:
        r = arg_string(regex, env, this)
        if not r or not focus:
            return []
        s = single_string(focus)
        try:
            pattern = _regex(r)
        except re.error as exc:
            raise Fallback(f"regex: {exc}") from exc
        return boolean(pattern.search(s) is not None)

    return matches


def _f_replace_matches(regex: Fn, repl: Fn) -> Inv:
    def body(s: str, env: Env, this: Coll) -> Any:
        r, p = arg_string(regex, env, this), arg_string(repl, env, this)
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
        i = arg_integer(start, env, this)
        if i is None or i < 0 or i >= len(s):
            return None
        if length is None:
            return s[i:]
        n = arg_integer(length, env, this)
        return s[i:] if n is None else s[i : i + n]

    return _string_fn(body)


FUNCTIONS: Functions = {
    "startsWith": ((1,), _f_starts_with),
    "endsWith": ((1,), _f_ends_with),
    "contains": ((1,), _f_contains),
    "matches": ((1,), _f_matches),
    "replaceMatches": ((2,), _f_replace_matches),
    "length": ((0,), _f_length),
    "substring": ((1, 2), _f_substring),
}
