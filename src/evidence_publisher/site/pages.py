"""The site's pages as plain data: what each template renders, and small readers of FHIR values.

Fidelity: every word and number shown comes from a resource or the build report; numbers are shown
with the text the resource writes (``858.0`` stays ``858.0``); where a resource says nothing (no
strength, no dispersion kind, no denominator) the page says that it is not stated.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser

from evidence_publisher.constants import EBM_SD

# proportions, counts and within-patient changes are not values of the outcome over time
SERIES_EXCLUDED = ("C44256", "C25463", "TBD:0000177")
BASELINE_PROFILE = EBM_SD + "baseline-measure-evidence"
DAYS_PER_UNIT = {
    "h": Decimal(1) / 24,
    "d": Decimal(1),
    "wk": Decimal(7),
    "mo": Decimal("30.4375"),
    "a": Decimal("365.25"),
}


def text_of(value: Decimal | int) -> str:
    """A number as the resource writes it (Decimal keeps '858.0')."""
    return str(value)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def narrative_text(div: str | None) -> str:
    """The words of a narrative ``div`` (shown as text, never as markup)."""
    if not div:
        return ""
    parser = _Text()
    parser.feed(div)
    return " ".join(" ".join(parser.parts).split())


def coding_display(concept: dict | None) -> str:
    if not concept:
        return ""
    for c in concept.get("coding", []):
        if c.get("display"):
            return c["display"]
    return concept.get("text") or next((c.get("code", "") for c in concept.get("coding", [])), "")


def coding_code(concept: dict | None) -> str:
    return next((c.get("code", "") for c in (concept or {}).get("coding", [])), "")


# ---------------------------------------------------------------------------------------------
# data the templates render
# ---------------------------------------------------------------------------------------------
@dataclass
class Link:
    href: str
    text: str


@dataclass
class Derivation:
    formula: str
    inputs: list[tuple[str, str, str | None]]  # name, what it stands for, link


@dataclass
class Number:
    text: str  # exactly as the resource writes it
    field: str
    path: str = ""  # FHIRPath-like location in the resource (the browser test compares them)
    quote_links: list[str] = dataclasses.field(default_factory=list)  # each place the quote writes it
    derived: Derivation | None = None


@dataclass
class Dispersion:
    kind: str  # "± (kind not stated)", "SD", "95% CI" ...
    value: Number | None = None
    low: Number | None = None
    high: Number | None = None


@dataclass
class PValue:
    comparator: str
    value: Number
    description: str


@dataclass
class Certainty:
    rating: str
    label: str
    summary: str
    rater: str
    reasons: list[tuple[str, str, str]]
    marks: str  # SVG


@dataclass
class QuoteRef:
    href: str
    document: str
    role: str


@dataclass
class ResultRow:
    evidence_id: str
    anchor: str
    title: str
    outcome: str
    timepoint: str
    population: Link | None
    statistic_type: str
    unit: str
    summary: str
    value: Number | None = None
    affected: Number | None = None
    participants: Number | None = None
    dispersions: list[Dispersion] = dataclasses.field(default_factory=list)
    p_values: list[PValue] = dataclasses.field(default_factory=list)
    range_low: Number | None = None
    range_high: Number | None = None
    bar: str | None = None
    certainty: Certainty | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    statistic_notes: list[str] = dataclasses.field(default_factory=list)
    quotes: list[QuoteRef] = dataclasses.field(default_factory=list)
    baseline_characteristic: bool = False
    derived_unmarked: bool = False  # no report: a statistic note says some value is derived
    study_href: str = ""


@dataclass
class Chart:
    ident: str
    title: str
    svg: str
    unit: str
    dispersion: str
    rows: list[tuple[str, str, str, str]]  # timepoint, statistic, value, dispersion


@dataclass
class Study:
    key: str  # ResearchStudy/x or Group/x
    slug: str
    title: str
    description: str = ""
    designs: list[str] = dataclasses.field(default_factory=list)
    facts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    population: dict = dataclasses.field(default_factory=dict)
    interventions: list[dict] = dataclasses.field(default_factory=list)
    funders: list[str] = dataclasses.field(default_factory=list)
    grants: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    links: list[Link] = dataclasses.field(default_factory=list)
    rows: list[ResultRow] = dataclasses.field(default_factory=list)
    charts: list[Chart] = dataclasses.field(default_factory=list)
    population_quotes: list[QuoteRef] = dataclasses.field(default_factory=list)

    @property
    def href(self) -> str:
        return f"studies/{self.slug}.html"


@dataclass
class Condition:
    name: str
    words: str | None
    description: str
    expression: str
    quotes: list[QuoteRef] = dataclasses.field(default_factory=list)


@dataclass
class Claim:
    claim: str
    status: str
    claimed_source: Link | None
    attributed_to: Link | None
    note: str
    where: str = ""
    quotes: list[QuoteRef] = dataclasses.field(default_factory=list)
    recommendation: str = ""  # the Composition it concerns


@dataclass
class Recommendation:
    ident: str
    title: str
    statement: str
    experimental: bool
    usage: str
    stated_by: list[Link]
    claims: list[Claim]
    ratings: str
    population: str
    conditions: list[Condition]
    action_title: str
    action_description: str
    action_code: str
    evidence: list[ResultRow]
    sources: list[Link]
    considerations: str
    quotes: list[QuoteRef] = dataclasses.field(default_factory=list)

    @property
    def href(self) -> str:
        return f"recommendations/{self.ident}.html"


@dataclass
class QuoteUse:
    resource: str
    label: str
    href: str | None
    role: str
    values: list[tuple[str, str, str]]  # field, text, anchor of the number in this document
    where: str


@dataclass
class QuoteGroup:
    anchor: str
    number: int
    text: str
    uses: list[QuoteUse]


@dataclass
class Document:
    ident: str
    file: str
    kind: str
    primary: bool
    title: str
    description: str
    citation: Link | None
    segments: list  # see highlight()
    groups: list[QuoteGroup]

    @property
    def href(self) -> str:
        return f"sources/{self.ident}.html"


@dataclass
class CitationEntry:
    anchor: str
    title: str
    details: list[str]
    document: Link | None
    notes: list[str]


@dataclass
class Conflict:
    evidence: Link | None
    published: tuple[str, str, Link | None]  # value, kind, document
    conflicting: tuple[str, str, Link | None]
    note: str
    where: str


@dataclass
class SiteModel:
    title: str
    version: str
    recommendations: list[Recommendation]
    studies: list[Study]
    documents: list[Document]
    citations: list[CitationEntry]
    conflicts: list[Conflict]
    claims: list[Claim]
    warnings: list[str]
    has_provenance: bool
