"""What each R5 element of a build becomes in R4B, by instance path (``Evidence.studyDesign``).

An element whose path is not listed here has the same name, type and content in R4B (4.3.0);
``tests/convert/test_r4b_rules.py`` compares the R5 and R4B StructureDefinitions element by
element over the golden build and fails on any used element that differs and has no rule. A rule
covers the element and everything under it.

``Xver`` carries the element in a cross-version extension (see ``xver.py``); ``Retype`` keeps the
value under an element of a related R4B type (markdown -> string); ``Custom`` names a function of
``r4b.py`` that maps the element onto R4B elements that exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from evidence_publisher.convert.xver import Choice, Kind


@dataclass(frozen=True)
class Xver:
    path: str  # the R5 element path of the extension URL (a datatype's path inside a datatype)
    kind: Kind


@dataclass(frozen=True)
class Retype:
    r4b_type: str


@dataclass(frozen=True)
class Custom:
    handler: str  # a key of ``r4b.HANDLERS``


Rule = Xver | Retype | Custom

# R5 RelatedArtifact as a complex extension (R4B's RelatedArtifact lacks resourceReference and
# half of R5's type codes).
RELATED_ARTIFACT: Kind = {
    "type": "code",
    "classifier": "CodeableConcept",
    "label": "string",
    "display": "string",
    "citation": "markdown",
    "document": "Attachment",
    "resource": "canonical",
    "resourceReference": "Reference",
    "publicationStatus": "code",
    "publicationDate": "date",
}

_AA_CONTENT: dict[str, Kind] = {
    "informationType": "code",
    "summary": "markdown",
    "type": "CodeableConcept",
    "classifier": "CodeableConcept",
    "quantity": "Quantity",
    "author": "Reference",
    "path": "uri",
    "relatedArtifact": RELATED_ARTIFACT,
    "freeToShare": "boolean",
}
_AA_CONTENT["component"] = _AA_CONTENT  # ArtifactAssessment.content.component is a content
AA_CONTENT: Kind = _AA_CONTENT

_RELATED = Custom("related_artifacts")
_MARKDOWN_AS_STRING = Retype("string")

RULES: dict[str, Rule] = {
    # ---------------------------------------------------------------- Citation
    "Citation.citedArtifact.contributorship.entry": Custom("contributor_entries"),
    "Citation.citedArtifact.publicationForm": Custom("publication_forms"),
    "Citation.citedArtifact.relatesTo": Xver("Citation.citedArtifact.relatesTo", RELATED_ARTIFACT),
    "Citation.citedArtifact.webLocation": Custom("web_locations"),
    # ------------------------------------------------------------- Composition
    "Composition.identifier": Custom("single_identifier"),
    "Composition.name": Xver("Composition.name", "string"),
    "Composition.note": Xver("Composition.note", "Annotation"),
    "Composition.relatesTo": Custom("related_artifact_extensions"),
    "Composition.url": Xver("Composition.url", "uri"),
    "Composition.version": Xver("Composition.version", "string"),
    # ---------------------------------------------------------------- Evidence
    "Evidence.certainty.description": _MARKDOWN_AS_STRING,
    "Evidence.certainty.subcomponent.description": _MARKDOWN_AS_STRING,
    "Evidence.name": Xver("Evidence.name", "string"),
    "Evidence.relatedArtifact": _RELATED,
    "Evidence.statistic.attributeEstimate.description": _MARKDOWN_AS_STRING,
    "Evidence.statistic.description": _MARKDOWN_AS_STRING,
    "Evidence.studyDesign": Xver("Evidence.studyDesign", "CodeableConcept"),
    # -------------------------------------------------------- EvidenceVariable
    "EvidenceVariable.characteristic.description": _MARKDOWN_AS_STRING,
    "EvidenceVariable.characteristic.timeFromEvent": Xver(
        "EvidenceVariable.characteristic.timeFromEvent",
        {
            "description": "markdown",
            "note": "Annotation",
            "eventCodeableConcept": Choice("CodeableConcept"),
            "eventReference": Choice("Reference"),
            "eventDateTime": Choice("dateTime"),
            "eventId": Choice("id"),
            "quantity": "Quantity",
            "range": "Range",
        },
    ),
    # ------------------------------------------------------------------- Group
    "Group.description": Xver("Group.description", "markdown"),
    "Group.membership": Custom("group_membership"),
    # ---------------------------------------------------------- PlanDefinition
    "PlanDefinition.action.condition.expression.name": Custom("expression_name"),
    "PlanDefinition.action.description": _MARKDOWN_AS_STRING,
    "PlanDefinition.action.input": Custom("action_inputs"),
    "PlanDefinition.relatedArtifact": _RELATED,
    "PlanDefinition.usage": _MARKDOWN_AS_STRING,
    # ----------------------------------------------------------- ResearchStudy
    "ResearchStudy.associatedParty": Xver(
        "ResearchStudy.associatedParty",
        {
            "name": "string",
            "role": "CodeableConcept",
            "period": "Period",
            "classifier": "CodeableConcept",
            "party": "Reference",
        },
    ),
    "ResearchStudy.comparisonGroup": Xver(
        "ResearchStudy.comparisonGroup",
        {
            "linkId": "id",
            "name": "string",
            "type": "CodeableConcept",
            "description": "markdown",
            "intendedExposure": "Reference",
            "observedGroup": "Reference",
        },
    ),
    "ResearchStudy.date": Xver("ResearchStudy.date", "dateTime"),
    "ResearchStudy.focus": Xver("ResearchStudy.focus", "CodeableReference"),
    "ResearchStudy.name": Xver("ResearchStudy.name", "string"),
    "ResearchStudy.progressStatus": Xver(
        "ResearchStudy.progressStatus", {"state": "CodeableConcept", "actual": "boolean", "period": "Period"}
    ),
    "ResearchStudy.recruitment": Xver(
        "ResearchStudy.recruitment",
        {
            "targetNumber": "unsignedInt",
            "actualNumber": "unsignedInt",
            "eligibility": "Reference",
            "actualGroup": "Reference",
        },
    ),
    "ResearchStudy.relatedArtifact": _RELATED,
    "ResearchStudy.status": Custom("study_status"),
    "ResearchStudy.studyDesign": Xver("ResearchStudy.studyDesign", "CodeableConcept"),
    "ResearchStudy.url": Xver("ResearchStudy.url", "uri"),
    "ResearchStudy.version": Xver("ResearchStudy.version", "string"),
}

# Every resource: the EBMonFHIR profiles are R5 profiles, which an R4B resource cannot claim.
PROFILE_PATH = "meta.profile"

# Code systems that R5 took into core (http://hl7.org/fhir/...) from the HL7 terminology, where
# R4B's bindings name them: a Coding in an R4B element moves to R4B's edition, which defines the
# same codes (``tests/convert/test_r4b_rules.py`` checks every code the build uses). Codings carried
# in cross-version extensions stay R5 content.
_THO = "http://terminology.hl7.org/CodeSystem/"
CODE_SYSTEMS: dict[str, str] = {
    f"http://hl7.org/fhir/{name}": _THO + name
    for name in (
        "certainty-rating",
        "certainty-type",
        "cited-artifact-abstract-type",
        "cited-artifact-classification-type",
        "cited-artifact-status-type",
        "contributor-summary-type",
        "published-in-type",
        "research-study-party-role",
        "research-study-phase",
        "research-study-prim-purp-type",
        "title-type",
    )
}
