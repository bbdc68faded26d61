"""Extensions in the walk: found by url, then walked against their own definition.

An extension is checked for ext-1, then by kind: a sub-extension of a complex extension (a
relative url) against its parent's slice; an extension no installed package defines
(``extension-unknown``); a defined one for placement (modifier or not), context and, walked
against its definition's snapshot, value type and cardinality. The FHIR versions a definition
or one of its contexts is limited to (the ``version-specific-use`` extension, start/end FHIR
version) must include the validator's version (R5, or R4B with its packages). Errors of an
extension that only a pre-release package defines become warnings naming that package.
"""

from __future__ import annotations

from dataclasses import replace

from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FHIR_VERSIONS, FhirVersion
from evidence_publisher.validate.definitions import SD_BASE
from evidence_publisher.validate.model import ElementDef, TypeModel
from evidence_publisher.validate.walk.context import Node, ResourceContext
from evidence_publisher.validate.walk.crossversion import CrossVersion
from evidence_publisher.validate.walk.walking import Walking

EXTENSIONS_PACKAGE = "hl7.fhir.uv.extensions.r5"
# HL7 namespaces whose extensions one package defines: once that package is installed, an
# extension url there that it does not define is a mistake, not an extension we cannot know.
HL7_EXTENSION_HOMES = (
    (SD_BASE, EXTENSIONS_PACKAGE),
    ("http://hl7.org/fhir/tools/StructureDefinition/", "hl7.fhir.uv.tools"),
)
# On an extension definition or on one of its contexts: the FHIR versions (major.minor, e.g. 4.3)
# it may be used with (hl7.fhir.uv.extensions.r5, StructureDefinition-version-specific-use).
VERSION_SPECIFIC_USE = SD_BASE + "version-specific-use"


def _version_tuple(fhir: FhirVersion) -> tuple[int, ...]:
    return tuple(int(x) for x in fhir.version.split(".")[:2])  # (5, 0)


OUR_VERSION = _version_tuple(DEFAULT_FHIR_VERSION)


