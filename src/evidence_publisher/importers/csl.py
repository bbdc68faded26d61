"""CSL-JSON (citeproc's format, exported by Zotero, Mendeley and many reference tools)."""

from __future__ import annotations

import re

from evidence_publisher.importers import jsonfields as jf
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError
from evidence_publisher.importers.record import Record, clean

FORMAT = "csl-json"
_READ = {"id", "type", "title", "container-title", "container-title-short", "journalAbbreviation"}
_READ |= {"author", "issued", "volume", "issue", "page", "DOI", "PMID", "PMCID", "ISSN", "abstract"}
_READ |= {"keyword", "publisher"}


def parse(value: object, display: str) -> list[Record]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise UnreadableExportError(
            RecordIssue(display, 0, None, None, "", "the file holds no item", "export some")
        )
    return [_record(item, display, n) for n, item in enumerate(items, start=1)]


def _record(item: object, display: str, index: int) -> Record:
    rec = Record(display, FORMAT, index)
    if not isinstance(item, dict):
        rec.problem("", f"an item must be a JSON object, not {type(item).__name__}", "export CSL-JSON again")
        return rec
    rec.kind = jf.text(item.get("type"))
    doi = jf.text(item.get("DOI"))
    rec.key = f"id {item['id']}" if jf.text(item.get("id")) else (f"DOI {doi}" if doi else None)
    if rec.kind != "article-journal":
        rec.unsupported = True
        rec.problem(
            "type",
            f"item type {rec.kind!r} cannot be imported: the mapping format describes journal articles "
            "(article-journal)",
            "leave this item out of the file, or correct its type if it is a journal article",
        )
        return rec
    for fld, key in (
        ("title", "title"),
        ("journal", "container-title"),
        ("volume", "volume"),
        ("issue", "issue"),
        ("pages", "page"),
        ("publisher", "publisher"),
    ):
        setattr(rec, fld, jf.text(item.get(key)))
        rec.origins[fld] = key
    for key in ("container-title-short", "journalAbbreviation"):
        if jf.text(item.get(key)):
            rec.journal_abbreviation = jf.text(item.get(key))
            break
    abstract = item.get("abstract")
    if isinstance(abstract, str):
        rec.abstract = clean(abstract)
        rec.origins["abstract"] = "abstract"
    jf.authors(rec, item.get("author"), "author")
    issued = jf.date_parts(rec, item.get("issued"), "issued")
    if issued:
        jf.set_issue_date(rec, issued, "issued")
    for key, kind in (("DOI", "doi"), ("PMID", "pmid"), ("PMCID", "pmcid")):
        value = jf.text(item.get(key))
        if value:
            rec.add_identifier(kind, value, key)
    issn = jf.text(item.get("ISSN"))
    if issn:
        jf.issns(rec, [(v, None) for v in re.split(r"[\s,;]+", issn) if v], "ISSN")
    keywords = jf.text(item.get("keyword"))
    if keywords:
        rec.keywords = [k.strip() for k in re.split(r"[,;]", keywords) if k.strip()]
        rec.origins["keywords"] = "keyword"
    for key in sorted(item):
        if key not in _READ:
            rec.skipped(key)
    return rec
