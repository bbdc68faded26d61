"""Translate pydantic validation errors into located, fixable mapping issues."""

from __future__ import annotations

import difflib
import re
import types
import typing
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from evidence_publisher.jsonio import as_object
from evidence_publisher.sources.issues import (
    ImpossibleValue,
    InvalidValue,
    Issue,
    MissingField,
    UnknownKey,
    WrongType,
    field_name,
)
from evidence_publisher.sources.model import Corpus, Publication, Recommendation
from evidence_publisher.sources.yamlload import LocatedDocument

TOP_MODELS: dict[str, type[BaseModel]] = {
    "corpus": Corpus,
    "publication": Publication,
    "recommendation": Recommendation,
}

_WRONG_TYPE = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "decimal_type",
    "decimal_parsing",
    "string_type",
    "list_type",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "bool_type",
    "bool_parsing",
    "float_type",
    "float_parsing",
    "union_tag_invalid",
    "is_instance_of",
}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_TYPE_NAMES = {
    "int": "a whole number",
    "decimal": "a number",
    "float": "a number",
    "str": "text",
    "string": "text",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "bool": "true or false",
}
# what YAML 1.1 reads as an octal, hexadecimal, binary or sexagesimal number (kept as text)
_OTHER_BASE = re.compile(
    r"[-+]?(0[0-7_]+|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)\Z"
)
_PLAIN_NUMBER = re.compile(r"[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?\Z")
_YAML_READ = {bool: "a boolean", type(None): "null (no value)", int: "a number", Decimal: "a number"}


def _expected_name(err: ErrorDetails) -> str | None:
    """What a wrong-type error wanted, in curator's words ("a number", "text" ...)."""
    etype = err["type"]
    if etype == "is_instance_of":
        cls = str(err.get("ctx", {}).get("class", ""))
        return "a number" if cls == "Decimal" else None
    if etype in ("union_tag_invalid",):
        return "a mapping"
    return _TYPE_NAMES.get(etype.split("_")[0])


def _join_expected(names: list[str]) -> str:
    unique = list(dict.fromkeys(n for n in names if n))
    if "a number" in unique and "a whole number" in unique:
        unique.remove("a whole number")
    return " or ".join(unique) or "another type"


def _wrong_type(doc: LocatedDocument, data_loc: tuple, expected: str, given: Any) -> tuple[str, str]:
    """(problem, fix) for a value of the wrong type, saying what YAML made of the text."""
    raw = doc.raw.get(data_loc)
    read_as = _YAML_READ.get(type(given))
    if raw is not None and read_as is not None:
        problem = f"{expected} is required, but YAML read `{raw}` as {read_as}"
        if "text" in expected:
            return problem, f'quote it to keep it as text: "{raw}"'
        if isinstance(given, bool):
            return problem, "write the number (yes/no, true/false and on/off are booleans in YAML)"
        if given is None:
            return problem, f"write {expected} here, or remove the key"
        return problem, f"write {expected} here"
    if isinstance(given, str) and "number" in expected and _OTHER_BASE.match(given):
        return (
            f"{expected} is required, got `{given}`, which YAML 1.1 reads as a number in another base "
            "(a leading 0 is octal, 0x hexadecimal, 0b binary, a colon sexagesimal)",
            "write the number in plain decimal digits, without leading zeros",
        )
    if isinstance(given, str) and "number" in expected and _PLAIN_NUMBER.match(given):
        return f"{expected} is required, got the text {given!r}", f"remove the quotes: {given}"
    if isinstance(given, list):
        got = "got a list"
    elif isinstance(given, dict):
        got = "got a mapping"
    elif given is None:
        got = "the value is empty"
    else:
        got = f"got {given!r}"
    return f"{expected} is required, {got}", f"write {expected} here"


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside ``Annotated``/``Optional``/``list``/unions, if exactly one."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) if (m := _unwrap(a)) is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model


def _data_path(doc: LocatedDocument, loc: tuple) -> tuple:
    """The longest prefix of ``loc`` that names a value actually written in the file."""
    best: tuple = ()
    for i in range(1, len(loc) + 1):
        if loc[:i] in doc.locations:
            best = loc[:i]
    return best


