"""The project's local package of EBMonFHIR extension definitions, generated from a table.

The EBM implementation guide's R5 package cannot be installed from any registry we reach, so
the extensions the compiler emits are transcribed here from the rules of HL7/ebm at 06becf90 that
docs/ebm-encoding.md states (§3 and §5). These are the project's transcription, not the IG's own
files. To add
an extension, add one ``ExtensionDef`` to ``EXTENSIONS``; the package's content hash changes and
``PackageCache.ensure`` regenerates the installed copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.constants import CORE_SD, EBM_SD, FHIR_TYPE_EXT, FHIR_VERSION, FHIRPATH_STRING
from evidence_publisher.packages.index import INDEX_VERSION, entry_for
from evidence_publisher.packages.spec import LOCAL_EBM_PACKAGE, R5_CORE

EXTENSION_BASE = CORE_SD + "Extension"
_ELE_1 = {
    "key": "ele-1",
    "severity": "error",
    "human": "All FHIR elements must have a @value or children",
    "expression": "hasValue() or (children().count() > id.count())",
    "source": CORE_SD + "Element",
}
_EXT_1 = {
    "key": "ext-1",
    "severity": "error",
    "human": "Must have either extensions or value[x], not both",
    "expression": "extension.exists() != value.exists()",
    "source": EXTENSION_BASE,
}
_PUBLISHER = "evidence-publisher (transcription of HL7 EBMonFHIR, HL7/ebm@06becf90)"


@dataclass(frozen=True)
class ExtensionDef:
    """One simple (single-value) extension."""

    id: str  # last URL segment
    name: str  # computable name (cnl-0: ^[A-Z][A-Za-z0-9_]{1,254}$)
    title: str
    description: str
    value_type: str  # the one allowed FHIR type, e.g. "code", "CodeableReference"
    contexts: tuple[str, ...]  # element contexts, e.g. ("Evidence.variableDefinition",)
    source: str  # where the rule is recorded
    max: str = "1"
    short: str | None = None
    target_profiles: tuple[str, ...] = ()  # for Reference / CodeableReference values

    @property
    def url(self) -> str:
        return EBM_SD + self.id


EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        id="variable-definition-variable-role-code",
        name="VariableDefinitionVariableRoleCode",
        title="Variable Definition Variable Role Code",
        description=(
            "The role of the variable in the evidence: population | exposure | outcome | "
            "covariate. EvidenceR6 requires it (1..1) on every Evidence.variableDefinition."
        ),
        value_type="code",
        contexts=("Evidence.variableDefinition",),
        short="population | exposure | outcome | covariate",
        source="docs/ebm-encoding.md §3.1 (EvidenceR6)",
    ),
    ExtensionDef(
        id="evidence-variable-definition",
        name="EvidenceVariableDefinition",
        title="Evidence Variable Definition",
        description=(
            "The definition of the variable as a concept and/or a reference to a Group. "
            "Required (1..1) by the VariableDefinition profile."
        ),
        value_type="CodeableReference",
        contexts=("EvidenceVariable",),
        target_profiles=(CORE_SD + "Group",),
        source="docs/ebm-encoding.md §3.2 (VariableDefinition)",
    ),
    ExtensionDef(
        id="variable-definition-comparator-category",
        name="VariableDefinitionComparatorCategory",
        title="Variable Definition Comparator Category",
        description=(
            "The category of the exposure variable that serves as comparator; should equal "
            "an EvidenceVariable.category.name."
        ),
        value_type="string",
        contexts=("Evidence.variableDefinition",),
        source="docs/ebm-encoding.md §3.1 (ComparativeEvidence)",
    ),
)


def _primitive_string_type(fhir_type: str) -> dict[str, Any]:
    return {
        "extension": [{"url": FHIR_TYPE_EXT, "valueUrl": fhir_type}],
        "code": FHIRPATH_STRING,
    }


def _value_type(ext: ExtensionDef) -> dict[str, Any]:
    t: dict[str, Any] = {"code": ext.value_type}
    if ext.target_profiles:
        t["targetProfile"] = list(ext.target_profiles)
    return t


def structure_definition(ext: ExtensionDef) -> dict[str, Any]:
    """The Extension StructureDefinition (snapshot and differential) of one table row."""
    short = ext.short or ext.title
    root = {
        "id": "Extension",
        "path": "Extension",
        "short": short,
        "definition": ext.description,
        "min": 0,
        "max": ext.max,
        "base": {"path": "Extension", "min": 0, "max": "*"},
        "constraint": [_ELE_1, _EXT_1],
        "isModifier": False,
    }
    snapshot = [
        root,
        {
            "id": "Extension.id",
            "path": "Extension.id",
            "representation": ["xmlAttr"],
            "short": "Unique id for inter-element referencing",
            "definition": "Unique id for the element within a resource (for internal references).",
            "min": 0,
            "max": "1",
            "base": {"path": "Element.id", "min": 0, "max": "1"},
            "type": [_primitive_string_type("id")],
            "isModifier": False,
            "isSummary": False,
        },
        {
            "id": "Extension.extension",
            "path": "Extension.extension",
            "slicing": {
                "discriminator": [{"type": "value", "path": "url"}],
                "description": "Extensions are always sliced by (at least) url",
                "rules": "open",
            },
            "short": "Additional content defined by implementations",
            "definition": "A simple extension carries no nested extensions.",
            "min": 0,
            "max": "0",
            "base": {"path": "Element.extension", "min": 0, "max": "*"},
            "type": [{"code": "Extension"}],
            "constraint": [_ELE_1, _EXT_1],
            "isModifier": False,
            "isSummary": False,
        },
        {
            "id": "Extension.url",
            "path": "Extension.url",
            "representation": ["xmlAttr"],
            "short": "identifies the meaning of the extension",
            "definition": ("Source of the definition for the extension code - a logical name or a URL."),
            "min": 1,
            "max": "1",
            "base": {"path": "Extension.url", "min": 1, "max": "1"},
            "type": [_primitive_string_type("uri")],
            "fixedUri": ext.url,
            "isModifier": False,
            "isSummary": False,
        },
        {
            "id": "Extension.value[x]",
            "path": "Extension.value[x]",
            "short": short,
            "definition": ext.description,
            "min": 1,
            "max": "1",
            "base": {"path": "Extension.value[x]", "min": 0, "max": "1"},
            "type": [_value_type(ext)],
            "constraint": [_ELE_1],
            "isModifier": False,
            "isSummary": False,
        },
    ]
    differential = [
        {
            "id": "Extension",
            "path": "Extension",
            "short": short,
            "definition": ext.description,
            "min": 0,
            "max": ext.max,
        },
        {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": ext.url},
        {
            "id": "Extension.value[x]",
            "path": "Extension.value[x]",
            "min": 1,
            "type": [_value_type(ext)],
        },
    ]
    return {
        "resourceType": "StructureDefinition",
        "id": ext.id,
        "url": ext.url,
        "version": LOCAL_EBM_PACKAGE.version,
        "name": ext.name,
        "title": ext.title,
        "status": "draft",
        "experimental": False,
        "publisher": _PUBLISHER,
        "description": f"{ext.description} (Transcribed from {ext.source}.)",
        "fhirVersion": FHIR_VERSION,
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": c} for c in ext.contexts],
        "type": "Extension",
        "baseDefinition": EXTENSION_BASE,
        "derivation": "constraint",
        "snapshot": {"element": snapshot},
        "differential": {"element": differential},
    }


def manifest() -> dict[str, Any]:
    return {
        "name": LOCAL_EBM_PACKAGE.name,
        "version": LOCAL_EBM_PACKAGE.version,
        "type": "IG",
        "canonical": "http://hl7.org/fhir/uv/ebm",
        "title": "EBMonFHIR extensions used by evidence-publisher (local transcription)",
        "description": (
            "Extension definitions for the EBMonFHIR (HL7/ebm@06becf90, FHIR 5.0.0) extensions "
            "that evidence-publisher emits, generated by evidence_publisher.packages.ebm_local. "
            "A transcription of the implementation guide's rules, not the guide's own files."
        ),
        "fhirVersions": [FHIR_VERSION],
        "dependencies": {R5_CORE.name: R5_CORE.version},
        "author": "evidence-publisher",
        "license": "CC0-1.0",
    }


def package_files() -> dict[str, dict[str, Any]]:
    """Every file of the package's ``package/`` folder, by filename (index included)."""
    files: dict[str, dict[str, Any]] = {"package.json": manifest()}
    entries = []
    for ext in EXTENSIONS:
        filename = f"StructureDefinition-{ext.id}.json"
        sd = structure_definition(ext)
        files[filename] = sd
        entry = entry_for(filename, sd)
        assert entry is not None
        entries.append(entry)
    entries.sort(key=lambda e: e["filename"])
    files[".index.json"] = {"index-version": INDEX_VERSION, "files": entries}
    return files


def content_hash() -> str:
    """Hash of the generated files: changes whenever the table (or its rendering) changes."""
    h = hashlib.sha256()
    for name, doc in sorted(package_files().items()):
        h.update(name.encode())
        h.update(jsonio.dumps(doc).encode())
    return h.hexdigest()
