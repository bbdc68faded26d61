"""Extensions in the walk: found by url, then walked against their own definition.

An extension is checked for ext-1, then by kind: a sub-extension of a complex extension (a
relative url) against its parent's slice; an extension no installed package defines
(``extension-unknown``); a defined one for placement (modifier or not), context and, walked
against its definition's snapshot, value type and cardinality. Errors of an extension that only
a pre-release package defines become warnings naming that package.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from evidence_publisher.validate.definitions import SD_BASE
from evidence_publisher.validate.model import ElementDef, TypeModel
from evidence_publisher.validate.walk.context import Node, ResourceContext

if TYPE_CHECKING:
    from evidence_publisher.validate.walk.walker import Walker

EXTENSIONS_PACKAGE = "hl7.fhir.uv.extensions.r5"


class Extensions:
    def __init__(self, walker: Walker) -> None:
        self.walker = walker
        self.registry = walker.registry
        self._ballot: dict[str, str | None] = {}
        self._pack_installed: bool | None = None

    def check(self, node: Node, data: dict) -> None:
        """One extension (a JSON object); ``node.parent`` is the element it extends."""
        self.walker.invariants.ext1(node, data)
        url = data.get("url")
        model = node.model
        parent_ext = model if model.type == "Extension" and model.url != SD_BASE + "Extension" else None
        if not isinstance(url, str):
            self._generic(node, data)
        elif parent_ext is not None and "://" not in url and not url.startswith("urn:"):
            self._sub_extension(node, data, url, parent_ext)
        else:
            definition = self.registry.get(url)
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

    def _undefined(self, node: Node, data: dict, url: str) -> None:
        modifier = node.elem.name == "modifierExtension"
        core = url.startswith(SD_BASE) and self._extensions_package_installed()
        if modifier:
            why = " (an unknown modifier extension cannot be ignored)"
        elif core:
            why = f" (the HL7 namespace, whose extensions are all in {EXTENSIONS_PACKAGE})"
        else:
            why = ""
        msg = f"extension {url!r} is not defined in any installed package{why}"
        severity = "error" if modifier or core else "warning"
        node.rc.add(severity, "not-found", f"{node.fp}.url", msg, "extension-unknown")
        self._generic(node, data)

    def _defined(
        self, node: Node, data: dict, url: str, definition: TypeModel, parent_ext: TypeModel | None
    ) -> None:
        if parent_ext is None:
            self._modifier_placement(node, url, definition)
        if not self._context_ok(definition, self.walker.node_ids(node.parent), parent_ext):
            ctx = ", ".join(c.get("expression", "?") for c in definition.sd.get("context", ()))
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

    @staticmethod
    def _context_ok(definition: TypeModel, node_ids: frozenset[str], parent_ext: TypeModel | None) -> bool:
        contexts = definition.sd.get("context") or ()
        if not contexts:
            return True
        for c in contexts:
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
    def _extensions_package_installed(self) -> bool:
        if self._pack_installed is None:
            packages = getattr(self.registry.definitions, "packages", ())
            self._pack_installed = any(getattr(p, "name", "") == EXTENSIONS_PACKAGE for p in packages)
        return self._pack_installed

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
