"""The common record model: what one bibliographic record holds, whatever its export format.

Every parser fills the same ``Record``; ``origins`` says where in the record each field was read
(an XML element path, a RIS tag, a BibTeX or JSON field name), so that the mapping written from it
can say so. A parser copies what the record holds and never derives an identifier.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from evidence_publisher.importers.issues import RecordIssue

FORMATS = {
    "pubmed-xml": "PubMed XML",
    "ris": "RIS",
    "bibtex": "BibTeX",
    "csl-json": "CSL-JSON",
    "crossref-json": "Crossref JSON",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_WORDS = {
    word.lower(): abbr
    for i, abbr in enumerate(MONTHS, start=1)
    for word in (abbr, calendar.month_name[i], f"{abbr}.", str(i), f"{i:02d}")
}
ISSN = re.compile(r"\b(\d{4}-\d{3}[\dXx])\b")


@dataclass
class Person:
    name: str  # as it will be displayed: "Given Family", or a group's name
    family: str | None = None  # for the mapping id and label
    affiliations: list[str] = field(default_factory=list)


@dataclass
class Notice:
    """An erratum or a retraction notice the record links to."""

    citation: str
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (doi|pmid|pmcid, value)


@dataclass
class Grant:
    funder: str
    numbers: list[str] = field(default_factory=list)


@dataclass
class Qualifier:
    name: str
    code: str | None = None
    major: bool = False


@dataclass
class Heading:
    descriptor: str
    code: str | None = None
    major: bool = False
    qualifiers: list[Qualifier] = field(default_factory=list)


@dataclass
class Record:
    """One record of an export file; ``index`` is its 1-based position, ``line`` where it starts."""

    file: str
    format: str
    index: int
    line: int | None = None
    key: str | None = None  # how the record names itself (PMID, BibTeX key, DOI), for messages
    kind: str | None = None  # the record's type as written (JOUR, article, journal-article ...)
    title: str | None = None
    authors: list[Person] = field(default_factory=list)
    journal: str | None = None
    journal_abbreviation: str | None = None
    issn: list[tuple[str, str | None]] = field(default_factory=list)  # (value, print|electronic|linking)
    publisher: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    year: int | None = None
    month: str | None = None
    day: int | None = None
    published_online: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (doi|pmid|pmcid, value)
    abstract: str | None = None
    keywords: list[str] = field(default_factory=list)
    mesh: list[Heading] = field(default_factory=list)
    funding: list[Grant] = field(default_factory=list)
    errata: list[Notice] = field(default_factory=list)
    retractions: list[Notice] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # mapping field -> where the record holds it
    not_imported: list[str] = field(default_factory=list)  # parts of the record the mapping has no home for
    issues: list[RecordIssue] = field(default_factory=list)
    unsupported: bool = False  # not a journal article, or unreadable: no field is checked

    @property
    def where(self) -> str:
        """``FILE:record N`` plus how the record names itself, for messages."""
        named = f" ({self.key})" if self.key else ""
        at = f", line {self.line}" if self.line else ""
        return f"{self.file}:record {self.index}{named}{at}"

    def problem(self, fld: str, problem: str, fix: str) -> None:
        self.issues.append(RecordIssue(self.file, self.index, self.line, self.key, fld, problem, fix))

    def add_identifier(self, kind: str, value: str, origin: str) -> None:
        value = value.strip()
        if value and (kind, value) not in self.identifiers:
            self.identifiers.append((kind, value))
            self.add_origin("identifiers", origin)

    def add_origin(self, fld: str, origin: str) -> None:
        known = self.origins.get(fld)
        if known is None:
            self.origins[fld] = origin
        elif origin not in known.split(", "):
            self.origins[fld] = f"{known}, {origin}"

    def skipped(self, what: str) -> None:
        if what not in self.not_imported:
            self.not_imported.append(what)


def month_abbreviation(text: str) -> str | None:
    """``8``, ``08``, ``aug``, ``August`` -> ``Aug``; anything else -> None."""
    return _MONTH_WORDS.get(text.strip().lower())


def clean(text: str | None) -> str | None:
    """Text with its outer whitespace removed; None when nothing is left."""
    if text is None:
        return None
    text = text.strip()
    return text or None
