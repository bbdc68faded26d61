"""Translate pydantic validation errors into located, fixable mapping issues."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

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
    "str": "text",
    "string": "text",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "bool": "true or false",
}


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
    for err in exc.errors(include_url=False):
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
                f"{_as_dict(doc.data).get('kind')!r})",
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
                expected = _TYPE_NAMES.get(etype.split("_")[0], etype.split("_")[0])
                issue = WrongType(
                    location,
                    field,
                    f"expected {expected}, got {given!r}",
                    f"write {expected} here",
                )
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


def _as_dict(data: Any) -> dict:
    return data if isinstance(data, dict) else {}


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