def issues_from_validation(doc: LocatedDocument, kind: str, exc: ValidationError) -> list[Issue]:
    root = TOP_MODELS.get(kind)
    issues: dict[tuple, Issue] = {}
    errors = exc.errors(include_url=False)
    # a union (``Decimal | int``) fails once per member: gather what each member wanted
    expected_at: dict[tuple, list[str]] = {}
    for err in errors:
        if err["type"] in _WRONG_TYPE:
            loc = tuple(err["loc"])
            loc = loc[1:] if loc and loc[0] == kind else loc
            expected_at.setdefault(_data_path(doc, loc) or loc, []).append(_expected_name(err) or "")
    for err in errors:
        loc = tuple(err["loc"])
        if loc and loc[0] == kind:
            loc = loc[1:]
        etype = err["type"]
        msg = err["msg"]
        if etype == "missing":
            location = doc.locate(loc[:-1])
            name = loc[-1] if loc else "kind"
            issue: Issue = MissingField(
                location,
                field_name(loc),
                f"required field {name!r} is missing",
                f"add '{name}:' here (see docs/mapping-format.md or `evidence-publisher schema`)",
            )
        elif etype == "extra_forbidden":
            location = doc.locate(loc)
            parent = model_at(root, loc[:-1]) if root else None
            allowed = sorted(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            issue = UnknownKey(
                location,
                field_name(loc),
                f"unknown key {loc[-1]!r}",
                f"{hint}remove it or use one of: {', '.join(allowed)}" if allowed else "remove it",
            )
        elif etype in ("union_tag_not_found", "union_tag_invalid") and len(loc) <= 1:
            issue = InvalidValue(
                doc.locate(("kind",)),
                "kind",
                f"'kind' must be one of corpus, publication, recommendation (got "
                f"{as_object(doc.data).get('kind')!r})",
                "set 'kind: corpus', 'kind: publication' or 'kind: recommendation'",
            )
        else:
            data_loc = _data_path(doc, loc) or loc
            location = doc.locate(data_loc)
            field = field_name(data_loc)
            given = err.get("input")
            if etype == "literal_error":
                expected = err.get("ctx", {}).get("expected", "")
                issue = InvalidValue(
                    location,
                    field,
                    f"{given!r} is not allowed here",
                    f"use one of {expected}",
                )
            elif etype == "string_pattern_mismatch":
                desc = _description(root, loc)
                issue = InvalidValue(
                    location,
                    field,
                    f"{given!r} does not have the required form",
                    f"write {desc}" if desc else f"match the pattern {err['ctx']['pattern']}",
                )
            elif etype in _WRONG_TYPE:
                expected = _join_expected(expected_at.get(data_loc, []))
                problem, fix = _wrong_type(doc, data_loc, expected, given)
                issue = WrongType(location, field, problem, fix)
            elif etype in _BOUNDS or etype == "value_error":
                text = msg.removeprefix("Value error, ")
                issue = ImpossibleValue(
                    location,
                    field,
                    text if etype == "value_error" else f"{given!r}: {msg}",
                    "correct the value against the source document",
                )
            else:
                issue = InvalidValue(location, field, f"{msg} (got {given!r})", "correct the value")
        key = (issue.location, issue.field, issue.code)
        issues.setdefault(key, issue)
    return list(issues.values())


def _description(root: type[BaseModel] | None, loc: tuple) -> str | None:
    if root is None or not loc:
        return None
    parent = model_at(root, loc[:-1])
    name = loc[-1]
    if parent is None or isinstance(name, int):
        # a list item: describe the list field
        if len(loc) >= 2 and isinstance(loc[-1], int):
            parent = model_at(root, loc[:-2])
            name = loc[-2]
        if parent is None or isinstance(name, int):
            return None
    field = parent.model_fields.get(name)
    if field is None:
        return None
    if field.description:
        return field.description
    for meta in typing.get_args(field.annotation):
        info = getattr(meta, "description", None)
        if info:
            return info
    return None
