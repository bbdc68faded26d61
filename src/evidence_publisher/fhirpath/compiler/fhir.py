"""FHIR's additions to FHIRPath (the FHIR specification's "FHIRPath in FHIR" functions):
``extension()``, ``hasValue()``, ``resolve()``, ``memberOf()``, ``conformsTo()``,
``htmlChecks()``, ``lowBoundary()``, ``highBoundary()``, ``comparable()``; the same semantics
as the fhirpathpy user functions in functions.py."""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.fhirpath.boundaries import boundary, comparable
from evidence_publisher.fhirpath.compiler.core import (
    Coll,
    Env,
    Fallback,
    Fn,
    Functions,
    Inv,
    arg_string,
    as_plain,
    plain_values,
    values,
)
from evidence_publisher.fhirpath.functions import conforms_to, has_value
from evidence_publisher.fhirpath.narrative import html_checks


def _f_has_value() -> Inv:
    return lambda env, this, focus: as_plain(has_value(values(focus)))


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
        u = arg_string(url, env, this)
        if u is None:
            raise Fallback("memberOf() without a value set")
        if env.member_of is None or len(focus) != 1:
            return []
        return plain_values(env.member_of(focus[0][0], u))

    return member_of


def _f_conforms_to(url: Fn) -> Inv:
    def conforms(env: Env, this: Coll, focus: Coll) -> Coll:
        u = arg_string(url, env, this)
        if u is None:
            raise Fallback("conformsTo() without a profile")
        return as_plain(conforms_to(values(focus), u))

    return conforms


def _f_html_checks() -> Inv:
    return lambda env, this, focus: as_plain(html_checks(values(focus)))


def _f_boundary(high: bool) -> Callable[..., Inv]:
    def make(*_precision: Fn) -> Inv:
        # lowBoundary()/highBoundary() (boundaries.py) ignore the precision argument
        def bound(env: Env, this: Coll, focus: Coll) -> Coll:
            if any(isinstance(v, float) for v, _ in focus):
                raise Fallback("float value")
            return as_plain(boundary(values(focus), high))

        return bound

    return make


def _f_comparable(other: Fn) -> Inv:
    def comparable_(env: Env, this: Coll, focus: Coll) -> Coll:
        return as_plain(comparable(values(focus), values(other(env, this))))

    return comparable_


def _f_extension(url: Fn) -> Inv:
    def extension(env: Env, this: Coll, focus: Coll) -> Coll:
        u = arg_string(url, env, this)
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


FUNCTIONS: Functions = {
    "extension": ((1,), _f_extension),
    "hasValue": ((0,), _f_has_value),
    "resolve": ((0,), _f_resolve),
    "memberOf": ((1,), _f_member_of),
    "conformsTo": ((1,), _f_conforms_to),
    "htmlChecks": ((0,), _f_html_checks),
    "lowBoundary": ((0, 1), _f_boundary(False)),
    "highBoundary": ((0, 1), _f_boundary(True)),
    "comparable": ((1,), _f_comparable),
}
