"""FHIR facts more than one module relies on: the FHIR versions (one table), canonical URL bases,
shared code systems and the canonical resource types.

A value used by one module only stays in that module; a value two modules need lives here, once
(``tests/test_constants.py`` finds a copy written anywhere else). Every version-specific fact (the
version string, its packages, its canonical resource types) is read from ``FHIR_VERSIONS``; R5 is
the default and the release the mappers write; ``convert/`` turns that output into R4B.
"""

from __future__ import annotations

from dataclasses import dataclass

# Canonical URL bases of StructureDefinitions: FHIR core (resources, datatypes and the core
# extensions) and the EBMonFHIR implementation guide (profiles and extensions).
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
EBM_SD = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"

# Extensions named by more than one module
FHIR_TYPE_EXT = CORE_SD + "structuredefinition-fhir-type"
ARTIFACT_EXPERIMENTAL_EXT = CORE_SD + "artifact-experimental"

# The FHIRPath system type of an Extension.url element (what a StructureDefinition's type code says)
FHIRPATH_STRING = "http://hl7.org/fhirpath/System.String"

# Code systems both the mappers (fhir/) and the EBM rules (validate/) use
UCUM = "http://unitsofmeasure.org"
FEVIR_EBM_CODES = "https://fevir.net/resources/CodeSystem/179423"  # EBMonFHIR structural codes
SEVCO = "https://fevir.net/resources/CodeSystem/181513"  # Scientific Evidence Code System
SYNTHESIS_TYPE = "http://terminology.hl7.org/CodeSystem/synthesis-type"
CERTAINTY_TYPE = "http://hl7.org/fhir/certainty-type"
CITATION_CLASSIFICATION_TYPE = "http://hl7.org/fhir/cited-artifact-classification-type"
CITATION_ARTIFACT_CLASSIFIER = "http://hl7.org/fhir/citation-artifact-classifier"
PLAN_DEFINITION_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"


@dataclass(frozen=True)
class FhirVersion:
    """One FHIR release and everything this tool needs to know about it.

    Packages are ``(name, version)`` pairs (``packages.spec`` turns them into ``PackageSpec``).
    ``canonical_types`` are the resource types this tool handles that have url, version, name,
    status and date elements in this release (the others carry those in core extensions); the
    mappers give them a canonical identity and publishing keys them on url and version.
    ``url_searchable_types`` are those a server can also search by url.
    """

    release: str  # "R5"
    version: str  # "5.0.0", the fhirVersion of resources and packages
    core: tuple[str, str]
    expansions: tuple[str, str]
    terminology: tuple[str, str]
    extensions: tuple[str, str]
    canonical_types: frozenset[str]
    url_searchable_types: frozenset[str]
    # The resource types this tool writes in this release (R4 carries only the recommendation).
    output_types: frozenset[str]
    # The fhir.resources package of this release's models (the structural check), if it has one
    models_module: str | None
    # The release whose elements this one carries in cross-version extensions (its code systems
    # are known to the validator where this release does not define them)
    cross_version_source: str | None = None
    # The EBMonFHIR guide, and so its rules in validate/ebm.py, is written for R5 only
    ebm_rules: bool = False
    # A package with the same official definitions as ``core``, installed when no source has the
    # core package itself (npm has no hl7.fhir.r4.core; HL7's R4 examples package, published
    # from the same R4 build, carries every R4 StructureDefinition, ValueSet and CodeSystem)
    core_stand_in: tuple[str, str] | None = None

    @property
    def major_minor(self) -> str:
        """``5.0`` for 5.0.0: what a server's CapabilityStatement.fhirVersion must start with."""
        return self.version.rsplit(".", 1)[0]

    @property
    def core_names(self) -> tuple[str, ...]:
        """The names of the packages that hold this release's core definitions: the core package
        and its stand-in."""
        return (self.core[0], *(self.core_stand_in[:1] if self.core_stand_in else ()))

    @property
    def cross_version_base(self) -> str:
        """Base of the cross-version extensions that carry this release's elements into another
        release: ``http://hl7.org/fhir/5.0/StructureDefinition/extension-<Path>``."""
        return f"http://hl7.org/fhir/{self.major_minor}/StructureDefinition/extension-"


