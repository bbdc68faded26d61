"""Generate single faults on valid resources, each with the FHIRPath and rule that must report it.

The generator walks a resource alongside the compiled snapshots (the same tables the validator
uses to find element definitions, but none of its checking code) and proposes, per location, one
fault of each applicable class.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evidence_publisher.validate.model import PRIMITIVE_TYPES, ElementDef, ModelRegistry

CLASSES = (
    "missing-required",
    "bad-required-code",
    "wrong-type",
    "broken-invariant",
    "bad-reference",
    "bad-primitive-format",
    "empty-array",
    "unknown-element",
)


@dataclass
class Mutation:
    klass: str
    source: str  # example file name
    resource: dict
    expression: str  # FHIRPath where the error must be reported
    rules: tuple[str, ...]  # any of these rule ids is the right diagnosis
    what: str


@dataclass
class Site:
    fp: str  # FHIRPath of the property (with [i] for array items)
    parent: dict  # the JSON object holding the property
    key: str
    index: int | None
    elem: ElementDef
    tcode: str
    value: Any


def iter_sites(res: dict, registry: ModelRegistry) -> Iterator[Site]:
    rtype = res["resourceType"]
    model = registry.get(rtype)
    yield from _walk(res, model, rtype, rtype, registry, depth=0)


def _walk(data: dict, model, sd_path: str, fp: str, registry: ModelRegistry, depth: int):
    if depth > 12:
        return
    table = model.children.get(sd_path, {})
    for key, value in list(data.items()):
        entry = table.get(key)
        if entry is None:
            continue
        elem, tcode = entry
        tcode = tcode or (elem.types[0].code if elem.types else "BackboneElement")
        base = f"{fp}.{elem.name}" + (f".ofType({tcode})" if elem.choice else "")
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            ifp = f"{base}[{i}]" if elem.array else base
            yield Site(ifp, data, key, i if elem.array else None, elem, tcode, item)
            if not isinstance(item, dict) or tcode in ("Resource", "Extension"):
                continue
            if elem.content_ref:
                target = elem.content_ref.split("#", 1)[1]
                yield from _walk(item, model, target, ifp, registry, depth + 1)
            elif elem.path in model.has_children and tcode in ("BackboneElement", "Element"):
                yield from _walk(item, model, elem.path, ifp, registry, depth + 1)
            elif tcode not in PRIMITIVE_TYPES:
                dt = registry.get(tcode)
                if dt is not None:
                    yield from _walk(item, dt, dt.type, ifp, registry, depth + 1)


def _set(res: dict, site: Site, new: Any) -> dict:
    """Copy ``res`` and replace the site's value (located by identity) with ``new``."""
    memo: dict[int, Any] = {}
    out = copy.deepcopy(res, memo)
    parent = memo[id(site.parent)]
    if site.index is None:
        parent[site.key] = new
    else:
        parent[site.key][site.index] = new
    return out


def _mutate_parent(res: dict, site: Site, fn) -> dict:
    memo: dict[int, Any] = {}
    out = copy.deepcopy(res, memo)
    fn(memo[id(site.parent)])
    return out


BAD_FORMATS = {
    "dateTime": ("2023-13-45", "dateTime-format"),
    "date": ("2023/01/01", "date-format"),
    "instant": ("2023-01-01", "instant-format"),
    "id": ("x" * 65, "id-format"),
    "uri": ("http://exa mple.org/x", "uri-format"),
    "url": ("http://exa mple.org/x", "url-format"),
    "canonical": ("http://exa mple.org/x", "canonical-format"),
    "code": ("two  spaces", "code-format"),
    "positiveInt": (0, "positiveInt-format"),
    "unsignedInt": (-5, "unsignedInt-format"),
    "integer": (3.5, "integer-format"),
    "boolean": ("true", "boolean-format"),
    "decimal": ("0.05", "decimal-format"),
    "markdown": ("", "markdown-format"),
    "string": ("", "string-format"),
}