class Extensions:
    def __init__(self, walker: Walking) -> None:
        self.walker = walker
        self.registry = walker.registry
        self._ballot: dict[str, str | None] = {}
        self._installed_names: dict[str, bool] = {}
        self.cross_version = CrossVersion(self.registry.definitions)
        self.fhir = _release_of(self.registry.definitions)  # the release the definitions are of
        self.ours = _version_tuple(self.fhir)
        self._xver_parts: set[int] = set()

    def check(self, node: Node, data: dict) -> None:
        """One extension (a JSON object); ``node.parent`` is the element it extends."""
        self.walker.invariants.ext1(node, data)
        url = data.get("url")
        model = node.model
        parent_ext = model if model.type == "Extension" and model.url != SD_BASE + "Extension" else None
        relative = isinstance(url, str) and "://" not in url and not url.startswith("urn:")
        if not isinstance(url, str):
            self._generic(node, data)
        elif parent_ext is not None and relative:
            self._sub_extension(node, data, url, parent_ext)
        elif relative and id(data) in self._xver_parts:
            self._generic(node, data)
        elif relative and model.type == "Extension":
            # a sub-extension of an extension no package defines: its name is not a canonical
            # URL, so it is not looked up as one (``display`` is not the core display extension)
            self._undefined(node, data, url)
        else:
            definition = self.registry.get(url)
            if definition is None and self.cross_version.handles(url):
                self._cross_version(node, data, url)
                return
            if definition is None or definition.type != "Extension":
                self._undefined(node, data, url)
                return
            start = len(node.rc.issues)
            self._defined(node, data, url, definition, parent_ext)
            self._soften_if_ballot(node.rc, start, url)

    def _generic(self, node: Node, data: dict) -> None:
        """Walk against the base Extension definition (no definition of its own applies)."""
        generic = self.registry.get("Extension")
        assert generic is not None
        self.walker.walk_object(node.within(generic, "Extension", generic.root), data)

    def _sub_extension(self, node: Node, data: dict, url: str, parent_ext: TypeModel) -> None:
        sl = parent_ext.extension_slices.get(url)
        if sl is None:
            msg = f"sub-extension {url!r} is not defined by {parent_ext.url}"
            node.rc.error("structure", f"{node.fp}.url", msg, "extension-unknown")
        else:
            self._value_types(node, data, sl.get("value"), url)
        self._generic(node, data)

    def _cross_version(self, node: Node, data: dict, url: str) -> None:
        """An extension that carries an element of another FHIR release (see ``crossversion``)."""
        for suffix, message, rule in self.cross_version.problems(url, data):
            node.rc.error("structure", f"{node.fp}.{suffix}", message, rule)
        parts = {id(sub) for sub in _nested_extensions(data)}  # checked above, by element name
        self._xver_parts |= parts
        try:
            self._generic(node, data)
        finally:
            self._xver_parts -= parts

    def _undefined(self, node: Node, data: dict, url: str) -> None:
        modifier = node.elem.name == "modifierExtension"
        home = next(
            (pkg for base, pkg in HL7_EXTENSION_HOMES if url.startswith(base) and self._installed(pkg)), None
        )
        if modifier:
            why = " (an unknown modifier extension cannot be ignored)"
        elif home:
            why = f" (the HL7 namespace, whose extensions are all in {home})"
        else:
            why = ""
        msg = f"extension {url!r} is not defined in any installed package{why}"
        severity = "error" if modifier or home else "warning"
        node.rc.add(severity, "not-found", f"{node.fp}.url", msg, "extension-unknown")
        self._generic(node, data)

    def _defined(
        self, node: Node, data: dict, url: str, definition: TypeModel, parent_ext: TypeModel | None
    ) -> None:
        if parent_ext is None:
            self._modifier_placement(node, url, definition)
        outside = _outside_our_version(definition.sd, self.ours)
        if outside:
            ours = f"{self.fhir.release} ({self.fhir.version})"
            msg = f"extension {url!r} is defined for use with {outside}, not {ours}"
            node.error("business-rule", msg, "extension-version")
        if not self._context_ok(definition, self.walker.node_ids(node.parent), parent_ext):
            ctx = ", ".join(_context_label(c, self.ours) for c in definition.sd.get("context", ()))
            msg = f"extension {url!r} is not allowed here (its context is {ctx})"
            node.error("structure", msg, "extension-context")
        self.walker.walk_object(node.within(definition, "Extension", definition.root), data)
        if definition.extension_slices:
            self._slice_counts(node, data, definition)

    @staticmethod
    def _modifier_placement(node: Node, url: str, definition: TypeModel) -> None:
        """A modifier extension goes in ``modifierExtension`` and only there."""
        as_modifier = node.elem.name == "modifierExtension"
        if definition.is_modifier == as_modifier:
            return
        if definition.is_modifier:
            where, fix = "extension", "move it to modifierExtension"
        else:
            where, fix = "modifierExtension", "move it to extension"
        msg = (
            f"extension {url!r} is {'' if definition.is_modifier else 'not '}a modifier extension "
            f"and cannot be used in {where}: {fix}"
        )
        node.error("structure", msg, "extension-modifier")

    def _context_ok(
        self, definition: TypeModel, node_ids: frozenset[str], parent_ext: TypeModel | None
    ) -> bool:
        contexts = definition.sd.get("context") or ()
        if not contexts:
            return True
        for c in contexts:
            if _outside_our_version(c, self.ours):
                continue
            expr = c.get("expression", "")
            if c.get("type") == "extension":
                if parent_ext is not None and parent_ext.url == expr:
                    return True
                continue
            if c.get("type") == "fhirpath":
                return True
            if expr in node_ids:
                return True
        return False

    @staticmethod
    def _slice_counts(node: Node, data: dict, definition: TypeModel) -> None:
        """Cardinality of a complex extension's sub-extensions, by url."""
        subs = [x.get("url") for x in data.get("extension") or () if isinstance(x, dict)]
        for url, table in definition.extension_slices.items():
            head = table[""]
            n = subs.count(url)
            if n < head.min or (head.max is not None and n > head.max):
                bound = f"{head.min}..{'*' if head.max is None else head.max}"
                msg = f"sub-extension {url!r} of {definition.url} must occur {bound} times (found {n})"
                code = "required" if n < head.min else "structure"
                node.rc.error(code, f"{node.fp}.extension", msg, "cardinality")

    @staticmethod
    def _value_types(node: Node, data: dict, value_elem: ElementDef | None, url: str) -> None:
        """A sub-extension's value[x] against its slice's value element."""
        if value_elem is None:
            return
        present = [k for k in data if k.startswith("value")]
        allowed = {"value" + t.code[0].upper() + t.code[1:] for t in value_elem.types}
        for k in present:
            if allowed and k not in allowed:
                msg = f"sub-extension {url!r} does not allow {k}"
                node.rc.error("structure", f"{node.fp}.{k}", msg, "extension-type")
        if value_elem.min > 0 and not present and "extension" not in data:
            msg = f"sub-extension {url!r} requires a value"
            node.rc.error("required", f"{node.fp}.value", msg, "cardinality")

    # ------------------------------------------------------------------ which packages define it
    def _installed(self, name: str) -> bool:
        """Is package ``name`` (or a version-specific variant, ``name.r5``) installed?"""
        if name not in self._installed_names:
            packages = getattr(self.registry.definitions, "packages", ())
            names = [getattr(p, "name", "") for p in packages]
            self._installed_names[name] = any(n == name or n.startswith(name + ".") for n in names)
        return self._installed_names[name]

    def _soften_if_ballot(self, rc: ResourceContext, start: int, url: str) -> None:
        """A definition only a pre-release package has may still change: its errors (from
        ``rc.issues[start:]``) become warnings naming the package."""
        ballot = self._ballot_only(url)
        if ballot is None:
            return
        note = f" (defined only in the pre-release {ballot})"
        rc.issues[start:] = [
            replace(i, severity="warning", message=i.message + note) if i.severity == "error" else i
            for i in rc.issues[start:]
        ]

    def _ballot_only(self, url: str) -> str | None:
        """The pre-release package (e.g. hl7.fhir.uv.extensions.r5#5.3.0-ballot-tc1) that alone
        defines extension ``url``, or None when a released package vouches for it."""
        if url in self._ballot:
            return self._ballot[url]
        defs = self.registry.definitions
        package_of = getattr(defs, "package_of", None)
        released = getattr(defs, "released_extension_urls", None)
        pkg = package_of(url) if package_of is not None else None
        answer = None
        if pkg is not None and released is not None and "-" in pkg.version and url not in released():
            answer = f"{pkg.name}#{pkg.version}"
        self._ballot[url] = answer
        return answer


