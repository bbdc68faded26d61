"""Slicing: which slice each item of a sliced array belongs to, and the slice-level rules.

A claimed profile's ``Slicing`` (compiled in ``model.py``) names discriminators; each slice
defines, at the discriminator path, a fixed/pattern value (``value``/``pattern``), a type
(``type``) or a cardinality that says present/absent (``exists``). An item belongs to the first
slice whose every discriminator matches. Then: each slice's min/max (``slice-cardinality``),
items in no slice of a closed slicing (``slice-closed``) and, for ordered slicings or
``openAtEnd``, items out of order (``slice-order``).

Discriminators this module cannot decide (``profile``, ``position``, paths with ``resolve()``,
``extension(url)``, ``ofType()``, or a slice without a value at the path) make the whole
slicing undecidable: one ``slice-undecidable`` warning at the sliced element, no slice checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evidence_publisher.validate import native
from evidence_publisher.validate.model import ElementDef, Slice, Slicing, TypeModel
from evidence_publisher.validate.outcome import Issue

# (mode, expected): mode "fixed" compares with deep equality, "pattern" as a subset
Alternative = tuple[str, Any]
# every requirement must hold; a requirement holds when some value at the path matches one of
# its alternatives
Requirements = list[list[Alternative]]
Matcher = Callable[[Any, str], bool]


class Undecidable(Exception):
    """The slice an item belongs to cannot be decided by this engine."""


@dataclass(frozen=True, slots=True)
class Item:
    value: Any
    tcode: str  # the item's type: the choice type, a resource's resourceType, or the element type
    fp: str  # exact FHIRPath of the item


def assign(
    slicing: Slicing, items: list[Item], base_fp: str, is_resource_type: Callable[[str], bool]
) -> tuple[list[Slice | None], list[Issue]]:
    """The slice of each item (None: in no slice) and the slicing issues."""
    try:
        matchers = _matchers(slicing, is_resource_type)
    except Undecidable as exc:
        if items:
            return [None] * len(items), [
                Issue(
                    "warning",
                    "not-supported",
                    base_fp,
                    f"slicing of {slicing.element.path} not checked: {exc}",
                    "slice-undecidable",
                )
            ]
        matchers = None  # no items: only the slices' minimums can be checked, and they can
    slot: list[int | None] = []
    for item in items:
        hit = None
        for idx, match in enumerate(matchers or ()):
            if match(item.value, item.tcode):
                hit = idx
                break
        slot.append(hit)
    return [None if i is None else slicing.slices[i] for i in slot], _rules(slicing, items, slot, base_fp)


def _rules(slicing: Slicing, items: list[Item], slot: list[int | None], base_fp: str) -> list[Issue]:
    path = slicing.element.path
    issues: list[Issue] = []
    for idx, s in enumerate(slicing.slices):
        members = [items[i] for i, x in enumerate(slot) if x == idx]
        n = len(members)
        lo, hi = s.element.min, s.element.max
        if n < lo:
            issues.append(
                Issue(
                    "error",
                    "required",
                    base_fp,
                    f"slice {s.name!r} of {path} requires at least {lo} item(s), found {n}: add an "
                    "item that matches the slice's discriminator (" + _describe(slicing) + ")",
                    "slice-cardinality",
                )
            )
        elif hi is not None and n > hi:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    members[hi].fp,
                    f"slice {s.name!r} of {path} allows at most {hi} item(s), found {n}: remove "
                    "this item or change it so that it leaves the slice",
                    "slice-cardinality",
                )
            )
    names = ", ".join(repr(s.name) for s in slicing.slices)
    if slicing.rules == "closed":
        for item, x in zip(items, slot, strict=True):
            if x is None:
                issues.append(
                    Issue(
                        "error",
                        "structure",
                        item.fp,
                        f"item matches none of the slices {names} of {path}, and the slicing is "
                        f"closed ({_describe(slicing)}): remove it or make it match a slice",
                        "slice-closed",
                    )
                )
    if slicing.ordered or slicing.rules == "openAtEnd":
        high: int | None = None
        open_seen = False
        for item, x in zip(items, slot, strict=True):
            if x is None:
                open_seen = True
                continue
            if slicing.rules == "openAtEnd" and open_seen:
                issues.append(
                    Issue(
                        "error",
                        "structure",
                        item.fp,
                        f"item of slice {slicing.slices[x].name!r} follows an item in no slice, but "
                        f"{path} allows other items only at the end (openAtEnd)",
                        "slice-order",
                    )
                )
            elif slicing.ordered and high is not None and x < high:
                issues.append(
                    Issue(
                        "error",
                        "structure",
                        item.fp,
                        f"item of slice {slicing.slices[x].name!r} comes after an item of slice "
                        f"{slicing.slices[high].name!r}, but the slicing of {path} is ordered "
                        f"({names}): move it before",
                        "slice-order",
                    )
                )
            high = x if high is None else max(high, x)
    return issues


def _describe(slicing: Slicing) -> str:
    return ", ".join(f"{d.type} at {d.path}" for d in slicing.discriminators) or "no discriminator"


# ---------------------------------------------------------------------- matchers
def _matchers(slicing: Slicing, is_resource_type: Callable[[str], bool]) -> list[Matcher]:
    if slicing.matchers is None:
        try:
            if not slicing.discriminators:
                raise Undecidable("it has no discriminator")
            matchers = []
            for s in slicing.slices:
                try:
                    matchers.append(_slice_matcher(slicing, s, is_resource_type))
                except Undecidable as exc:
                    raise Undecidable(f"slice {s.name!r}: {exc}") from None
            slicing.matchers = matchers
        except Undecidable as exc:
            slicing.matchers = exc
    if isinstance(slicing.matchers, Undecidable):
        raise slicing.matchers
    return slicing.matchers


def _slice_matcher(slicing: Slicing, s: Slice, is_resource_type: Callable[[str], bool]) -> Matcher:
    tests: list[Matcher] = []
    for d in slicing.discriminators:
        segs = _segments(d.path)
        if d.type in ("value", "pattern"):
            tests.append(_value_test(segs, _expected(s.view, s.element, segs, d.path, is_resource_type)))
        elif d.type == "type":
            el = _element_at(s.view, s.element, segs, d.path)
            codes = frozenset(el.resource_types or tuple(t.code for t in el.types))
            if not codes:
                raise Undecidable(f"slice {s.name!r} declares no type at {d.path!r}")
            tests.append(_type_test(segs, codes, is_resource_type))
        elif d.type == "exists":
            el = _element_at(s.view, s.element, segs, d.path)
            if el.min >= 1:
                tests.append(_exists_test(segs, True))
            elif el.max == 0:
                tests.append(_exists_test(segs, False))
            else:
                raise Undecidable(f"slice {s.name!r} neither requires nor forbids {d.path!r}")
        else:
            raise Undecidable(f"{d.type!r} discriminators (at {d.path!r}) are not supported")
    return lambda value, tcode: all(t(value, tcode) for t in tests)


def _segments(path: str) -> list[str]:
    if path == "$this":
        return []
    segs = path.split(".")
    for seg in segs:
        if not seg or not (seg[0].isalpha() and all(c.isalnum() or c == "_" for c in seg)):
            raise Undecidable(f"discriminator path {path!r} is not a plain element path")
    return segs


def _child(view: TypeModel, el: ElementDef, seg: str) -> ElementDef | None:
    return view.elements.get(f"{el.path}.{seg}") or view.elements.get(f"{el.path}.{seg}[x]")


def _element_at(view: TypeModel, el: ElementDef, segs: list[str], path: str) -> ElementDef:
    for seg in segs:
        nxt = _child(view, el, seg)
        if nxt is None:
            raise Undecidable(f"no element {el.path}.{seg} for discriminator {path!r}")
        el = nxt
    return el


def _expected(
    view: TypeModel,
    el: ElementDef,
    segs: list[str],
    path: str,
    is_resource_type: Callable[[str], bool],
) -> Requirements:
    """What a slice requires at the discriminator path, from fixed/pattern values on the way."""
    for mode, fixed in (("fixed", el.fixed), ("pattern", el.pattern)):
        if fixed is not None:
            found = _values(fixed, segs)
            if not found:
                raise Undecidable(f"{el.path} fixes no value at {path!r}")
            return [[(mode, v)] for v in found]
    if not segs:
        raise Undecidable(f"{el.path} has no fixed or pattern value for discriminator {path!r}")
    nxt = _child(view, el, segs[0])
    if nxt is not None:
        try:
            return _expected(view, nxt, segs[1:], path, is_resource_type)
        except Undecidable:
            pass
    # the path runs through a sliced element (code.coding with a LOINC slice): its slices decide
    sub = view.slicings(is_resource_type).get(el.path)
    if sub is None:
        raise Undecidable(f"no fixed or pattern value at {path!r} under {el.path}")
    required = [s for s in sub.slices if s.element.min >= 1]
    parts = [_expected(s.view, s.element, segs, path, is_resource_type) for s in (required or sub.slices)]
    if required:
        return [req for p in parts for req in p]
    return [[alt for p in parts for req in p for alt in req]]


def _values(node: Any, segs: list[str]) -> list[Any]:
    """Values at a dotted path in FHIR JSON (arrays flattened, choice names matched by prefix)."""
    current = node if isinstance(node, list) else [node]
    for seg in segs:
        nxt: list[Any] = []
        for v in current:
            if not isinstance(v, dict):
                continue
            for _key, x in _named(v, seg):
                nxt.extend(x if isinstance(x, list) else [x])
        current = nxt
    return [v for v in current if v is not None]


def _named(node: dict, seg: str) -> list[tuple[str, Any]]:
    if seg in node:
        return [(seg, node[seg])]
    return [(k, x) for k, x in node.items() if k.startswith(seg) and k[len(seg) : len(seg) + 1].isupper()]


def _value_test(segs: list[str], reqs: Requirements) -> Matcher:
    def test(value: Any, _tcode: str) -> bool:
        found = _values(value, segs)
        return all(any(_alt_ok(v, alt) for v in found for alt in req) for req in reqs)

    return test


def _alt_ok(value: Any, alt: Alternative) -> bool:
    mode, expected = alt
    if mode == "fixed":
        return native.deep_equal(value, expected)
    return native.matches_pattern(value, expected)


def _type_test(segs: list[str], codes: frozenset[str], is_resource_type: Callable[[str], bool]) -> Matcher:
    caps = {c[0].upper() + c[1:]: c for c in codes}

    def test(value: Any, tcode: str) -> bool:
        if not segs:
            rtype = value.get("resourceType") if isinstance(value, dict) else None
            if isinstance(rtype, str) and is_resource_type(rtype):
                return rtype in codes
            return tcode in codes
        current: list[tuple[Any, bool | None]] = [(value, None)]
        for seg in segs:
            nxt: list[tuple[Any, bool | None]] = []
            for v, _ok in current:
                if not isinstance(v, dict):
                    continue
                for key, x in _named(v, seg):
                    ok = (key[len(seg) :] in caps) if key != seg else None  # a choice names its type
                    nxt.extend((y, ok) for y in (x if isinstance(x, list) else [x]))
            current = nxt
        for v, ok in current:
            rtype = v.get("resourceType") if isinstance(v, dict) else None
            if ok is not None:
                if ok:
                    return True
            elif isinstance(rtype, str):
                if rtype in codes:
                    return True
            else:
                return True  # not a choice, not a resource: the element's one declared type
        return False

    return test


def _exists_test(segs: list[str], present: bool) -> Matcher:
    return lambda value, _tcode: bool(_values(value, segs)) is present