def generate(name: str, res: dict, registry: ModelRegistry, terminology) -> list[Mutation]:
    out: list[Mutation] = []
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()

    current: list[Site] = []

    def add(m: Mutation) -> None:
        site = current[0]
        key = (m.klass, site.elem.path, site.tcode, m.rules)
        if key not in seen:
            seen.add(key)
            out.append(m)

    for site in iter_sites(res, registry):
        current[:] = [site]
        elem, tcode, fp = site.elem, site.tcode, site.fp
        prop_fp = fp[: len(fp) - len(f"[{site.index}]")] if site.index is not None else fp
        # missing required element: delete the whole property
        if elem.min >= 1 and (site.index in (None, 0)) and not elem.choice:
            count = len(site.parent[site.key]) if isinstance(site.parent[site.key], list) else 1
            if count <= elem.min:
                new = _mutate_parent(res, site, lambda p, k=site.key: (p.pop(k), p.pop("_" + k, None)))
                add(
                    Mutation(
                        "missing-required", name, new, f"{prop_fp}", ("cardinality",), f"remove {elem.path}"
                    )
                )
        # bad code in a required binding
        if elem.binding and elem.binding[0] == "required" and tcode == "code":
            vs = terminology.value_set(elem.binding[1])
            if not vs.unknown and not vs.open_systems and isinstance(site.value, str):
                add(
                    Mutation(
                        "bad-required-code",
                        name,
                        _set(res, site, "bogus-code"),
                        fp,
                        (elem.binding[1],),
                        f"{elem.path} = bogus-code",
                    )
                )
        if (
            elem.binding
            and elem.binding[0] == "required"
            and tcode == "CodeableConcept"
            and isinstance(site.value, dict)
            and site.value.get("coding")
        ):
            vs = terminology.value_set(elem.binding[1])
            if not vs.unknown and not vs.open_systems:
                bad = copy.deepcopy(site.value)
                bad["coding"] = [dict(bad["coding"][0], code="bogus-code")]
                add(
                    Mutation(
                        "bad-required-code",
                        name,
                        _set(res, site, bad),
                        f"{fp}.coding[0]",
                        (elem.binding[1],),
                        f"{elem.path}.coding = bogus-code",
                    )
                )
        # wrong type
        if tcode in ("string", "code", "uri", "markdown", "id", "dateTime", "canonical"):
            add(
                Mutation(
                    "wrong-type",
                    name,
                    _set(res, site, 12345),
                    fp,
                    (f"{tcode}-format",),
                    f"{elem.path} = 12345 (number for {tcode})",
                )
            )
        elif tcode in ("boolean",):
            add(
                Mutation(
                    "wrong-type",
                    name,
                    _set(res, site, "yes"),
                    fp,
                    ("boolean-format",),
                    f"{elem.path} = 'yes'",
                )
            )
        elif tcode not in PRIMITIVE_TYPES and tcode not in ("Resource",) and isinstance(site.value, dict):
            add(
                Mutation(
                    "wrong-type",
                    name,
                    _set(res, site, "a string"),
                    fp,
                    ("json-type",),
                    f"{elem.path} = 'a string' (string for {tcode})",
                )
            )
        # bad primitive format
        if tcode in BAD_FORMATS and isinstance(site.value, str | int | bool):
            bad_value, rule = BAD_FORMATS[tcode]
            add(
                Mutation(
                    "bad-primitive-format",
                    name,
                    _set(res, site, bad_value),
                    fp,
                    (rule,),
                    f"{elem.path} = {bad_value!r}",
                )
            )
        # empty array
        if elem.array and site.index == 0:
            add(
                Mutation(
                    "empty-array",
                    name,
                    _mutate_parent(
                        res, site, lambda p, k=site.key: (p.__setitem__(k, []), p.pop("_" + k, None))
                    ),
                    prop_fp,
                    ("json-empty-array",),
                    f"{elem.path} = []",
                )
            )
        # unknown element
        if isinstance(site.value, dict) and tcode not in PRIMITIVE_TYPES and tcode != "Resource":
            bad = dict(site.value, bogusElement="x")
            add(
                Mutation(
                    "unknown-element",
                    name,
                    _set(res, site, bad),
                    f"{fp}.bogusElement",
                    ("unknown-element",),
                    f"{elem.path}.bogusElement",
                )
            )
        # bad reference
        if tcode == "Reference" and isinstance(site.value, dict) and "reference" in site.value:
            bad = dict(site.value, reference="not a reference")
            add(
                Mutation(
                    "bad-reference",
                    name,
                    _set(res, site, bad),
                    f"{fp}.reference",
                    ("reference-format",),
                    f"{elem.path}.reference = 'not a reference'",
                )
            )
            bad2 = dict(site.value, reference="#does-not-exist")
            add(
                Mutation(
                    "bad-reference",
                    name,
                    _set(res, site, bad2),
                    fp,
                    ("ref-1",),
                    f"{elem.path}.reference = '#does-not-exist'",
                )
            )
            allowed = {
                registry.get(p).type
                for t in elem.types
                for p in t.target_profiles
                if registry.get(p) is not None
            }
            if allowed and "Resource" not in allowed and "Basic" not in allowed:
                bad3 = dict(site.value, reference="Basic/wrong-target")
                bad3.pop("type", None)
                add(
                    Mutation(
                        "bad-reference",
                        name,
                        _set(res, site, bad3),
                        f"{fp}.reference",
                        ("reference-target",),
                        f"{elem.path} -> Basic",
                    )
                )
        # broken invariants
        if isinstance(site.value, dict) and tcode not in PRIMITIVE_TYPES and tcode != "Resource":
            if "extension" in _children(site, registry):
                bad = dict(site.value)
                bad["extension"] = [{"url": "http://example.org/no-value"}]
                add(
                    Mutation(
                        "broken-invariant",
                        name,
                        _set(res, site, bad),
                        f"{fp}.extension[0]",
                        ("ext-1",),
                        f"{elem.path}.extension without value",
                    )
                )
            add(
                Mutation(
                    "broken-invariant",
                    name,
                    _set(res, site, {"id": "only-id"}),
                    fp,
                    ("ele-1",),
                    f"{elem.path} = {{id only}}",
                )
            )
            v = site.value
            if tcode == "Period" and "start" in v and "end" in v:
                bad = dict(v, start="2099-01-01", end="2000-01-01")
                add(
                    Mutation(
                        "broken-invariant",
                        name,
                        _set(res, site, bad),
                        fp,
                        ("per-1",),
                        f"{elem.path} start after end",
                    )
                )
            if tcode == "Narrative" and "div" in v:
                bad = dict(v, div='<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>')
                add(
                    Mutation(
                        "broken-invariant",
                        name,
                        _set(res, site, bad),
                        f"{fp}.div",
                        ("txt-1", "txt-2"),
                        f"{elem.path}.div with <script>",
                    )
                )
            if elem.path == "Composition.section" and "entry" in v:
                bad = dict(v, emptyReason={"text": "none"})
                add(
                    Mutation(
                        "broken-invariant",
                        name,
                        _set(res, site, bad),
                        fp,
                        ("cmp-2",),
                        "section with entry and emptyReason",
                    )
                )
            if elem.path == "Composition.section":
                bad = {k: x for k, x in v.items() if k not in ("text", "entry", "section")}
                bad["title"] = bad.get("title", "t")
                add(
                    Mutation(
                        "broken-invariant",
                        name,
                        _set(res, site, bad),
                        fp,
                        ("cmp-1",),
                        "section without text, entry or section",
                    )
                )
    # resource-level invariants
    current[:] = [
        Site(
            res["resourceType"],
            res,
            "",
            None,
            registry.get(res["resourceType"]).root,
            res["resourceType"],
            res,
        )
    ]
    rtype = res["resourceType"]
    if "DomainResource" in registry.ancestors(rtype):
        bad = copy.deepcopy(res)
        bad.setdefault("contained", []).append(
            {"resourceType": "Basic", "id": "unreferenced-x", "code": {"text": "x"}}
        )
        add(
            Mutation(
                "broken-invariant",
                name,
                bad,
                f"{rtype}.contained[{len(bad['contained']) - 1}]",
                ("dom-3",),
                "contained resource never referenced",
            )
        )
    return out


def _children(site: Site, registry: ModelRegistry) -> dict:
    elem, model = site.elem, site.elem.owner
    if elem.content_ref:
        return model.children.get(elem.content_ref.split("#", 1)[1], {})
    if elem.path in model.has_children and site.tcode in ("BackboneElement", "Element"):
        return model.children.get(elem.path, {})
    dt = registry.get(site.tcode)
    return dt.children.get(dt.type, {}) if dt is not None else {}