def _nested_extensions(data: dict) -> list[dict]:
    out = []
    for sub in data.get("extension") or ():
        if isinstance(sub, dict):
            out.append(sub)
            out.extend(_nested_extensions(sub))
    return out


def _outside_our_version(element: dict, ours: tuple[int, ...] = OUR_VERSION) -> str:
    """The FHIR version range ``element`` (a definition or one of its contexts) is limited to by
    its version-specific-use extension, when ``ours`` (R5 unless told) is outside it ("FHIR
    versions up to 4.3"); empty when there is no limit, ``ours`` is inside it, or a bound is not
    a version."""
    for x in element.get("extension") or ():
        if not isinstance(x, dict) or x.get("url") != VERSION_SPECIFIC_USE:
            continue
        bounds = {
            y.get("url"): _major_minor(y.get("valueCode"))
            for y in x.get("extension") or ()
            if isinstance(y, dict)
        }
        start, end = bounds.get("startFhirVersion"), bounds.get("endFhirVersion")
        if start is not None and ours < start[0]:
            return f"FHIR versions from {start[1]}"
        if end is not None and ours > end[0]:
            return f"FHIR versions up to {end[1]}"
    return ""


def _major_minor(value: object) -> tuple[tuple[int, ...], str] | None:
    """``("4.3", ...)`` as ``((4, 3), "4.3")``; None for anything that is not a version."""
    if not isinstance(value, str):
        return None
    parts = value.split(".")[:2]
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts), value


def _release_of(definitions: object) -> FhirVersion:
    """The FHIR version whose core package (or its stand-in) the definitions hold first (R5 when
    none is known)."""
    for pkg in getattr(definitions, "packages", ()):
        name = getattr(pkg, "name", "")
        for fhir in FHIR_VERSIONS.values():
            if name in fhir.core_names:
                return fhir
    return DEFAULT_FHIR_VERSION


def _context_label(context: dict, ours: tuple[int, ...] = OUR_VERSION) -> str:
    label = str(context.get("expression", "?"))
    outside = _outside_our_version(context, ours)
    return f"{label} (for {outside})" if outside else label
