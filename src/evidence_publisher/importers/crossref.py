"""Crossref works JSON (``api.crossref.org/works/DOI`` responses, work lists, or bare work objects).

Crossref gives the abstract as JATS XML (``<jats:p>...``): its text is read paragraph by paragraph
(defusedxml), a leading "Abstract" heading dropped, paragraphs joined by a blank line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from evidence_publisher.importers import jsonfields as jf
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError
from evidence_publisher.importers.record import Grant, Notice, Record, clean

FORMAT = "crossref-json"
_READ = {"DOI", "type", "title", "container-title", "short-container-title", "author", "published-print"}
_READ |= {"published-online", "issued", "volume", "issue", "page", "ISSN", "issn-type", "publisher"}
_READ |= {"abstract", "funder", "updated-by"}
_UPDATES = {"retraction": "retractions", "correction": "errata", "erratum": "errata"}
_JATS = "http://www.niso.org/schemas/jats"
_BLOCKS = {"p", "title"}


def is_crossref(value: object) -> bool:
    """Crossref's envelope, or works with a list-valued title (CSL-JSON titles are strings)."""
    if isinstance(value, dict):
        return "message" in value or isinstance(value.get("title"), list)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return isinstance(value[0].get("title"), list)
    return False


def parse(value: object, display: str) -> list[Record]:
    items: object = value
    if isinstance(value, dict) and "message" in value:
        message = value["message"]
        items = message.get("items") if isinstance(message, dict) and "items" in message else [message]
    elif isinstance(value, dict):
        items = [value]
    if not isinstance(items, list) or not items:
        raise UnreadableExportError(
            RecordIssue(display, 0, None, None, "message", "no work in the file", "give Crossref works JSON")
        )
    return [_record(item, display, n) for n, item in enumerate(items, start=1)]


def _record(item: object, display: str, index: int) -> Record:
    rec = Record(display, FORMAT, index)
    if not isinstance(item, dict):
        rec.problem(
            "", f"a work must be a JSON object, not {type(item).__name__}", "give Crossref works JSON"
        )
        return rec
    rec.kind = jf.text(item.get("type"))
    doi = jf.text(item.get("DOI"))
    rec.key = f"DOI {doi}" if doi else None
    if rec.kind != "journal-article":
        rec.unsupported = True
        rec.problem(
            "type",
            f"work type {rec.kind!r} cannot be imported: the mapping format describes journal articles "
            "(journal-article)",
            "leave this work out of the file",
        )
        return rec
    if doi:
        rec.add_identifier("doi", doi, "DOI")
    for fld, key in (
        ("title", "title"),
        ("journal", "container-title"),
        ("journal_abbreviation", "short-container-title"),
    ):
        setattr(rec, fld, jf.first(item.get(key)))
        rec.origins[fld] = key
    for fld, key in (("volume", "volume"), ("issue", "issue"), ("pages", "page"), ("publisher", "publisher")):
        setattr(rec, fld, jf.text(item.get(key)))
        rec.origins[fld] = key
    jf.authors(rec, item.get("author"), "author")
    _dates(rec, item)
    _issn(rec, item)
    _abstract(rec, item.get("abstract"))
    _funders(rec, item.get("funder"))
    _updates(rec, item.get("updated-by"))
    for key in sorted(item):
        if key not in _READ:
            rec.skipped(key)
    return rec


def _dates(rec: Record, item: dict) -> None:
    for key in ("published-print", "issued"):  # the issue date; "issued" is the earliest known
        parts = jf.date_parts(rec, item.get(key), key)
        if parts:
            jf.set_issue_date(rec, parts, key)
            break
    online = jf.date_parts(rec, item.get("published-online"), "published-online")
    if online:
        rec.published_online = jf.iso(online)
        rec.origins["published_date"] = "published-online"


def _issn(rec: Record, item: dict) -> None:
    typed = item.get("issn-type")
    if isinstance(typed, list) and typed:
        values = []
        for entry in typed:
            if isinstance(entry, dict) and jf.text(entry.get("value")):
                kind = {"print": "print", "electronic": "electronic"}.get(str(entry.get("type")))
                values.append((str(jf.text(entry.get("value"))), kind))
        jf.issns(rec, values, "issn-type")
    elif isinstance(item.get("ISSN"), list):
        jf.issns(rec, [(v, None) for v in (jf.text(x) for x in item["ISSN"]) if v], "ISSN")


def _abstract(rec: Record, value: object) -> None:
    raw = jf.text(value)
    if raw is None:
        return
    try:
        root = fromstring(f'<abstract xmlns:jats="{_JATS}">{raw}</abstract>', forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException) as exc:
        rec.problem("abstract", f"the abstract is not well-formed JATS XML ({exc})", "correct the abstract")
        return
    paragraphs = _paragraphs(root)
    if not paragraphs:
        paragraphs = [t for t in [_flat_text(root)] if t]
    if paragraphs and paragraphs[0].lower() == "abstract":
        paragraphs = paragraphs[1:]
    rec.abstract = clean("\n\n".join(paragraphs))
    rec.origins["abstract"] = "abstract"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _paragraphs(elem: ET.Element) -> list[str]:
    """Paragraphs in document order; a section's heading leads its first paragraph the way PubMed
    writes labelled sections ("Background: ...")."""
    found: list[str] = []
    label: str | None = None
    for child in elem:
        tag = _local(child.tag)
        text = _flat_text(child) if tag in _BLOCKS else None
        if tag == "title" and text:
            if label:
                found.append(label)
            label = text
        elif tag == "p" and text:
            found.append(f"{label}: {text}" if label else text)
            label = None
        elif tag not in _BLOCKS:
            if label:  # a heading over sections (e.g. "Abstract") stands alone
                found.append(label)
                label = None
            found.extend(_paragraphs(child))
    if label:
        found.append(label)
    return found


def _flat_text(elem: ET.Element) -> str | None:
    def walk(e: ET.Element) -> str:
        out = e.text or ""
        for child in e:
            inner = walk(child)
            out += (f"^{inner}" if _local(child.tag) == "sup" and inner else inner) + (child.tail or "")
        return out

    return clean(" ".join(walk(elem).split()))


def _funders(rec: Record, value: object) -> None:
    if not isinstance(value, list):
        return
    for funder in value:
        if not isinstance(funder, dict):
            continue
        name = jf.text(funder.get("name"))
        awards = funder.get("award")
        if not isinstance(awards, list):
            awards = []
        if name is None:
            rec.skipped("funder without a name")
            continue
        rec.funding.append(Grant(name, [a for a in (jf.text(x) for x in awards) if a]))
    rec.origins["funding"] = "funder"


def _updates(rec: Record, value: object) -> None:
    if not isinstance(value, list):
        return
    for update in value:
        if not isinstance(update, dict):
            continue
        kind = str(update.get("type", ""))
        target = _UPDATES.get(kind)
        doi = jf.text(update.get("DOI"))
        if target is None or doi is None:
            rec.skipped(f"updated-by {kind or '(no type)'}")
            continue
        label = jf.text(update.get("label")) or kind.capitalize()
        getattr(rec, target).append(Notice(f"{label}: {doi}", [("doi", doi)]))
        rec.origins[target] = "updated-by"