_R5_CANONICAL = frozenset(
    {
        "ActivityDefinition",
        "Citation",
        "Composition",
        "Evidence",
        "EvidenceVariable",
        "Library",
        "PlanDefinition",
        "ResearchStudy",
    }
)
# R4B and R4 have no url/version on Composition and ResearchStudy.
_R4B_CANONICAL = _R5_CANONICAL - {"Composition", "ResearchStudy"}
_RECOMMENDATION_TYPES = frozenset({"ActivityDefinition", "PlanDefinition", "Library"})

FHIR_VERSIONS: dict[str, FhirVersion] = {
    "R5": FhirVersion(
        release="R5",
        version="5.0.0",
        core=("hl7.fhir.r5.core", "5.0.0"),
        expansions=("hl7.fhir.r5.expansions", "5.0.0"),
        terminology=("hl7.terminology.r5", "7.0.1"),
        extensions=("hl7.fhir.uv.extensions.r5", "5.2.0"),
        canonical_types=_R5_CANONICAL,
        # R5 defines url and version elements for ResearchStudy but no url or version search
        # parameter, so a server cannot find one by its url: it is keyed on its identifier.
        url_searchable_types=_R5_CANONICAL - {"ResearchStudy"},
        output_types=_R5_CANONICAL | {"ArtifactAssessment", "Group"},
        models_module="fhir.resources",
        ebm_rules=True,
    ),
    "R4B": FhirVersion(
        release="R4B",
        version="4.3.0",
        core=("hl7.fhir.r4b.core", "4.3.0"),
        expansions=("hl7.fhir.r4b.expansions", "4.3.0"),
        # THO and the core extensions publish one R4 edition that serves R4 and R4B.
        terminology=("hl7.terminology.r4", "7.0.1"),
        extensions=("hl7.fhir.uv.extensions.r4", "5.2.0"),
        canonical_types=_R4B_CANONICAL,
        url_searchable_types=_R4B_CANONICAL,
        output_types=_R4B_CANONICAL | {"Basic", "Composition", "Group", "ResearchStudy"},
        models_module="fhir.resources.R4B",
        cross_version_source="R5",
    ),
    "R4": FhirVersion(
        release="R4",
        version="4.0.1",
        core=("hl7.fhir.r4.core", "4.0.1"),
        expansions=("hl7.fhir.r4.expansions", "4.0.1"),
        terminology=("hl7.terminology.r4", "7.0.1"),
        extensions=("hl7.fhir.uv.extensions.r4", "5.2.0"),
        canonical_types=_RECOMMENDATION_TYPES,
        url_searchable_types=_RECOMMENDATION_TYPES,
        output_types=_RECOMMENDATION_TYPES,
        models_module=None,  # fhir.resources has R5, R4B and STU3 models only
        cross_version_source="R5",
        core_stand_in=("hl7.fhir.r4.examples", "4.0.1"),
    ),
}
DEFAULT_FHIR_VERSION = FHIR_VERSIONS["R5"]


def fhir_version(name: str) -> FhirVersion:
    """The table entry for ``R5``, ``R4B`` or ``R4`` (case-insensitive) or a version string such as
    ``4.3.0``; ``KeyError`` names the choices."""
    for entry in FHIR_VERSIONS.values():
        if name.upper() == entry.release or name == entry.version:
            return entry
    raise KeyError(f"unknown FHIR version {name!r}; choose one of {', '.join(FHIR_VERSIONS)}")


# What the mappers write and every stage reads unless told otherwise.
FHIR_VERSION = DEFAULT_FHIR_VERSION.version
FHIR_RELEASE = DEFAULT_FHIR_VERSION.release
CANONICAL_TYPES = DEFAULT_FHIR_VERSION.canonical_types
URL_SEARCHABLE_TYPES = DEFAULT_FHIR_VERSION.url_searchable_types
