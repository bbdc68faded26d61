"""The mapping format: what curators write, without FHIR knowledge (docs/mapping-format.md).

Three kinds of file: one ``corpus`` file per corpus (base url, version, source register), one
``publication`` file per source publication, one ``recommendation`` file per recommendation.
Every number a curator writes traces to a verbatim ``quote`` from a registered source document.
"""

from __future__ import annotations

import calendar
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

MONTH_NUMBERS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,50}[a-z0-9])?$"
Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN),
    Field(description="local id: lower-case letters, digits and '-', at most 52 characters"),
]
_DATE_FORM = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"


def _real_date(value: str) -> str:
    """A date of the right form must also exist on the calendar (no month 13, no 30 February)."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) >= 2 and not 1 <= parts[1] <= 12:
        raise ValueError(f"{value!r} is not a real date: month {parts[1]} does not exist")
    if len(parts) == 3:
        last = calendar.monthrange(parts[0], parts[1])[1]
        if not 1 <= parts[2] <= last:
            raise ValueError(
                f"{value!r} is not a real date: {calendar.month_name[parts[1]]} {parts[0]} has {last} days"
            )
    return value


FhirDate = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$"),
    AfterValidator(_real_date),
    Field(description="YYYY, YYYY-MM or YYYY-MM-DD", json_schema_extra={"pattern": _DATE_FORM}),
]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False)]
Number = Decimal | int
Quotes = Annotated[
    str | list[Text],
    Field(description="verbatim text from the source document (whitespace-insensitive match)"),
]
UcumUnit = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s]+$"),
    Field(description="UCUM unit code, e.g. mg/(24.h), mo, %, {score}"),
]


class _Model(BaseModel):
    # strict: no coercion, so `value: yes` (a YAML boolean) is a type error, never the number 1
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---------------------------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------------------------
SourceKind = Literal["primary-abstract", "news", "blog", "summary"]


class RecordRef(_Model):
    """A record of a bibliographic export file that ``evidence-publisher import`` read."""

    file: Text = Field(description="name of the export file the record was read from")
    format: Literal["pubmed-xml", "ris", "bibtex", "csl-json", "crossref-json"]
    record: int = Field(ge=1, description="position of the record in the file (1 = first)")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="SHA-256 of the export file, so the record can be found again"
    )


class SourceDocument(_Model):
    """One document of the corpus, registered with its kind; primary documents outrank others."""

    id: Slug
    file: Text = Field(description="file name inside the corpus' sources directory")
    kind: SourceKind
    title: Text = Field(description="the document's own title, verbatim")
    title_quote: Text | None = Field(
        None, description="verbatim text of the title as printed, when it differs in spacing"
    )
    description: str | None = None
    imported_from: RecordRef | None = Field(
        None,
        description="the document is the abstract of this imported record, written verbatim by "
        "`import`; its title comes from the record (the abstract does not contain it)",
    )

    @property
    def primary(self) -> bool:
        return self.kind == "primary-abstract"


class Corpus(_Model):
    kind: Literal["corpus"]
    id: Slug
    title: Text
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s|#?]+[^/\s|#?]$")]
    version: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.\-+]+$")]
    publisher: Text
    status: Literal["draft", "active", "retired", "unknown"] = "active"
    date: FhirDate
    sources_dir: Text = Field(description="directory of the source documents, relative to this file")
    sources: list[SourceDocument] = Field(
        default_factory=list, description="the source register (`import` adds to it)"
    )


# ---------------------------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------------------------
class External(_Model):
    """Facts found outside the corpus (listed in docs/external-facts.md), with their status."""

    fields: list[Text] = Field(min_length=1, description="which fields of this block it covers")
    status: Literal["found", "unverified"]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    note: str | None = None


class Note(_Model):
    kind: Literal["hypothesis", "mechanism", "limitation", "conclusion", "caveat", "comment"]
    text: Text
    source: Slug | None = None
    quote: Quotes | None = None


class Coding(_Model):
    system: Annotated[str, StringConstraints(pattern=r"^\S+$")]
    code: Annotated[str, StringConstraints(pattern=r"^\S+( \S+)*$")]
    display: str | None = None


# ---------------------------------------------------------------------------------------------
# publication: citation
# ---------------------------------------------------------------------------------------------
class Identifier(_Model):
    type: Literal["doi", "pmid", "pmcid", "nct", "isbn", "url"]
    value: Text


class Author(_Model):
    name: Text
    affiliation: str | list[Text] | None = Field(None, description="one affiliation, or a list of them")

    @property
    def affiliations(self) -> list[str]:
        if self.affiliation is None:
            return []
        return [self.affiliation] if isinstance(self.affiliation, str) else list(self.affiliation)


class Funding(_Model):
    funder: Text
    grants: list[Text] = Field(default_factory=list)
    note: str | None = None


class Erratum(_Model):
    """A linked notice (an erratum or a retraction): its citation as printed, and its identifiers."""

    citation: Text
    identifiers: list[Identifier] = Field(
        default_factory=list, description="identifiers of the notice itself, as the record gives them"
    )


class MeshQualifier(_Model):
    name: Text
    code: Annotated[str, StringConstraints(pattern=r"^Q\d+$")] | None = Field(None, description="MeSH UI")
    major_topic: bool = False


class MeshHeading(_Model):
    descriptor: Text
    code: Annotated[str, StringConstraints(pattern=r"^D\d+$")] | None = Field(
        None, description="MeSH descriptor UI, e.g. D008180"
    )
    major_topic: bool = False
    qualifiers: list[MeshQualifier] = Field(default_factory=list)


class ImportedFrom(RecordRef):
    """Where the listed citation fields were read, instead of being quoted from a source document."""

    fields: list[Text] = Field(min_length=1, description="the citation fields that come from the record")


class Relation(_Model):
    type: Literal["reports-on", "cites", "claims-support-from"]
    target: Slug = Field(description="id of another publication mapping")
    note: str | None = None


class Issn(_Model):
    value: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{3}[\dX]$")]
    type: Literal["print", "electronic", "linking"] | None = Field(
        None, description="omit when the record does not say"
    )


class Journal(_Model):
    title: Text
    abbreviation: str | None = None
    issn: list[Issn] = Field(default_factory=list)


class CitationSpec(_Model):
    style: Literal["journal-article", "web-page"]
    title: Text
    journal: Journal | None = None
    publisher: str | None = None
    website: str | None = Field(None, description="the site a web page is published on")
    year: int | None = Field(None, ge=1800, le=2100)
    month: str | None = Field(None, description="issue month as printed: Jan ... Dec")
    day: int | None = Field(None, ge=1, le=31, description="issue day, where the record gives one")
    published_date: FhirDate | None = Field(
        None, description="web page: date posted; journal article: date first published online"
    )
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    authors: list[Author] = Field(default_factory=list)
    author_statement: str | None = Field(
        None, description="authors as printed when the full list is unknown, e.g. 'Gu F et al.'"
    )
    funding: list[Funding] = Field(default_factory=list)
    errata: list[Erratum] = Field(default_factory=list)
    retractions: list[Erratum] = Field(
        default_factory=list, description="notices that retract this publication"
    )
    keywords: list[Text] = Field(default_factory=list)
    mesh_headings: list[MeshHeading] = Field(default_factory=list)
    abstract: Text | None = Field(None, description="the abstract, verbatim from the source document")
    relations: list[Relation] = Field(default_factory=list)
    quote: Quotes | None = Field(None, description="quotes that carry the bibliographic values")
    source: Slug | None = None
    external: list[External] = Field(default_factory=list)
    imported_from: ImportedFrom | None = Field(
        None, description="the bibliographic record these values were imported from (`import`)"
    )

    @model_validator(mode="after")
    def _journal_needs_journal(self) -> CitationSpec:
        if self.style == "journal-article" and self.journal is None:
            raise ValueError("a journal-article citation needs 'journal' (the journal's title)")
        if self.day is not None:
            month = MONTH_NUMBERS.get((self.month or "")[:3])
            if self.year is None or month is None:
                raise ValueError("'day' needs 'year' and a 'month' (Jan ... Dec)")
            _real_date(f"{self.year:04d}-{month:02d}-{self.day:02d}")
        return self


# ---------------------------------------------------------------------------------------------
# publication: study
# ---------------------------------------------------------------------------------------------
class Population(_Model):
    id: Slug
    name: Text
    description: Text
    count: int | None = Field(None, gt=0)
    condition: list[Coding] = Field(
        default_factory=list,
        description="codes of the condition every member has (a Group characteristic); baseline "
        "summaries such as sex or mean age are results with a baseline_characteristic outcome",
    )
    source: Slug | None = None
    quote: Quotes
    external: list[External] = Field(default_factory=list)


class Offset(_Model):
    value: Number = Field(ge=0)
    unit: Literal["h", "d", "wk", "mo", "a"]


class Agent(_Model):
    """An intervention or co-intervention."""

    id: Slug
    name: Text
    description: str | None = None
    dose: str | None = Field(None, description="dose exactly as reported; omit when not reported")
    codes: list[Coding] = Field(default_factory=list, description="standard codes, checked and cited")
    starts: Offset | None = Field(
        None,
        description="co-intervention: when it starts after the intervention (results measured "
        "earlier are not affected by it)",
    )
    source: Slug | None = None
    quote: Quotes
    external: list[External] = Field(default_factory=list)


class Period(_Model):
    start: FhirDate
    end: FhirDate
    quote: Quotes
    source: Slug | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")
        return self


class Dispersion(_Model):
    """``unspecified`` is a "±" whose kind (SD or SE) the source does not state."""

    kind: Literal["sd", "se", "unspecified", "iqr", "range", "ci"]
    value: Number | None = None
    low: Number | None = None
    high: Number | None = None
    level: Number | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _shape(self) -> Dispersion:
        # a field the kind has no use for would be dropped from the output: refuse it instead
        if self.kind in ("sd", "se", "unspecified"):
            name = "±" if self.kind == "unspecified" else self.kind.upper()
            if self.value is None:
                raise ValueError(f"a {name} needs 'value'")
            if self.value < 0:
                raise ValueError(f"a {name} cannot be negative (got {self.value})")
            unused = [k for k in ("low", "high", "level") if getattr(self, k) is not None]
            if unused:
                given = " and ".join(repr(k) for k in unused)
                raise ValueError(f"a {name} is one 'value'; {given} belong to intervals (iqr, range, ci)")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"a {self.kind} needs 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"{self.kind} low {self.low} is above high {self.high}")
            if self.value is not None:
                raise ValueError(
                    f"a {self.kind} is 'low' and 'high'; 'value' belongs to sd, se and unspecified"
                )
        if self.kind == "ci" and self.level is None:
            raise ValueError("a confidence interval needs 'level' (e.g. 0.95)")
        if self.kind in ("iqr", "range") and self.level is not None:
            name = "an IQR" if self.kind == "iqr" else "a range"
            raise ValueError(f"{name} has no 'level'; only a confidence interval (ci) has one")
        return self


class FollowedBeyond(_Model):
    """'13 patients have been followed for more than 12 months'."""

    count: int = Field(gt=0)
    value: Number = Field(gt=0)
    unit: Literal["wk", "mo", "a"]


class FollowUp(_Model):
    description: Text
    mean: Number | None = None
    dispersion: Dispersion | None = None
    unit: UcumUnit | None = None
    beyond: FollowedBeyond | None = None
    source: Slug | None = None
    quote: Quotes

    @model_validator(mode="after")
    def _unit(self) -> FollowUp:
        if self.mean is not None and self.unit is None:
            raise ValueError("a follow-up duration needs a UCUM unit (e.g. mo)")
        return self


StudyDesign = Literal[
    "single-arm-before-after",
    "single-arm",
    "phase-1-dose-escalation",
    "randomized",
    "cohort",
    "case-series",
    "unknown",
]


class Study(_Model):
    design: StudyDesign
    description: Text
    setting: str | None = None
    enrolment: Period | None = None
    population: Population
    intervention: Agent
    co_interventions: list[Agent] = Field(default_factory=list)
    follow_up: FollowUp | None = None
    notes: list[Note] = Field(default_factory=list, description="caveats about the design or flow")
    source: Slug | None = None
    quote: Quotes
    external: list[External] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# publication: outcomes and results
# ---------------------------------------------------------------------------------------------
class Outcome(_Model):
    id: Slug
    name: Text
    description: Text
    handling: Literal["continuous", "dichotomous", "ordinal", "polychotomous"]
    codes: list[Coding] = Field(
        default_factory=list,
        description="standard codes (LOINC, SNOMED CT) for what is measured; cite where each code and "
        "display was checked in a comment; leave out rather than guess",
    )
    baseline_characteristic: bool = Field(
        False, description="a characteristic of the population at baseline (sex, age ...), not an outcome"
    )


class Timepoint(_Model):
    label: Text = Field(description="as reported, e.g. '12 months after transplantation'")
    value: Number | None = None
    unit: Literal["h", "d", "wk", "mo", "a"] | None = None
    baseline: bool = False
    cumulative: bool = Field(
        False, description="'by the 12-month visit': at any time up to the value, not at that time"
    )

    @model_validator(mode="after")
    def _unit(self) -> Timepoint:
        if self.value is not None and self.unit is None:
            raise ValueError(
                f"timepoint {self.label!r} has the value {self.value} but no unit; add unit "
                "(h, d, wk, mo or a)"
            )
        if self.value is not None and self.value < 0:
            raise ValueError(f"timepoint value {self.value} is negative")
        return self


class PValue(_Model):
    comparator: Literal["<", "<=", "=", ">", ">="] = "="
    value: Number
    compared_with: Text = Field(description="what the test compares with, e.g. 'baseline'")
    test: str | None = None

    @model_validator(mode="after")
    def _range(self) -> PValue:
        if not (0 <= self.value <= 1):
            raise ValueError(f"a p-value must lie in [0, 1] (got {self.value})")
        return self


class Counts(_Model):
    affected: int = Field(ge=0)
    denominator: int | None = Field(None, gt=0)
    derived: Literal["from-percentage"] | None = Field(
        None,
        description="'from-percentage': 'affected' is not reported; it is the only whole number of "
        "'denominator' that gives the result's percentage 'value' at its reported precision",
    )

    @model_validator(mode="after")
    def _bounded(self) -> Counts:
        if self.denominator is not None and self.affected > self.denominator:
            raise ValueError(
                f"{self.affected} participants with the outcome is more than the {self.denominator} analysed"
            )
        return self


class Derived(_Model):
    formula: Text = Field(description="arithmetic over the names in 'inputs', e.g. 'after - before'")
    inputs: dict[str, Text] = Field(
        description="name -> result id (same file) or 'publication/result'; its 'value' is used"
    )


class Conflict(_Model):
    """A secondary source that reports a different value for the same quantity."""

    source: Slug
    value: Number | Text
    quote: Quotes
    note: Text


# "value": one determined value that summarises no sample (e.g. a maximum tolerated dose);
# "none": no summary statistic is stated (a number without mean/median, or no number at all).
Statistic = Literal["mean", "median", "proportion", "count", "mean-change", "range", "value", "none"]


class Result(_Model):
    id: Slug
    outcome: Slug
    timepoint: Timepoint
    population: Slug | None = Field(None, description="defaults to the study population")
    statistic: Statistic
    value: Number | None = None
    unit: UcumUnit | None = None
    participants: int | None = Field(None, gt=0, description="participants analysed, as reported")
    dispersion: Dispersion | None = None
    p_value: PValue | None = None
    counts: Counts | None = None
    description: Text
    source: Slug | None = None
    quote: Quotes
    derived: Derived | None = None
    conflicts: list[Conflict] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    external: list[External] = Field(
        default_factory=list, description="facts about this result found outside the corpus"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Result:
        if self.statistic not in ("none", "range") and self.value is None and self.counts is None:
            raise ValueError(f"a {self.statistic} result needs 'value' (or 'counts')")
        if self.statistic == "proportion" and self.value is not None:
            limit = 100 if self.unit == "%" else 1
            if not (0 <= self.value <= limit):
                unit = "%" if limit == 100 else "a fraction"
                raise ValueError(f"a proportion of {self.value} as {unit} is outside [0, {limit}]")
        if self.statistic == "count" and self.value is not None and self.value < 0:
            raise ValueError(f"a count cannot be negative (got {self.value})")
        if self.counts and self.participants and self.counts.affected > self.participants:
            raise ValueError(
                f"{self.counts.affected} participants with the outcome is more than the "
                f"{self.participants} analysed"
            )
        if self.statistic == "range" and (self.dispersion is None or self.dispersion.kind != "range"):
            raise ValueError("a range result needs dispersion of kind 'range' with low and high")
        if self.counts is not None and self.counts.derived == "from-percentage":
            if self.statistic != "proportion" or self.unit != "%" or self.value is None:
                raise ValueError("counts derived from a percentage need a proportion 'value' with unit '%'")
            if self.counts.denominator is None:
                raise ValueError("counts derived from a percentage need 'denominator'")
        return self


# ---------------------------------------------------------------------------------------------
# publication: certainty
# ---------------------------------------------------------------------------------------------
Concern = Literal["no-concern", "serious-concern", "very-serious-concern", "extremely-serious-concern"]


class CertaintyDomain(_Model):
    domain: Literal[
        "RiskOfBias",
        "Inconsistency",
        "Indirectness",
        "Imprecision",
        "PublicationBias",
        "DoseResponseGradient",
        "PlausibleConfounding",
        "LargeEffect",
    ]
    rating: Concern | Literal["present", "absent"]
    reason: Text


class Certainty(_Model):
    id: Slug
    results: list[Slug] = Field(min_length=1)
    overall: Literal["high", "moderate", "low", "very-low"]
    summary: Text
    domains: list[CertaintyDomain] = Field(default_factory=list)
    assessor: Text = Field(description="who made the judgement (the curators, unless a source did)")
    source: Slug | None = None
    quote: Quotes | None = Field(None, description="source text the reasoning relies on")


class Publication(_Model):
    kind: Literal["publication"]
    id: Slug
    date: FhirDate
    source: Slug = Field(description="the registered document this file describes")
    in_corpus: bool = Field(
        True,
        description="false when the publication is not itself its 'source' document but only "
        "named or reported by it (a guideline a summary cites, an article a blog reports on): its "
        "Citation then never stands for that document",
    )
    label: Text = Field(description="short human label, e.g. 'Liang 2010'")
    citation: CitationSpec | None = Field(
        None, description="the publication's bibliographic record (omit with reported_in)"
    )
    reported_in: Slug | None = Field(
        None,
        description="for a study known only through another document: that document's publication",
    )
    citation_in: Slug | None = Field(
        None,
        description="the publication mapping that holds this study's own citation (e.g. one "
        "written by `import`), so that the citation and the curated study live in separate files",
    )
    study: Study | None = None
    outcomes: list[Outcome] = Field(default_factory=list)
    results: list[Result] = Field(default_factory=list)
    certainty: list[Certainty] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)

    @model_validator(mode="after")
    def _results_need_study(self) -> Publication:
        given = [self.citation is not None, self.reported_in is not None, self.citation_in is not None]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of 'citation' (its own bibliographic record), 'citation_in' (the "
                "publication mapping that holds its citation) or 'reported_in' (the publication that "
                "reports this unidentified study)"
            )
        if self.results and self.study is None:
            raise ValueError("results need a 'study' block (design, population, intervention)")
        return self


# ---------------------------------------------------------------------------------------------
# recommendation
# ---------------------------------------------------------------------------------------------
class Criterion(_Model):
    id: Slug
    description: Text
    resource: Literal["Condition", "MedicationRequest", "Observation"]
    codes: list[Coding] = Field(min_length=1)
    clinical_status: list[Text] = Field(
        default_factory=list, description="Condition.clinicalStatus codes that count"
    )
    severity: list[Coding] = Field(default_factory=list)
    request_status: list[Text] = Field(
        default_factory=list, description="MedicationRequest.status values that count"
    )
    reading: Text = Field(description="how this criterion reads the source text (the project's reading)")
    source: Slug | None = None
    quote: Quotes

    @model_validator(mode="after")
    def _filters_fit_resource(self) -> Criterion:
        # each filter is a FHIRPath on one resource type; on another it would be dropped: refuse it
        for name, resource in (
            ("clinical_status", "Condition"),
            ("severity", "Condition"),
            ("request_status", "MedicationRequest"),
        ):
            if getattr(self, name) and self.resource != resource:
                raise ValueError(f"'{name}' applies to {resource} criteria only, not to {self.resource}")
        return self


class RecPopulation(_Model):
    id: Slug
    description: Text
    criteria: list[Criterion] = Field(min_length=1)
    source: Slug | None = None
    quote: Quotes


class RecAction(_Model):
    id: Slug
    title: Annotated[str, StringConstraints(min_length=1, max_length=139)] = Field(
        description="card summary, under 140 characters"
    )
    description: Text
    kind: Literal["ServiceRequest"]
    code: Coding
    source: Slug | None = None
    quote: Quotes


class Claim(_Model):
    """A source's claim that someone else supports the advice, and what the corpus found."""

    publication: Slug
    claim: Text
    status: Literal["supported", "not-supported", "unverified"]
    note: Text
    source: Slug | None = None
    quote: Quotes


