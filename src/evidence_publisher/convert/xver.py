"""Cross-version extensions: an R5 element that R4B lacks, carried as
``http://hl7.org/fhir/5.0/StructureDefinition/extension-<Path>``.

The URL pattern and the encoding follow the FHIR cross-version rules (R5 "versions" page): the
extension's value has the element's R5 type when R4B has that type with the same content; a
backbone element (or a type whose content differs between the versions) becomes a complex
extension with one sub-extension per child element, named by the child. ``Kind`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidence_publisher.constants import FHIR_VERSIONS

XVER_BASE = FHIR_VERSIONS["R5"].cross_version_base


@dataclass(frozen=True)
class Choice:
    """The type of a choice element's JSON name: ``eventReference`` of ``event[x]`` is
    ``Choice("Reference")`` and becomes sub-extension ``event`` with ``valueReference``."""

    type: str


# A value type name (``"markdown"``, ``"CodeableConcept"``), a ``Choice``, or, for a complex
# extension, the kinds of the children by their JSON names.
Kind = str | Choice | Mapping[str, "Kind"]


def xver_url(path: str) -> str:
    return XVER_BASE + path


def _value_key(type_name: str) -> str:
    return "value" + type_name[0].upper() + type_name[1:]


def encode(path: str, value: Any, kind: Kind) -> list[dict[str, Any]]:
    """The extensions (one per repetition) carrying ``value`` of R5 element ``path``."""
    values = value if isinstance(value, list) else [value]
    return [{"url": xver_url(path), **_content(v, kind)} for v in values]


def _content(value: Any, kind: Kind) -> dict[str, Any]:
    if isinstance(kind, Choice):
        return {_value_key(kind.type): value}
    if isinstance(kind, str):
        return {_value_key(kind): value}
    subs: list[dict[str, Any]] = []
    for key in sorted(value):
        child_kind, name = _child(kind, key)
        items = value[key] if isinstance(value[key], list) else [value[key]]
        subs.extend({"url": name, **_content(item, child_kind)} for item in items)
    return {"extension": subs}


def _child(kind: Mapping[str, Kind], key: str) -> tuple[Kind, str]:
    """The kind and the sub-extension name of JSON key ``key`` (``eventReference`` -> ``event``)."""
    child = kind[key]  # a KeyError here is an unmapped child: ``unmapped_children`` finds it first
    if isinstance(child, Choice):
        return child, key[: -len(child.type)]
    return child, key


def unmapped_children(value: Any, kind: Kind) -> list[str]:
    """Child keys of ``value`` that ``kind`` does not describe (to be reported, never dropped)."""
    if isinstance(kind, str | Choice):
        return []
    missing: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        for key, child in item.items():
            if key not in kind:
                missing.append(key)
            else:
                missing.extend(f"{key}.{m}" for m in unmapped_children(child, kind[key]))
    return sorted(set(missing))
