"""Native Python versions of the hottest core invariants.

Each function answers exactly what the FHIRPath expression in the core StructureDefinitions
answers; ``tests/validate/test_native_differential.py`` runs both on every element of the R5
examples and asserts equality.
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.jsonio import as_object

ELE1 = "hasValue() or (children().count() > id.count())"
EXT1 = "extension.exists() != value.exists()"


def ele1_complex(data: dict) -> bool:
    """ele-1 on a complex element: some child other than ``id``."""
    return any(k != "id" for k in data)


def ele1_primitive(value: Any, ext: Any) -> bool:
    """ele-1 on a primitive: a value, or an extension in its ``_element`` object."""
    if value is not None:
        return True
    return isinstance(ext, dict) and bool(ext.get("extension"))


def ext1(data: dict) -> bool:
    """ext-1: either nested extensions or a value[x], never both, never neither."""
    has_ext = bool(data.get("extension"))
    has_value = any(
        (k.startswith("value") and k[5:6].isupper()) or (k.startswith("_value") and k[6:7].isupper())
        for k in data
    )
    return has_ext != has_value


def _has_hash_reference(node: Any) -> bool:
    if isinstance(node, dict):
        for k, v in node.items():
            if v == "#" and k in ("reference",):
                return True
            if isinstance(v, dict | list) and _has_hash_reference(v):
                return True
    elif isinstance(node, list):
        return any(_has_hash_reference(v) for v in node)
    return False


def dom(key: str, res: dict, local_refs: set[str]) -> tuple[bool, int | None]:
    """dom-2..dom-6 on a DomainResource. Returns (ok, index of the first failing contained)."""
    if key == "dom-6":
        text = res.get("text")
        return (isinstance(text, dict) and text.get("div") is not None), None
    contained = res.get("contained")
    if not isinstance(contained, list):
        return True, None
    for i, c in enumerate(contained):
        if not isinstance(c, dict):
            continue
        meta = as_object(c.get("meta"))
        if key == "dom-2" and c.get("contained"):
            return False, i
        if key == "dom-4" and (meta.get("versionId") is not None or meta.get("lastUpdated") is not None):
            return False, i
        if key == "dom-5" and meta.get("security"):
            return False, i
        if key == "dom-3":
            cid = c.get("id")
            if not isinstance(cid, str):
                continue
            if "#" + cid in local_refs:
                continue
            if "#" in local_refs and _has_hash_reference(c):
                continue
            return False, i
    return True, None


def deep_equal(value: Any, fixed: Any) -> bool:
    if isinstance(fixed, dict):
        return (
            isinstance(value, dict)
            and value.keys() == fixed.keys()
            and all(deep_equal(value[k], fixed[k]) for k in fixed)
        )
    if isinstance(fixed, list):
        return (
            isinstance(value, list)
            and len(value) == len(fixed)
            and all(deep_equal(a, b) for a, b in zip(value, fixed, strict=True))
        )
    if isinstance(fixed, bool) or isinstance(value, bool):
        return value is fixed
    return value == fixed


def matches_pattern(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches_pattern(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(matches_pattern(item, p) for item in value) for p in pattern
        )
    return deep_equal(value, pattern)
