"""What the service knows about FHIR R5 types without the package cache: fhir.resources' models.

``is_resource_type`` answers whether a client's ``resourceType`` names an R5 resource.
``type_problems`` lists the elements of a resource whose JSON value has the wrong type or form
(a string where a decimal belongs, a number where a CodeableConcept belongs). It is used only when
an applicability condition fails to evaluate on a patient's data, to tell a client's malformed data
(answered 400, naming the element) from a bug in the service (answered 500): running it on every
call would cost more than the whole evaluation. Missing elements and elements R5 does not define
are not type problems here: prefetch data may be partial (``_elements``) or carry other versions'
elements, which the conditions simply do not see.
"""

from __future__ import annotations

import decimal
import re
import types
import typing
from functools import lru_cache
from typing import Any

import pydantic
from fhir.resources import get_fhir_model_class
from fhir.resources.resource import Resource

TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
ELEMENT = re.compile(r"[a-z][A-Za-z0-9]*")
ABSTRACT = frozenset({"Resource", "DomainResource", "CanonicalResource", "MetadataResource"})
# pydantic error types that are about presence, not about the type or form of a value
NOT_TYPE_ERRORS = frozenset({"missing", "extra_forbidden"})


@lru_cache(maxsize=512)
def _model(rtype: str) -> type[Resource] | None:
    try:
        model = get_fhir_model_class(rtype)
    except (ValueError, ImportError):
        return None
    return model if isinstance(model, type) and issubclass(model, Resource) else None


def is_resource_type(name: str) -> bool:
    """True when ``name`` is a concrete FHIR R5 resource type (``Patient``, ``Bundle`` ...)."""
    return bool(TYPE_NAME.fullmatch(name)) and name not in ABSTRACT and _model(name) is not None


def _path(loc: tuple[Any, ...]) -> str:
    """``('valueQuantity', 'value')`` -> ``valueQuantity.value``; pydantic's own location parts
    (validator names, ``root``) are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ELEMENT.fullmatch(part) and part != "root":
            out += f".{part}" if out else part
    return out or "(the resource)"


def type_problems(resource: dict[str, Any]) -> list[str]:
    """Paths of the elements of ``resource`` whose values have the wrong JSON type or form."""
    rtype = resource.get("resourceType")
    model = _model(rtype) if isinstance(rtype, str) and is_resource_type(rtype) else None
    if model is None:
        return ["resourceType"]
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        paths = [_path(err["loc"]) for err in exc.errors() if err["type"] not in NOT_TYPE_ERRORS]
        return sorted(set(paths))
    except (TypeError, ValueError, RecursionError):
        return ["(the resource)"]
    return sorted(set(_json_kind_problems(model, resource, "")))


def _leaf_kind(annotation: Any) -> type | str | None:
    """The Python type behind a field (``Optional``/``List``/``Annotated`` peeled), or the name of
    the complex type (``QuantityType`` -> ``Quantity``) whose model describes it."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType, list):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        else:
            break
    if annotation in (bool, int, decimal.Decimal):
        return annotation
    name = getattr(annotation, "__name__", "")
    return name[: -len("Type")] if name.endswith("Type") and name[:1].isupper() else None


def _json_kind_problems(model: type[pydantic.BaseModel], data: Any, path: str) -> list[str]:
    """Paths where a JSON string stands for a FHIR decimal, integer or boolean. fhir.resources
    (pydantic in lax mode) accepts ``"1.2"`` as a decimal, but FHIR JSON writes numbers and booleans
    unquoted, and the conditions' FHIRPath engine fails on the string."""
    out: list[str] = []
    if not isinstance(data, dict):
        return out
    fields = model.model_fields
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        kind = _leaf_kind(field.annotation)
        here = f"{path}.{key}" if path else key
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            where = f"{here}[{i}]" if isinstance(value, list) else here
            if kind is bool and not isinstance(item, bool):
                out.append(where)
            elif kind in (int, decimal.Decimal) and (
                isinstance(item, bool) or not isinstance(item, int | float | decimal.Decimal)
            ):
                out.append(where)
            elif isinstance(kind, str) and isinstance(item, dict):
                sub = _complex_model(kind)
                if sub is not None:
                    out += _json_kind_problems(sub, item, where)
    return out


@lru_cache(maxsize=512)
def _complex_model(name: str) -> type[pydantic.BaseModel] | None:
    try:
        model = get_fhir_model_class(name)
    except (ValueError, ImportError, KeyError):
        return None
    return model if isinstance(model, type) and issubclass(model, pydantic.BaseModel) else None
