"""StructureDefinition snapshots compiled into lookup tables the walker can use directly.

A ``TypeModel`` is built once per StructureDefinition. For every element path that has children it
maps each JSON property name to ``(ElementDef, type_code)``: choice elements are expanded
(``value[x]`` gives ``valueString``, ``valueQuantity`` ...), so the walker resolves a property with
one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evidence_publisher.constants import CORE_SD, FHIR_TYPE_EXT, FHIRPATH_STRING
from evidence_publisher.validate.definitions import DefinitionSource

IMPLEMENTS_EXT = CORE_SD + "structuredefinition-implements"

PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "integer64",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    }
)
_SYSTEM_TYPES = {
    FHIRPATH_STRING: "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str  # "error" | "warning"
    human: str
    expression: str
    source: str


@dataclass(slots=True)
class TypeRef:
    code: str
    target_profiles: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()


@dataclass(slots=True)
class ElementDef:
    path: str
    name: str  # JSON base name ("value" for value[x])
    min: int
    max: int | None  # None means "*"
    array: bool  # JSON array form, from base.max
    types: tuple[TypeRef, ...]
    choice: bool
    content_ref: str | None
    binding: tuple[str, str] | None  # (strength, value set url without version)
    fixed: Any = None
    pattern: Any = None
    constraints: tuple[Constraint, ...] = ()
    max_length: int | None = None
    owner: TypeModel | None = field(default=None, repr=False)
    # in a slice view: the resource types a Resource-typed element declared (its types became Resource)
    resource_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str  # value | pattern | type | exists | profile | position
    path: str  # "$this" or a FHIRPath such as "code.coding.code"


@dataclass(slots=True)
class Slice:
    name: str
    element: ElementDef  # the slice's own definition (min/max, types, fixed/pattern, binding)
    view: TypeModel  # the profile seen from inside the slice: its sub-elements replace the base ones


@dataclass(slots=True)
class Slicing:
    """One sliced element of a profile (``ElementDefinition.slicing``) and its slices."""

    element: ElementDef
    discriminators: tuple[Discriminator, ...]
    rules: str  # open | closed | openAtEnd
    ordered: bool
    slices: tuple[Slice, ...]
    matchers: Any = None  # compiled by slicing.py on first use


def _type_code(t: dict) -> str:
    code = t.get("code", "")
    for ext in t.get("extension", ()):
        if ext.get("url") == FHIR_TYPE_EXT:
            return ext.get("valueUrl") or ext.get("valueUri") or code
    return _SYSTEM_TYPES.get(code, code)


def _max(value: str | None) -> int | None:
    if value in (None, "*"):
        return None
    return int(value)


def _cap(code: str) -> str:
    return code[0].upper() + code[1:]


class TypeModel:
    """Compiled snapshot of one StructureDefinition."""

    def __init__(
        self, sd: dict, *, view_of: TypeModel | None = None, view_elements: list[dict] | None = None
    ) -> None:
        self.sd = sd
        self.url: str = sd.get("url", "")
        self.type: str = sd.get("type", "")
        self.name: str = sd.get("name", self.type)
        self.kind: str = sd.get("kind", "")
        self.base: str | None = sd.get("baseDefinition")
        self.abstract: bool = bool(sd.get("abstract"))
        self.elements: dict[str, ElementDef] = {}
        # parent path -> {json property name -> (element, type code or None)}
        self.children: dict[str, dict[str, tuple[ElementDef, str | None]]] = {}
        self.has_children: set[str] = set()
        # slices on Extension.extension (complex extensions): slice url -> element id prefix
        self.extension_slices: dict[str, dict[str, ElementDef]] = {}
        # slicing is compiled on demand (only the walk of a claimed profile uses it)
        self._view_elements = view_elements
        self._slicings: dict[str, Slicing] | None = None
        self._slice_prefixes: frozenset[str] = frozenset()
        if view_of is not None and view_elements is not None:
            self._compile_view(view_of, view_elements)
        else:
            self._compile()

    @property
    def root(self) -> ElementDef:
        return self.elements[self.type]

    @property
    def is_modifier(self) -> bool:
        """An extension definition whose root element is a modifier (``isModifier``)."""
        snapshot = self.sd.get("snapshot", {}).get("element") or [{}]
        return bool(snapshot[0].get("isModifier"))

    def _compile(self) -> None:
        snapshot = self.sd.get("snapshot", {}).get("element", [])
        slices: dict[str, dict[str, dict]] = {}
        for raw in snapshot:
            eid: str = raw.get("id") or raw["path"]
            if ":" in eid:
                slices.setdefault(eid.split(":", 1)[1].split(".", 1)[0], {})[eid] = raw
                continue
            el = self._element(raw)
            self.elements[el.path] = el
        for path, el in self.elements.items():
            if "." not in path:
                continue
            parent = path.rsplit(".", 1)[0]
            self.has_children.add(parent)
            table = self.children.setdefault(parent, {})
            if el.choice:
                for t in el.types:
                    table[el.name + _cap(t.code)] = (el, t.code)
            else:
                table[el.name] = (el, el.types[0].code if len(el.types) == 1 else None)
        if self.type == "Extension":
            self._compile_extension_slices(slices)

    # ------------------------------------------------------------------ slicing
    def slicings(self, is_resource_type: Callable[[str], bool]) -> dict[str, Slicing]:
        """Sliced element path -> Slicing, for every slicing that has slices (not extension slicing).

        Each slice gets a view: a TypeModel whose tables are this model's, with the slice's
        sub-elements (``<base id>:<sliceName>.x``) in place of the base element's subtree.
        """
        if self._slicings is None:
            self._slicings = self._compile_slicings(is_resource_type)
            prefixes: set[str] = set()
            for path in self._slicings:
                parts = path.split(".")
                prefixes.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            self._slice_prefixes = frozenset(prefixes)
        return self._slicings

    def slice_prefixes(self) -> frozenset[str]:
        """Paths that are sliced or lead to a sliced element (after ``slicings()``)."""
        return self._slice_prefixes

    def _raw_elements(self) -> list[dict]:
        if self._view_elements is not None:
            return self._view_elements
        return self.sd.get("snapshot", {}).get("element", [])

    def _compile_slicings(self, is_resource_type: Callable[[str], bool]) -> dict[str, Slicing]:
        raws = self._raw_elements()
        heads: dict[str, dict] = {}
        named: dict[str, list[tuple[str, dict]]] = {}
        for raw in raws:
            eid: str = raw.get("id") or raw["path"]
            if ":" not in eid:
                if raw.get("slicing"):
                    heads[eid] = raw
                continue
            name = raw.get("sliceName")
            if not name or not eid.endswith(":" + name) or "/" in name:
                continue  # a slice's sub-element, or a re-slice (not supported)
            base = eid[: -len(name) - 1]
            if ":" not in base:
                named.setdefault(base, []).append((name, raw))
        out: dict[str, Slicing] = {}
        for base, slice_raws in named.items():
            head = heads.get(base)
            if head is None or base.rsplit(".", 1)[-1] in ("extension", "modifierExtension"):
                continue  # extensions are matched by url in the walker
            head_el = self.elements.get(head["path"])
            if head_el is None:
                continue
            slices: list[Slice] = []
            for name, raw in slice_raws:
                prefix = f"{base}:{name}"
                sub = [{**raw, "id": base}]
                for r in raws:
                    rid = r.get("id") or ""
                    if rid.startswith(prefix + "."):
                        sub.append({**r, "id": base + rid[len(prefix) :]})
                view = TypeModel(self.sd, view_of=self, view_elements=sub)
                view._resource_typed(is_resource_type)
                slices.append(Slice(name, view.elements[raw["path"]], view))
            spec = head.get("slicing", {})
            discs = tuple(
                Discriminator(d.get("type", ""), d.get("path", "$this"))
                for d in spec.get("discriminator", ())
            )
            out[head_el.path] = Slicing(
                head_el, discs, spec.get("rules", "open"), bool(spec.get("ordered")), tuple(slices)
            )
        return out

    def _compile_view(self, parent: TypeModel, raws: list[dict]) -> None:
        root_path = raws[0]["path"]
        own: dict[str, ElementDef] = {}
        for raw in raws:
            if ":" in (raw.get("id") or raw["path"]):
                continue  # a nested slice: compiled by this view's own slicings()
            el = self._element(raw)
            own[el.path] = el
        self.elements = {**parent.elements, **own}
        children: dict[str, dict[str, tuple[ElementDef, str | None]]] = {}
        for path, el in own.items():
            if path == root_path:
                continue  # the slice itself stays out of its parent's table
            table = children.setdefault(path.rsplit(".", 1)[0], {})
            if el.choice:
                for t in el.types:
                    table[el.name + _cap(t.code)] = (el, t.code)
            else:
                table[el.name] = (el, el.types[0].code if len(el.types) == 1 else None)
        self.children = {**parent.children, **children}
        self.has_children = parent.has_children | set(children)

    def _resource_typed(self, is_resource_type: Callable[[str], bool]) -> None:
        """A slice child typed as a concrete resource (Bundle.entry:x.resource) is walked as Resource."""
        for table in self.children.values():
            for key, (el, t) in list(table.items()):
                if el.owner is not self or not el.types or el.resource_types:
                    continue
                codes = tuple(t.code for t in el.types)
                if all(is_resource_type(c) for c in codes):
                    el.resource_types = codes
                    el.types = (TypeRef("Resource"),)
                if el.resource_types:
                    table[key] = (el, "Resource")

    def _compile_extension_slices(self, slices: dict[str, dict[str, dict]]) -> None:
        for slice_name, raws in slices.items():
            head = raws.get(f"Extension.extension:{slice_name}")
            if head is None:
                continue
            url = slice_name
            table: dict[str, ElementDef] = {"": self._element(head)}
            for eid, raw in raws.items():
                if eid.endswith(".url") and raw.get("fixedUri"):
                    url = raw["fixedUri"]
                if eid.endswith(".value[x]"):
                    table["value"] = self._element(raw)
            self.extension_slices[url] = table

    def _element(self, raw: dict) -> ElementDef:
        path: str = raw["path"]
        last = path.rsplit(".", 1)[-1]
        choice = last.endswith("[x]")
        name = last[:-3] if choice else last
        types = tuple(
            TypeRef(
                _type_code(t),
                tuple(t.get("targetProfile", ())),
                tuple(t.get("profile", ())),
            )
            for t in raw.get("type", ())
        )
        base_max = raw.get("base", {}).get("max", raw.get("max"))
        binding = None
        b = raw.get("binding")
        if b and b.get("valueSet") and b.get("strength") in ("required", "extensible"):
            binding = (b["strength"], b["valueSet"].split("|", 1)[0])
        fixed = pattern = None
        for k, v in raw.items():
            if k.startswith("fixed"):
                fixed = v
            elif k.startswith("pattern"):
                pattern = v
        constraints = tuple(
            Constraint(
                c["key"],
                c.get("severity", "error"),
                c.get("human", ""),
                c.get("expression", ""),
                c.get("source", ""),
            )
            for c in raw.get("constraint", ())
            if c.get("expression")
        )
        return ElementDef(
            path=path,
            name=name,
            min=int(raw.get("min", 0)),
            max=_max(raw.get("max")),
            array=base_max != "1" and "." in path,
            types=types,
            choice=choice,
            content_ref=raw.get("contentReference"),
            binding=binding,
            fixed=fixed,
            pattern=pattern,
            constraints=constraints,
            max_length=raw.get("maxLength"),
            owner=self,
        )


class ModelRegistry:
    """Compiles and caches ``TypeModel`` objects on demand."""

    def __init__(self, definitions: DefinitionSource) -> None:
        self.definitions = definitions
        self._models: dict[str, TypeModel | None] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}

    def get(self, url_or_type: str) -> TypeModel | None:
        key = url_or_type if "/" in url_or_type else CORE_SD + url_or_type
        if key in self._models:
            return self._models[key]
        sd = self.definitions.structure_definition(key)
        model = TypeModel(sd) if sd and sd.get("snapshot") else None
        self._models[key] = model
        return model

    def ancestors(self, type_name: str) -> tuple[str, ...]:
        """The type and its base types, e.g. Evidence, MetadataResource, DomainResource ..."""
        if type_name in self._ancestors:
            return self._ancestors[type_name]
        chain: list[str] = []
        current: str | None = CORE_SD + type_name
        while current and len(chain) < 12:
            sd = self.definitions.structure_definition(current)
            if sd is None:
                break
            name = sd.get("type") if sd.get("derivation") != "constraint" else sd.get("id")
            if not isinstance(name, str):
                break
            chain.append(name)
            chain.extend(self._interfaces(sd, 0))
            current = sd.get("baseDefinition")
        result = tuple(dict.fromkeys(chain))
        self._ancestors[type_name] = result
        return result

    def _interfaces(self, sd: dict, depth: int) -> list[str]:
        """The interfaces a definition implements, and theirs (MetadataResource implements
        CanonicalResource, so CodeSystem is a CanonicalResource too)."""
        out: list[str] = []
        for ext in sd.get("extension", ()):
            uri = ext.get("valueUri") if ext.get("url") == IMPLEMENTS_EXT else None
            if not isinstance(uri, str) or depth > 4:
                continue
            out.append(uri.rsplit("/", 1)[-1])
            iface = self.definitions.structure_definition(uri)
            if iface is not None:
                out.extend(self._interfaces(iface, depth + 1))
        return out

    def is_resource_type(self, name: str) -> bool:
        m = self.get(name)
        return m is not None and m.kind == "resource" and not m.abstract and m.type == name
