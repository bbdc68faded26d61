"""Cross-version extensions, checked against the element they carry.

The FHIR cross-version rules give every element of one release an extension in the others:
``http://hl7.org/fhir/<major.minor>/StructureDefinition/extension-<Path>``. Where no installed
package defines such an extension (the generated packages, hl7.fhir.uv.xver-*, are not on npm),
it is checked against the element ``Path`` of that release's own definitions (``cross_version``
of the packages stage's ``Definitions``): the value has one of the element's types; a backbone
element is a complex extension whose sub-extensions are the element's children by name (``event``
for ``event[x]``), each checked the same way, at most ``max`` times. An element of a datatype whose
content differs between the two releases is either a value of that type (walked in this release's
shape, as HL7's definitions carry it) or a complex extension of its R5 children.
"""

from __future__ import annotations

import re
from typing import Any

_URL = re.compile(r"^http://hl7\.org/fhir/(\d+\.\d+)/StructureDefinition/extension-([A-Za-z][A-Za-z0-9.]*)$")
_VALUE = re.compile(r"^value([A-Z][A-Za-z0-9]*)$")
_INHERITED = frozenset({"id", "extension", "modifierExtension"})
_PRIMITIVE_TYPES = frozenset(
    "base64Binary boolean canonical code date dateTime decimal id instant integer integer64 markdown oid "
    "positiveInt string time unsignedInt uri url uuid".split()
)

Problem = tuple[str, str, str]  # (fhirpath suffix, message, rule)


class CrossVersion:
    """Answers for the release whose elements ``definitions.cross_version`` defines."""

    def __init__(self, definitions: Any) -> None:
        self.source = getattr(definitions, "cross_version", None)
        self.own = definitions
        self.version = _major_minor(self.source)
        self._elements: dict[str, dict[str, dict] | None] = {}
        self._differs: dict[str, bool] = {}

    def handles(self, url: str) -> bool:
        match = _URL.match(url)
        return match is not None and self.version is not None and match.group(1) == self.version

    def problems(self, url: str, data: dict) -> list[Problem]:
        """What is wrong with extension ``data`` (empty: it carries its element correctly)."""
        match = _URL.match(url)
        assert match is not None
        path = match.group(2)
        elem = self._element(path)
        if elem is None:
            return [
                ("url", f"FHIR {self.version} has no element {path} for {url!r} to carry", "xver-element")
            ]
        return self._check(data, path, elem, "")

    # ------------------------------------------------------------------ elements
    def _elements_of(self, type_name: str) -> dict[str, dict] | None:
        if type_name not in self._elements:
            sd = self.source.structure_definition(type_name) if self.source is not None else None
            snapshot = (sd or {}).get("snapshot", {}).get("element", [])
            self._elements[type_name] = {e["path"]: e for e in snapshot} if sd else None
        return self._elements[type_name]

    def _element(self, path: str) -> dict | None:
        elements = self._elements_of(path.split(".", 1)[0])
        return elements.get(path) if elements else None

    def _children(self, path: str, elem: dict) -> dict[str, tuple[str, dict]]:
        """Sub-extension name -> (element path, element) of the children of ``elem``."""
        ref = elem.get("contentReference")
        if isinstance(ref, str):
            path = ref.split("#", 1)[1]
        elif not self._is_backbone(elem):
            path = elem["type"][0]["code"]  # a datatype whose content differs: its own elements
        elements = self._elements_of(path.split(".", 1)[0]) or {}
        out: dict[str, tuple[str, dict]] = {}
        for child_path, child in elements.items():
            parent, _, name = child_path.rpartition(".")
            if parent == path and name not in _INHERITED:
                out[name.removesuffix("[x]")] = (child_path, child)
        return out

    @staticmethod
    def _is_backbone(elem: dict) -> bool:
        return "contentReference" in elem or [t.get("code") for t in elem.get("type", ())] in (
            ["BackboneElement"],
            ["Element"],
        )

    def _complex(self, elem: dict) -> bool:
        if self._is_backbone(elem):
            return True
        types = [t.get("code") for t in elem.get("type", ())]
        return len(types) == 1 and self._content_differs(str(types[0]))

    def _content_differs(self, type_name: str) -> bool:
        """A datatype with elements in the source release that this release's type lacks."""
        if type_name in _PRIMITIVE_TYPES:
            return False
        if type_name not in self._differs:
            theirs = self._elements_of(type_name) or {}
            sd = self.own.structure_definition(type_name)
            ours = {e["path"] for e in (sd or {}).get("snapshot", {}).get("element", [])}
            self._differs[type_name] = sd is None or any(p not in ours for p in theirs)
        return self._differs[type_name]

    # ------------------------------------------------------------------ checks
    def _check(self, data: dict, path: str, elem: dict, at: str) -> list[Problem]:
        values = [k for k in data if _VALUE.match(k)]
        subs = [s for s in data.get("extension") or () if isinstance(s, dict)]
        # A datatype whose content differs may also be carried as a value of that type, in this
        # release's shape (HL7's cross-version definitions type Composition.relatesTo so).
        if self._complex(elem) and not (values and not self._is_backbone(elem)):
            if values:
                msg = f"{path} is carried as a complex extension (sub-extensions per child), not {values[0]}"
                return [(f"{at}{values[0]}", msg, "xver-value")]
            return self._check_children(subs, path, elem, at)
        if len(values) != 1:
            return [(f"{at}value", f"the extension for {path} needs one value[x]", "xver-value")]
        allowed = {t.get("code") for t in elem.get("type", ())}
        type_name = _VALUE.match(values[0]).group(1)  # type: ignore[union-attr]
        if type_name not in allowed and type_name[0].lower() + type_name[1:] not in allowed:
            shown = ", ".join(sorted(str(a) for a in allowed))
            msg = f"{values[0]} is not a type of {path} ({shown})"
            return [(f"{at}{values[0]}", msg, "xver-value")]
        return []

    def _check_children(self, subs: list[dict], path: str, elem: dict, at: str) -> list[Problem]:
        children = self._children(path, elem)
        problems: list[Problem] = []
        counts: dict[str, int] = {}
        for i, sub in enumerate(subs):
            name = str(sub.get("url", ""))
            where = f"{at}extension[{i}]."
            child = children.get(name)
            if child is None:
                problems.append((f"{where}url", f"{path} has no child element {name!r}", "xver-element"))
                continue
            counts[name] = counts.get(name, 0) + 1
            problems.extend(self._check(sub, child[0], child[1], where))
        for name, count in sorted(counts.items()):
            top = children[name][1].get("max", "*")
            if top != "*" and count > int(top):
                problems.append(
                    (f"{at}extension", f"{path}.{name} repeats {count} times (max {top})", "xver-max")
                )
        return problems


def _major_minor(definitions: Any) -> str | None:
    for pkg in getattr(definitions, "packages", ()):
        versions = getattr(pkg, "fhir_versions", None) or [getattr(pkg, "version", "")]
        if versions and versions[0]:
            return ".".join(str(versions[0]).split(".")[:2])
    return None
