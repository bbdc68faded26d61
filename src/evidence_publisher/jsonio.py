"""Canonical JSON: sorted keys, decimals exactly as written, UTF-8, trailing newline.

Values are plain Python: dict, list, str, int, bool, None and ``decimal.Decimal`` for every
non-integer number, so that ``0.050`` stays ``0.050``. Never serialise through fhir.resources.

``loads``/``load_file`` read trusted JSON (FHIR packages, our own output). Input from users, clients
and servers goes through ``parse_untrusted``/``loads_untrusted``, which bound size and nesting and
find duplicate keys (JSON parsers silently keep the last one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import simplejson

from evidence_publisher.errors import InputLimitError
from evidence_publisher.limits import JSON_FILE_BYTES, NESTING_DEPTH, current, json_depth

# orjson writes the same canonical text about ten times faster than simplejson (the build writes
# every resource twice, compact and indented). Anything it would write otherwise or cannot write is
# handed to simplejson: subclasses of str, int, dict and list, dataclasses and dates (which orjson
# would serialise where simplejson refuses), integers beyond 64 bits, non-string keys, lone
# surrogates, deep nesting, non-finite numbers (orjson writes NaN as null; simplejson refuses it).
_ORJSON_COMPACT = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_ORJSON_INDENTED = _ORJSON_COMPACT | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def _decimal_text(obj: Any) -> orjson.Fragment:
    if type(obj) is Decimal and obj.is_finite():
        return orjson.Fragment(str(obj))  # as simplejson's use_decimal writes it
    raise TypeError(type(obj).__name__)


def _has_non_finite_float(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if item != item or item in (math.inf, -math.inf):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Serialise ``obj`` canonically. ``indent=None`` gives one compact line (for NDJSON)."""
    if indent is None or indent == 2:
        try:
            data = orjson.dumps(
                obj, default=_decimal_text, option=_ORJSON_COMPACT if indent is None else _ORJSON_INDENTED
            )
        except orjson.JSONEncodeError:
            pass  # simplejson writes it, or says why it cannot
        else:
            if b"null" not in data or not _has_non_finite_float(obj):
                return data.decode("utf-8")
    return _simplejson_dumps(obj, indent)


def _simplejson_dumps(obj: Any, indent: int | None) -> str:
    separators = (",", ":") if indent is None else (",", ": ")
    text = simplejson.dumps(
        obj,
        use_decimal=True,
        sort_keys=True,
        ensure_ascii=False,
        indent=indent,
        separators=separators,
        allow_nan=False,
    )
    return text if indent is None else text + "\n"


def iter_dumps_pieces(obj: Any) -> Iterator[str]:
    """The text of ``dumps(obj)`` in the small pieces the encoder makes (``simplejson.dumps``
    joins the same pieces), for writing a large object (a build report) without holding its
    whole text.

    A list at the top level of ``obj`` that has ``item_texts()`` (``SpilledRows``) is written from
    the ``dumps`` text of each item it gives, re-indented: its items are not parsed again.
    """
    if isinstance(obj, dict) and any(callable(getattr(v, "item_texts", None)) for v in obj.values()):
        if all(isinstance(k, str) for k in obj):
            yield from _members_with_item_texts(obj)
            return
    encoder = simplejson.JSONEncoder(
        use_decimal=True,
        sort_keys=True,
        ensure_ascii=False,
        indent=2,
        separators=(",", ": "),
        allow_nan=False,
    )
    yield from encoder.iterencode(obj)
    yield "\n"


def _members_with_item_texts(obj: dict[str, Any]) -> Iterator[str]:
    """``dumps(obj)`` (indented by two, keys sorted) with the lists that give ``item_texts``
    written from those texts (each ``dumps(item)`` without its trailing newline)."""
    sep = "{\n"
    for key in sorted(obj):
        yield f"{sep}  {dumps(key, indent=None)}: "
        sep = ",\n"
        value = obj[key]
        texts = getattr(value, "item_texts", None)
        if not callable(texts):
            yield dumps(value)[:-1].replace("\n", "\n  ")
            continue
        first = True
        for text in texts():
            yield ("[\n    " if first else ",\n    ") + text.replace("\n", "\n    ")
            first = False
        yield "[]" if first else "\n  ]"
    yield "\n}\n"


_SLOT = "\u0000items\u0000"


def iter_dumps(obj: dict, key: str, items: Iterable[Any]) -> Iterator[str]:
    """The text of ``dumps({**obj, key: list(items)})``, in pieces, one item serialised at a time.

    For writing a large Bundle without holding its text (or all its entries) in memory at once.
    """
    return iter_dumps_texts(obj, key, (dumps(item)[:-1] for item in items))