class Consideration(_Model):
    text: Text
    source: Slug | None = None
    quote: Quotes


class Rating(_Model):
    value: Text
    source: Slug | None = None
    quote: Quotes


class Recommendation(_Model):
    kind: Literal["recommendation"]
    id: Slug
    date: FhirDate
    source: Slug = Field(description="the registered document that states the advice")
    stated_in: Slug = Field(description="the publication mapping of that document")
    title: Text
    statement: Text
    quote: Quotes
    strength: Rating | None = Field(None, description="only where a source states one")
    direction: Rating | None = Field(None, description="only where a source states one")
    experimental: bool = Field(
        False,
        description="true for advice that must not run as a vetted rule (e.g. stated by a summary "
        "without an identifiable guideline); CDS services skip it unless configured to serve it",
    )
    caution: Text | None = Field(
        None, description="what a clinician must know before acting on it (shown on the card)"
    )
    population: RecPopulation
    action: RecAction
    evidence: list[Text] = Field(min_length=1, description="'publication/result' ids")
    considerations: list[Consideration] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)

    @model_validator(mode="after")
    def _caution(self) -> Recommendation:
        if self.experimental and self.caution is None:
            raise ValueError("an experimental recommendation needs 'caution' (why, and what to check)")
        return self


MappingFile = Annotated[Corpus | Publication | Recommendation, Field(discriminator="kind")]
