"""FHIRPath evaluation on fhirpathpy with the FHIR-specific functions it lacks.

Every expression is compiled once per process (``compiled``). The FHIR functions that need the
resource being validated (``resolve()``, ``memberOf()``) read it from a context variable that the
walker sets around each resource, so compiled functions stay shareable.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from xml.etree import ElementTree

import fhirpathpy
from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, ResourceNode, TypeInfo
from fhirpathpy.models import models

MODEL = models["r5"]
# fhirpathpy sets this class attribute only when an 'is'/'as' runs, and answers ofType() by name
# alone until then; set it once so its answers do not depend on what ran before
TypeInfo.model = MODEL

# (resolver(reference) -> resource dict | None, memberOf(code-like, url) -> bool | None)
CURRENT: contextvars.ContextVar[tuple[Callable[[str], dict | None], Any] | None] = contextvars.ContextVar(
    "evidence_publisher_fhirpath_ctx", default=None
)

_RESERVED = {"div", "as", "is", "contains", "in", "and", "or", "xor", "implies", "mod", "true", "false"}


def quote_reserved(expression: str) -> str:
    """Back-quote reserved words used as path segments (``text.div`` -> ``text.`div```)."""
    expression = re.sub(r"(?<=\.)(div)\b(?!\s*\()", r"`\1`", expression)
    # eld-11 in R5 core writes a string literal in double quotes, which FHIRPath does not allow
    return re.sub(r'"([^"\'\\]*)"', r"'\1'", expression)


def has_value(inputs: list) -> list:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


def _resolve(inputs: list) -> list:
    ctx = CURRENT.get()
    if ctx is None:
        return []
    resolver = ctx[0]
    out = []
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else item
        if not isinstance(ref, str):
            continue
        target = resolver(ref)
        if target is not None:
            out.append(ResourceNode.create_node(target, target.get("resourceType")))
    return out


def _member_of(inputs: list, url: str) -> list:
    ctx = CURRENT.get()
    if ctx is None or len(inputs) != 1:
        return []
    answer = ctx[1](inputs[0], url)
    return [] if answer is None else [answer]


def conforms_to(inputs: list, url: str) -> list:
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        return []
    if url.startswith("http://hl7.org/fhir/StructureDefinition/"):
        name = url.rsplit("/", 1)[1]
        if name[:1].isupper() and "-" not in name:
            return [inputs[0].get("resourceType") == name]
    return []


# -- boundaries ---------------------------------------------------------------------------------
def _decimal_boundary(value: Decimal | int, high: bool) -> Decimal:
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    exp = d.as_tuple().exponent
    half = Decimal(5).scaleb(int(exp) - 1) if isinstance(exp, int) else Decimal(0)
    return d + half if high else d - half


_DT = re.compile(
    r"(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<t>\d{2}:\d{2}(:\d{2}(\.\d+)?)?)(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _date_boundary(text: str, high: bool) -> FP_DateTime | None:
    m = _DT.fullmatch(text)
    if not m:
        return None
    y = int(m["y"])
    month = m["m"] or ("12" if high else "01")
    if m["d"]:
        day = m["d"]
    elif high:
        mi = int(month)
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        day = f"{(29 if leap else 28) if mi == 2 else _MONTH_DAYS[mi - 1]:02d}"
    else:
        day = "01"
    t = m["t"]
    if t is None:
        # a date stays a date (FHIRPath: @2014.lowBoundary() = @2014-01-01)
        return FP_DateTime(f"{y:04d}-{month}-{day}")
    if len(t) == 5:
        t += ":59.999" if high else ":00.000"
    elif "." not in t:
        t += ".999" if high else ".000"
    return FP_DateTime(f"{y:04d}-{month}-{day}T{t}{m['z'] or ''}")


class BoundaryQuantity(FP_Quantity):
    """A Quantity boundary that supports ``<=`` (fhirpathpy's FP_Quantity has no compare)."""

    def compare(self, other: object) -> int:  # type: ignore[override]
        if not isinstance(other, FP_Quantity) or other.unit != self.unit:
            return 0  # incomparable: rng-2 guards this case with comparable()
        return (self.value > other.value) - (self.value < other.value)


def boundary(inputs: list, high: bool) -> list:
    if len(inputs) != 1:
        return []
    v = inputs[0]
    if isinstance(v, bool):
        return []
    if isinstance(v, int | Decimal):
        return [_decimal_boundary(v, high)]
    if isinstance(v, FP_DateTime):
        v = str(v)
    if isinstance(v, str):
        r = _date_boundary(v, high)
        return [r] if r is not None else []
    if isinstance(v, dict) and "value" in v:
        unit = v.get("code") or v.get("unit") or "1"
        return [BoundaryQuantity(_decimal_boundary(v["value"], high), f"'{unit}'")]
    return []


def comparable(inputs: list, other: Any) -> list:
    if len(inputs) != 1:
        return []
    a = inputs[0]
    b = other[0] if isinstance(other, list) and other else other
    if isinstance(b, ResourceNode):
        b = b.data
    if isinstance(a, FP_Quantity) and isinstance(b, FP_Quantity):
        if a.unit == b.unit:
            return [True]
        try:
            return [FP_Quantity.conv_unit_to(a.unit, a.value, b.unit) is not None]
        except Exception:
            return [False]
    return [type(a) is type(b)]


# -- narrative ----------------------------------------------------------------------------------
_XHTML = "{http://www.w3.org/1999/xhtml}"
_ALLOWED_TAGS = frozenset(
    "a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em h1 h2 h3 "
    "h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr "
    "tt ul var".split()
)
_FORBIDDEN_ATTR = re.compile(r"^on", re.IGNORECASE)


@lru_cache(maxsize=4096)
def html_ok(xhtml: str) -> str | None:
    """Return None when the narrative passes the FHIR XHTML rules, else what is wrong."""
    try:
        root = ElementTree.fromstring(xhtml)  # noqa: S314 - no DTDs, no entity expansion
    except ElementTree.ParseError as exc:
        return f"not well-formed XHTML: {exc}"
    if root.tag != _XHTML + "div":
        return "the root must be an XHTML <div>"
    has_content = False
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str) or not tag.startswith(_XHTML):
            return f"element {tag!r} is not in the XHTML namespace"
        local = tag[len(_XHTML) :]
        if local not in _ALLOWED_TAGS:
            return f"element <{local}> is not allowed in narrative"
        for attr, value in el.attrib.items():
            if _FORBIDDEN_ATTR.match(attr.rsplit("}", 1)[-1]):
                return f"attribute {attr!r} (event handler) is not allowed in narrative"
            if value.strip().lower().startswith("javascript:"):
                return "javascript: URLs are not allowed in narrative"
        if (el.text and el.text.strip()) or (el.tail and el.tail.strip()) or local == "img":
            has_content = True
    if not has_content:
        return "narrative has no content"
    return None


