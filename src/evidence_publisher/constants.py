"""FHIR facts more than one module relies on: the release, canonical URL bases, shared code systems
and the canonical resource types.

A value used by one module only stays in that module; a value two modules need lives here, once
(``tests/test_constants.py`` finds a copy written anywhere else). The FHIR release is fixed: every
stage targets FHIR R5 (5.0.0).
"""

from __future__ import annotations

# The FHIR release every stage reads and writes; its core packages share the version number.
FHIR_VERSION = "5.0.0"
FHIR_RELEASE = "R5"

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

# The R5 resource types this tool handles that are canonical resources: they have url, version,
# name, status and date elements. (Group and ArtifactAssessment are not: core extensions carry
# those.) The mappers give them a canonical identity; publishing keys them on url and version.
CANONICAL_TYPES = frozenset(
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
# R5 defines url and version elements for ResearchStudy but no url or version search parameter,
# so a server cannot find one by its url: it is keyed on its identifier instead.
URL_SEARCHABLE_TYPES = CANONICAL_TYPES - {"ResearchStudy"}