def iter_dumps_texts(obj: dict, key: str, texts: Iterable[str]) -> Iterator[str]:
    """``iter_dumps`` of items given as their text already: each is ``dumps(item)`` without its
    trailing newline (JSON strings hold no raw newline, so re-indenting it is a replace)."""
    head, slot, tail = dumps({**obj, key: [_SLOT]}).partition(dumps(_SLOT, indent=None))
    assert slot, "the placeholder is written as it is"
    indent = head[head.rindex("\n") + 1 :]
    first = True
    for item_text in texts:
        text = item_text.replace("\n", "\n" + indent)
        if first:
            yield head
            yield text
            first = False
        else:
            yield f",\n{indent}{text}"
    if first:  # no items: an empty list has its own form
        yield dumps({**obj, key: []})
    else:
        yield tail


def loads(text: str | bytes) -> Any:
    """Parse trusted JSON keeping every non-integer number as ``Decimal`` (precision preserved)."""
    return simplejson.loads(text, use_decimal=True)


def load_file(path: str | Path) -> Any:
    return loads(Path(path).read_bytes())


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, where: str, paths: list[str]) -> None:
        super().__init__(f"{where}: duplicate JSON key at {', '.join(paths)}")
        self.paths = paths


@dataclass
class ParsedJson:
    value: Any
    duplicate_keys: list[str] = field(default_factory=list)  # FHIRPath-like paths, e.g. "entry[0].id"


def parse_untrusted(
    text: str | bytes,
    where: str,
    *,
    max_bytes: int | None = None,
    max_depth: int | None = None,
) -> ParsedJson:
    """Parse JSON from outside the tool within the limits; duplicate keys are reported, not fatal.

    Limits default to the values in force (``limits.current``). Raises ``InputLimitError`` when a
    limit is passed and ``ValueError`` for text that is not JSON.
    """
    max_bytes = current(JSON_FILE_BYTES) if max_bytes is None else max_bytes
    max_depth = current(NESTING_DEPTH) if max_depth is None else max_depth
    if len(text) > max_bytes:
        raise InputLimitError(where, JSON_FILE_BYTES, f"{len(text):,} bytes", max_bytes)
    seen_twice: list[tuple[dict, str]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            keys: set[str] = set()
            for key, _ in pairs:
                if key in keys:
                    seen_twice.append((obj, key))
                keys.add(key)
        return obj

    value = _quick_loads(text, pairs_hook)
    if value is _NOT_QUICK:
        seen_twice.clear()
        try:
            value = simplejson.loads(text, use_decimal=True, object_pairs_hook=pairs_hook)
        except RecursionError:
            raise InputLimitError(where, NESTING_DEPTH, "nesting too deep to parse", max_depth) from None
    # each level opens a { or a [: when fewer open than the limit allows, no need to measure
    if isinstance(text, bytes):
        opened = text.count(b"{") + text.count(b"[")
    else:
        opened = text.count("{") + text.count("[")
    depth = json_depth(value, max_depth) if opened > max_depth else opened
    if depth > max_depth:
        raise InputLimitError(where, NESTING_DEPTH, f"nesting of more than {max_depth} levels", max_depth)
    return ParsedJson(value, _paths_of(value, seen_twice) if seen_twice else [])


_NOT_QUICK = object()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _quick_loads(text: str | bytes, pairs_hook: Callable[[list[tuple[str, Any]]], dict]) -> Any:
    """The standard library's C parser, about twice as fast as simplejson's with Decimals: the
    same value for any text both accept (Decimal for every non-integer number). ``_NOT_QUICK``
    for anything else (not UTF-8, not JSON, NaN, too deep), which simplejson then parses, so
    that its messages stay the ones users see."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        return json.loads(
            decoded, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=pairs_hook
        )
    except (ValueError, RecursionError):
        return _NOT_QUICK


def loads_untrusted(text: str | bytes, where: str, **limits: int | None) -> Any:
    """Like ``parse_untrusted`` but a duplicate key is an error (``DuplicateKeyError``)."""
    parsed = parse_untrusted(text, where, **limits)
    if parsed.duplicate_keys:
        raise DuplicateKeyError(where, parsed.duplicate_keys)
    return parsed.value


def _paths_of(root: Any, found: list[tuple[dict, str]]) -> list[str]:
    """Paths (``a.b[0].key``) of the duplicated keys, found by one walk from the root."""
    wanted = {id(obj): [key for o, key in found if o is obj] for obj, _ in found}
    paths: list[str] = []
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in wanted.get(id(node), ()):
                paths.append(f"{path}.{key}" if path else key)
            stack.extend((v, f"{path}.{k}" if path else k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return sorted(paths)


def as_object(value: object) -> dict:
    """``value`` if it is a JSON object, else an empty one: for reading JSON of unknown shape."""
    return value if isinstance(value, dict) else {}


def as_array(value: object) -> list:
    """``value`` if it is a JSON array, else an empty one: for reading JSON of unknown shape."""
    return value if isinstance(value, list) else []
