"""Lexical checks of FHIR primitive values as they appear in JSON.

Each checker returns ``None`` when the value is fine or a message saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from decimal import Decimal
from xml.etree import ElementTree

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"

RE_DATE = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?")
RE_DATETIME = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?")
RE_INSTANT = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}")
RE_TIME = re.compile(_TIME)
RE_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
RE_CODE = re.compile(r"[^\s]+( [^\s]+)*")
RE_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
RE_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RE_URI = re.compile(r"\S+")
RE_INTEGER64 = re.compile(r"-?(0|[1-9][0-9]*)")
RE_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_MAX_STRING = 1024 * 1024


def _days_ok(text: str) -> bool:
    """Reject calendar-impossible days such as 2023-02-30."""
    if len(text) < 10:
        return True
    try:
        y, m, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    except ValueError:
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    return d <= days


def _string(v: object) -> str | None:
    if not isinstance(v, str):
        return f"must be a JSON string, not {type(v).__name__}"
    if v == "":
        return "must not be empty (omit the element instead)"
    if len(v) > _MAX_STRING:
        return "is longer than 1 MB"
    if v.strip() == "":
        return "must not be whitespace only"
    return None


def _regex(pattern: re.Pattern[str], what: str) -> Callable[[object], str | None]:
    def check(v: object) -> str | None:
        msg = _string(v)
        if msg:
            return msg
        assert isinstance(v, str)
        if not pattern.fullmatch(v):
            return f"{v!r} is not a valid {what}"
        return None

    return check


def _date_like(pattern: re.Pattern[str], what: str) -> Callable[[object], str | None]:
    base = _regex(pattern, what)

    def check(v: object) -> str | None:
        msg = base(v)
        if msg:
            return msg
        assert isinstance(v, str)
        if not _days_ok(v):
            return f"{v!r} is not a valid {what} (no such day)"
        return None

    return check


def _uri(what: str, *, absolute: bool = False) -> Callable[[object], str | None]:
    def check(v: object) -> str | None:
        msg = _string(v)
        if msg:
            return msg
        assert isinstance(v, str)
        if not RE_URI.fullmatch(v):
            return f"{v!r} is not a valid {what}: it contains whitespace"
        if absolute and not RE_URL_SCHEME.match(v):
            return f"{v!r} is not a valid {what}: it must be absolute (scheme:...)"
        if v.startswith("urn:uuid:") and not RE_UUID.fullmatch(v):
            return f"{v!r} is not a valid {what}: malformed urn:uuid"
        if v.startswith("urn:oid:") and not RE_OID.fullmatch(v):
            return f"{v!r} is not a valid {what}: malformed urn:oid"
        return None

    return check


def _boolean(v: object) -> str | None:
    return None if isinstance(v, bool) else f"must be a JSON boolean, not {v!r}"


def _int_range(lo: int, hi: int, what: str) -> Callable[[object], str | None]:
    def check(v: object) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, Decimal | float) and v == int(v):
                return f"{what} must be a JSON integer without a fraction, not {v!r}"
            return f"{what} must be a JSON integer, not {v!r}"
        if not lo <= v <= hi:
            return f"{what} {v!r} is out of range [{lo}, {hi}]"
        return None

    return check


def _decimal(v: object) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | Decimal | float):
        return f"must be a JSON number, not {v!r}"
    if isinstance(v, Decimal | float) and not Decimal(str(v)).is_finite():
        return f"{v!r} is not a finite decimal"
    return None


def _integer64(v: object) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"integer64 must be a JSON string in R5, not the number {v!r}"
    msg = _string(v)
    if msg:
        return msg
    assert isinstance(v, str)
    if not RE_INTEGER64.fullmatch(v):
        return f"{v!r} is not a valid integer64"
    if not INT64_MIN <= int(v) <= INT64_MAX:
        return f"integer64 {v!r} is out of range"
    return None


def _base64(v: object) -> str | None:
    msg = _string(v)
    if msg:
        return msg
    assert isinstance(v, str)
    try:
        base64.b64decode(re.sub(r"\s+", "", v), validate=True)
    except (binascii.Error, ValueError):
        return f"{v[:40]!r} is not valid base64"
    return None


XHTML_NS = "http://www.w3.org/1999/xhtml"


def _xhtml(v: object) -> str | None:
    msg = _string(v)
    if msg:
        return msg
    assert isinstance(v, str)
    try:
        root = ElementTree.fromstring(v)  # noqa: S314 - parsing untrusted XML without DTDs
    except ElementTree.ParseError as exc:
        return f"narrative is not well-formed XHTML: {exc}"
    if root.tag != f"{{{XHTML_NS}}}div":
        return 'narrative must be a <div> in the XHTML namespace (xmlns="http://www.w3.org/1999/xhtml")'
    return None


def _markdown(v: object) -> str | None:
    if not isinstance(v, str):
        return f"must be a JSON string, not {type(v).__name__}"
    if v == "":
        return "must not be empty (omit the element instead)"
    return None


CHECKERS: dict[str, Callable[[object], str | None]] = {
    "string": _string,
    "markdown": _markdown,
    "boolean": _boolean,
    "integer": _int_range(INT32_MIN, INT32_MAX, "integer"),
    "unsignedInt": _int_range(0, INT32_MAX, "unsignedInt"),
    "positiveInt": _int_range(1, INT32_MAX, "positiveInt"),
    "integer64": _integer64,
    "decimal": _decimal,
    "id": _regex(RE_ID, "id ([A-Za-z0-9-.], at most 64 characters)"),
    "code": _regex(RE_CODE, "code (no leading, trailing or double whitespace)"),
    "oid": _regex(RE_OID, "oid"),
    "uuid": _regex(RE_UUID, "uuid"),
    "uri": _uri("uri"),
    "url": _uri("url"),
    "canonical": _uri("canonical"),
    "date": _date_like(RE_DATE, "date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    "dateTime": _date_like(RE_DATETIME, "dateTime (a time needs seconds and a zone)"),
    "instant": _date_like(RE_INSTANT, "instant (full date, time and zone)"),
    "time": _regex(RE_TIME, "time (hh:mm:ss)"),
    "base64Binary": _base64,
    "xhtml": _xhtml,
}


# The same texts come back in every resource of a corpus (systems, codes, narratives): their
# verdicts are kept, for texts up to _MEMO_CHARS long and up to _MEMO_SIZE of them at a time.
_MEMO_SIZE = 4096
_MEMO_CHARS = 4096
_memo: dict[tuple[str, str], str | None] = {}


def check_primitive(type_code: str, value: object) -> str | None:
    checker = CHECKERS.get(type_code)
    if checker is None:
        return None
    if type(value) is not str or len(value) > _MEMO_CHARS:
        return checker(value)
    key = (type_code, value)
    try:
        return _memo[key]
    except KeyError:
        pass
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    verdict = _memo[key] = checker(value)
    return verdict