def html_checks(inputs: list) -> list:
    if len(inputs) != 1 or not isinstance(inputs[0], str):
        return [False]
    return [html_ok(inputs[0]) is None]


USER_FUNCTIONS = {
    "hasValue": {"fn": has_value, "arity": {0: []}},
    "resolve": {"fn": _resolve, "arity": {0: []}},
    "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
    "conformsTo": {"fn": conforms_to, "arity": {1: ["String"]}},
    "lowBoundary": {"fn": lambda i, *a: boundary(i, False), "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": lambda i, *a: boundary(i, True), "arity": {0: [], 1: ["Integer"]}},
    "comparable": {"fn": comparable, "arity": {1: ["AnyAtRoot"]}},
    "htmlChecks": {"fn": html_checks, "arity": {0: []}},
    # the default trace() prints to stdout
    "trace": {"fn": lambda i, *a: i, "arity": {0: [], 1: ["String"], 2: ["String", "AnyAtRoot"]}},
}
_OPTIONS = {"userInvocationTable": USER_FUNCTIONS}


@cache
def compiled(expression: str) -> Callable[..., list]:
    """Compile once; a parse failure is cached too (the parser is slow on bad input)."""
    sink = io.StringIO()
    try:
        # the antlr parser prints syntax errors to stdout, which would corrupt --format json
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            fn = fhirpathpy.compile(quote_reserved(expression), MODEL, _OPTIONS)
    except Exception as exc:
        return _failing(f"fhirpathpy cannot parse {expression!r}: {type(exc).__name__}")
    if sink.getvalue():
        return _failing(f"fhirpathpy cannot parse {expression!r}: {sink.getvalue().strip()}")
    return fn


class UnparseableExpression(ValueError):
    """fhirpathpy cannot parse this expression (e.g. eld-11 in R5 core)."""


def _failing(message: str) -> Callable[..., list]:
    def fail(*_args: Any) -> list:
        raise UnparseableExpression(message)

    return fail


def node(data: Any, type_path: str, ext: Any = None) -> ResourceNode:
    return ResourceNode.create_node(data, type_path, ext)


def evaluate(expression: str, data: Any, type_path: str, env: dict, ext: Any = None) -> list:
    return compiled(expression)(node(data, type_path, ext), env)
