"""Every R5 element the build uses either means the same in R4B (4.3.0) or has a rule.

The R5 and R4B StructureDefinitions are compared element by element along the golden build:
an element is "the same" when R4B has its path with the same type, at least its maximum
cardinality and the same required value set; any other element needs a rule of
``convert/r4b_rules.py`` (on it or an ancestor).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from evidence_publisher.convert.r4b_rules import CODE_SYSTEMS, RULES

PRIMITIVES = frozenset(
    "boolean integer integer64 string decimal uri url canonical base64Binary instant date dateTime time "
    "code oid id markdown unsignedInt positiveInt uuid xhtml".split()
)
_SKIP = ("extension", "modifierExtension", "resourceType")


class _Model:
    """Element lookup by path on the snapshots of one release."""

    def __init__(self, definitions: Any) -> None:
        self.definitions = definitions
        self._elements: dict[str, dict[str, dict] | None] = {}

    def elements(self, type_name: str) -> dict[str, dict] | None:
        if type_name not in self._elements:
            sd = self.definitions.structure_definition(type_name)
            self._elements[type_name] = {e["path"]: e for e in sd["snapshot"]["element"]} if sd else None
        return self._elements[type_name]

    def element(self, type_name: str, path: str, key: str) -> tuple[dict | None, str | None]:
        """(element definition, the type of this JSON key) of ``path.key`` in ``type_name``."""
        elements = self.elements(type_name) or {}
        found = elements.get(f"{path}.{key}")
        if found is not None:
            types = [t["code"] for t in found.get("type", ())]
            return found, types[0] if len(types) == 1 else None
        for name, elem in elements.items():
            stem = name[:-3]
            if (
                name.endswith("[x]")
                and stem.rpartition(".")[0] == path
                and key.startswith(stem.rpartition(".")[2])
            ):
                suffix = key[len(stem.rpartition(".")[2]) :]
                for t in elem.get("type", ()):
                    if t["code"].lower() == suffix.lower():
                        return elem, t["code"]
        return None, None


def _max(elem: dict) -> float:
    return float("inf") if elem.get("max") == "*" else float(elem.get("max", "1"))


def _required_value_set(elem: dict) -> str | None:
    binding = elem.get("binding") or {}
    if binding.get("strength") != "required":
        return None
    return str(binding.get("valueSet", "")).split("|", 1)[0]


def used_elements(model: _Model, resource: dict) -> Iterator[tuple[str, str, str, dict]]:
    """(instance path, type name, definition path, element) of every element ``resource`` uses."""
    rtype = resource["resourceType"]
    yield from _walk(model, rtype, rtype, rtype, resource)


def _walk(model: _Model, type_name: str, def_path: str, shown: str, value: Any) -> Iterator[tuple]:
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        for raw_key, child in item.items():
            key = raw_key.removeprefix("_")
            if key in _SKIP:
                continue
            elem, typ = model.element(type_name, def_path, key)
            path = f"{shown}.{key}"
            if elem is None:
                yield path, "?", f"{def_path}.{key}", {}
                continue
            yield path, typ or "?", elem["path"], elem
            if "contentReference" in elem:
                ref = elem["contentReference"].split("#", 1)[1]
                yield from _walk(model, type_name, ref, path, child)
            elif typ in ("BackboneElement", "Element"):
                yield from _walk(model, type_name, elem["path"], path, child)
            elif typ and typ not in PRIMITIVES and model.elements(typ) is not None:
                yield from _walk(model, typ, typ, path, child)


def _covered(path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in RULES for n in range(2, len(parts) + 1))


def differences(r5_definitions: Any, r4b_definitions: Any, resources: list[dict]) -> dict[str, str]:
    """Instance path -> how R4B differs, for every element the resources use."""
    r5, r4b = _Model(r5_definitions), _Model(r4b_definitions)
    found: dict[str, str] = {}
    for res in resources:
        if r4b.elements(res["resourceType"]) is None:
            continue  # a resource type R4B lacks: to_r4b maps the whole resource
        r4b_paths = {p: (t, e) for p, t, _, e in used_elements(r4b, res)}
        for path, typ, _, elem in used_elements(r5, res):
            other = r4b_paths.get(path)
            if other is None or not other[1]:
                found[path] = "absent in R4B"
            elif other[0] != typ:
                found[path] = f"type {typ} in R5, {other[0]} in R4B"
            elif _max(other[1]) < _max(elem):
                found[path] = f"max {elem.get('max')} in R5, {other[1].get('max')} in R4B"
            elif _required_value_set(elem) != _required_value_set(other[1]):
                r5_codes, r4b_codes = _required_value_set(elem), _required_value_set(other[1])
                found[path] = f"required codes {r5_codes} in R5, {r4b_codes} in R4B"
    return found


def test_every_differing_element_the_build_uses_has_a_rule(
    golden_r5, r5_definitions, r4b_definitions
) -> None:
    found = differences(r5_definitions, r4b_definitions, golden_r5)
    assert found, "the comparison finds the known differences (Evidence.studyDesign, ...)"
    uncovered = sorted(f"{p}: {why}" for p, why in found.items() if not _covered(p))
    assert uncovered == [], "add a rule to convert/r4b_rules.py for each"


def test_every_rule_is_for_an_element_that_differs(golden_r5, r5_definitions, r4b_definitions) -> None:
    found = differences(r5_definitions, r4b_definitions, golden_r5)
    stale = sorted(p for p in RULES if not any(f == p or f.startswith(p + ".") for f in found))
    assert stale == [], "a rule for an element R4B has unchanged (or the build no longer uses)"


def _codings(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for v in value.values():
            yield from _codings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _codings(v)


def _codes(cs: dict) -> set[str]:
    out, stack = set(), list(cs.get("concept", ()))
    while stack:
        c = stack.pop()
        out.add(c["code"])
        stack.extend(c.get("concept", ()))
    return out


def test_moved_code_systems_define_every_code_the_build_uses(golden_r5, package_cache) -> None:
    from evidence_publisher.constants import FHIR_VERSIONS

    defs = package_cache.definitions(fhir=FHIR_VERSIONS["R4B"])
    used: dict[str, set[str]] = {}
    for coding in _codings(golden_r5):
        if coding["system"] in CODE_SYSTEMS:
            used.setdefault(coding["system"], set()).add(coding["code"])
    assert used, "the build uses moved code systems"
    for r5_system, codes in used.items():
        r4b_system = defs.code_system(CODE_SYSTEMS[r5_system])
        assert r4b_system is not None and r4b_system["url"] == CODE_SYSTEMS[r5_system]
        assert codes <= _codes(r4b_system), f"{CODE_SYSTEMS[r5_system]} lacks {codes - _codes(r4b_system)}"
