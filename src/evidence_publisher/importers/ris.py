"""RIS (the tagged format of EndNote, Zotero, Mendeley and publishers), read with rispy.

The file is split into records here (``TY  -`` to ``ER  -``) so that each record knows its line and
a record without its end line is reported instead of silently dropped; rispy reads each record.
"""

from __future__ import annotations

import re

import rispy

from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError, decode_text
from evidence_publisher.importers.record import Person, Record, clean, month_abbreviation

FORMAT = "ris"
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_JOURNAL_TYPES = {"JOUR", "JFULL", "EJOUR"}
_DATE = re.compile(r"^(\d{4})(?:/(\d{0,2})(?:/(\d{0,2}))?)?")
_ISSN = re.compile(r"^\d{4}-\d{3}[\dXx]$")
# tags read into the mapping; every other tag present is named as not imported
_READ = {"TY", "TI", "T1", "AU", "A1", "JF", "T2", "JO", "J2", "JA", "SN", "VL", "IS", "SP", "EP"}
_READ |= {"PY", "Y1", "DA", "DO", "AB", "N2", "KW", "PB", "ER"}


def parse(data: bytes, display: str) -> list[Record]:
    text = decode_text(data, display, "RIS")
    chunks, problems = _split(text, display)
    if problems:
        raise UnreadableExportError(*problems)
    if not chunks:
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                None,
                None,
                "",
                "the file holds no RIS record (no 'TY  -' line)",
                "export some records as RIS",
            )
        )
    records = []
    for n, (line, chunk) in enumerate(chunks, start=1):
        if chunk is None:  # no end line
            rec = Record(display, FORMAT, n, line)
            rec.unsupported = True
            rec.problem(
                "ER",
                "the record has no end line 'ER  - ' (the file may have been cut short)",
                "end every record with a line 'ER  - ', or export the records again",
            )
            records.append(rec)
        else:
            records.append(_record(chunk, display, n, line))
    return records


def _split(text: str, display: str) -> tuple[list[tuple[int, str | None]], list[RecordIssue]]:
    """(line, text) of each record; text None for a record whose 'ER  -' line is missing."""
    chunks: list[tuple[int, str | None]] = []
    problems: list[RecordIssue] = []
    start: int | None = None
    lines: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        m = _TAG.match(raw)
        tag = m.group(1) if m else None
        if tag == "TY":
            if start is not None:
                chunks.append((start, None))
            start, lines = number, [raw]
        elif start is None:
            if raw.strip():
                problems.append(
                    RecordIssue(
                        display,
                        0,
                        number,
                        None,
                        "",
                        f"text outside a record: {raw[:60]!r}",
                        "every record starts with a 'TY  - ' line and ends with 'ER  - '",
                    )
                )
        else:
            lines.append(raw)
            if tag == "ER":
                chunks.append((start, "\n".join(lines) + "\n"))
                start, lines = None, []
    if start is not None:
        chunks.append((start, None))
    return chunks, problems


def _record(chunk: str, display: str, index: int, line: int) -> Record:
    rec = Record(display, FORMAT, index, line)
    entries = rispy.loads(chunk)
    if len(entries) != 1:
        rec.problem("", "rispy could not read this record", "check the record's tag lines ('XX  - value')")
        return rec
    e = entries[0]
    tags = [m.group(1) for m in (_TAG.match(x) for x in chunk.splitlines()) if m]
    rec.kind = clean(e.get("type_of_reference"))
    doi = clean(e.get("doi"))
    rec.key = f"DOI {doi}" if doi else None
    if rec.kind not in _JOURNAL_TYPES:
        rec.unsupported = True
        rec.problem(
            "TY",
            f"record type {rec.kind!r} cannot be imported: the mapping format describes journal articles "
            f"({', '.join(sorted(_JOURNAL_TYPES))})",
            "leave this record out of the file, or correct its TY line if it is a journal article",
        )
        return rec
    _take(rec, "title", e, ("title", "TI"), ("primary_title", "T1"))
    for key, tag in (("authors", "AU"), ("first_authors", "A1")):
        if e.get(key):
            rec.authors = [_person(a) for a in e[key] if a.strip()]
            rec.origins["authors"] = tag
            break
    journal_from = _take(
        rec, "journal", e, ("alternate_title3", "JF"), ("secondary_title", "T2"), ("journal_name", "JO")
    )
    _take(rec, "journal_abbreviation", e, ("alternate_title1", "J2"), ("alternate_title2", "JA"))
    if rec.journal_abbreviation is None and journal_from != "JO" and clean(e.get("journal_name")):
        rec.journal_abbreviation = clean(e.get("journal_name"))  # JO beside a full title: its short form
    _issn(rec, e)
    _take(rec, "volume", e, ("volume", "VL"))
    _take(rec, "issue", e, ("number", "IS"))
    _pages(rec, e)
    _dates(rec, e)
    if doi:
        rec.add_identifier("doi", doi, "DO")
    _take(rec, "abstract", e, ("abstract", "AB"), ("notes_abstract", "N2"))
    rec.keywords = [k.strip() for k in e.get("keywords") or [] if k.strip()]
    rec.origins["keywords"] = "KW"
    _take(rec, "publisher", e, ("publisher", "PB"))
    for tag in tags:
        if tag not in _READ:
            rec.skipped(tag)
    return rec


def _take(rec: Record, fld: str, e: dict, *keys: tuple[str, str]) -> str | None:
    """Set ``fld`` from the first of ``keys`` (rispy key, RIS tag) the record has; return the tag."""
    for key, tag in keys:
        value = e.get(key)
        value = clean(value if isinstance(value, str) else None)
        if value:
            setattr(rec, fld, value)
            rec.origins[fld] = tag
            return tag
    return None


def _person(text: str) -> Person:
    """``Family, Given[, Suffix]`` as RIS writes names -> ``Given Family Suffix``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1 or not parts[1]:
        return Person(parts[0], parts[0].split()[-1] if parts[0] else None)
    family, given, *rest = parts
    return Person(" ".join(x for x in (given, family, *rest) if x), family)


def _issn(rec: Record, e: dict) -> None:
    value = clean(e.get("issn"))
    if value is None:
        return
    found = [v for v in re.split(r"[\s,;]+", value) if v]
    if all(_ISSN.match(v) for v in found):
        rec.issn = [(v.upper(), None) for v in found]
        rec.origins["issn"] = "SN"
    else:
        rec.skipped(f"SN {value!r} (not an ISSN)")


def _pages(rec: Record, e: dict) -> None:
    start, end = clean(e.get("start_page")), clean(e.get("end_page"))
    if start and end:
        rec.pages = f"{start}-{end}"
    else:
        rec.pages = start or end
    rec.origins["pages"] = "SP, EP"


def _dates(rec: Record, e: dict) -> None:
    for key, tag in (("date", "DA"), ("year", "PY"), ("publication_year", "Y1")):
        value = clean(e.get(key))
        if not value:
            continue
        m = _DATE.match(value)
        if m is None:
            rec.problem(
                tag, f"date {value!r} does not start with a four-digit year", "write YYYY or YYYY/MM/DD"
            )
            return
        rec.year = int(m.group(1))
        rec.origins["year"] = rec.origins["month"] = rec.origins["day"] = tag
        month, day = m.group(2), m.group(3)
        if month:
            rec.month = month_abbreviation(month)
            if rec.month is None:
                rec.problem(tag, f"month {month!r} in {value!r} is not a month", "write YYYY/MM/DD")
                return
            if day:
                rec.day = int(day)
        if key != "date" or month:
            return
