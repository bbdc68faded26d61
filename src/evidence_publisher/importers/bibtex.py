"""BibTeX and biblatex, read with bibtexparser 2; LaTeX in values is decoded with pylatexenc
(``M{\\"u}ller`` -> ``Müller``, ``10\\%`` -> ``10%``), names are split by bibtexparser's own rules
before decoding so that a braced group name (``{World Health Organization}``) stays one name."""

from __future__ import annotations

import logging
import re

import bibtexparser
from bibtexparser.entrypoint import parse_string
from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names
from pylatexenc.latex2text import LatexNodes2Text

from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError, decode_text
from evidence_publisher.importers.record import Person, Record, clean, month_abbreviation

FORMAT = "bibtex"
_ISSN = re.compile(r"^\d{4}-\d{3}[\dXx]$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_READ = {"title", "author", "journal", "journaltitle", "shortjournal", "issn", "volume", "number", "issue"}
_READ |= {"pages", "year", "month", "day", "date", "doi", "pmid", "pmcid", "eprint", "eprinttype"}
_READ |= {"abstract", "keywords", "publisher"}
_LATEX = LatexNodes2Text()


def parse(data: bytes, display: str) -> list[Record]:
    text = decode_text(data, display, "BibTeX")
    quiet = logging.getLogger("bibtexparser")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its failures are reported below, with a fix
    try:
        library = parse_string(text)
    finally:
        quiet.setLevel(level)
    records: list[Record] = []
    for block in library.blocks:
        if isinstance(block, bibtexparser.model.Entry):
            records.append(_record(block, display, len(records) + 1))
        elif isinstance(block, bibtexparser.model.ParsingFailedBlock):
            rec = Record(display, FORMAT, len(records) + 1, _line(block))
            rec.unsupported = True
            rec.problem(
                "",
                f"this entry cannot be read: {_reason(block)}",
                'correct the entry (every field is name = {value} or "value", separated by commas, and '
                "braces must balance), or export the records again",
            )
            records.append(rec)
    if not records:
        raise UnreadableExportError(
            RecordIssue(display, 0, None, None, "", "the file holds no BibTeX entry", "export some records")
        )
    return records


def _line(block: bibtexparser.model.Block) -> int | None:
    """The 1-based line a block starts on (bibtexparser counts from 0; None for a block not parsed)."""
    return None if block.start_line is None else block.start_line + 1


def _reason(block: object) -> str:
    error = getattr(block, "error", None)
    text = getattr(error, "abort_reason", None) or (str(error) if error else "") or type(block).__name__
    return " ".join(text.split()).split(". Note:")[0]


def _decode(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return clean(" ".join(_LATEX.latex_to_text(value).split()))


def _record(entry: bibtexparser.model.Entry, display: str, index: int) -> Record:
    rec = Record(display, FORMAT, index, _line(entry))
    rec.kind = entry.entry_type.lower()
    rec.key = f"@{rec.kind}{{{entry.key}}}"
    fields = {f.key.lower(): f.value for f in entry.fields}
    if rec.kind != "article":
        rec.unsupported = True
        rec.problem(
            "",
            f"entry type @{rec.kind} cannot be imported: the mapping format describes journal articles "
            "(@article)",
            "leave this entry out of the file, or correct its type if it is a journal article",
        )
        return rec
    _take(rec, "title", fields, "title")
    _take(rec, "journal", fields, "journal", "journaltitle")
    _take(rec, "journal_abbreviation", fields, "shortjournal")
    _take(rec, "volume", fields, "volume")
    _take(rec, "issue", fields, "number", "issue")
    _take(rec, "publisher", fields, "publisher")
    if isinstance(fields.get("abstract"), str):
        rec.abstract = _paragraphs(fields["abstract"])
        rec.origins["abstract"] = "abstract"
    pages = fields.get("pages")
    if isinstance(pages, str):
        rec.pages = _decode(pages.replace("--", "-"))
        rec.origins["pages"] = "pages"
    _authors(rec, fields)
    _dates(rec, fields)
    _ids(rec, fields)
    issn = _decode(fields.get("issn"))
    if issn:
        values = [v for v in re.split(r"[\s,;]+", issn) if v]
        if all(_ISSN.match(v) for v in values):
            rec.issn = [(v.upper(), None) for v in values]
            rec.origins["issn"] = "issn"
        else:
            rec.skipped(f"issn {issn!r} (not an ISSN)")
    keywords = _decode(fields.get("keywords"))
    if keywords:
        rec.keywords = [k.strip() for k in re.split(r"[,;]", keywords) if k.strip()]
        rec.origins["keywords"] = "keywords"
    for name in sorted(fields):
        if name not in _READ:
            rec.skipped(name)
    return rec


def _paragraphs(value: str) -> str | None:
    """TeX's reading of the text: a line break is a space, a blank line ends a paragraph."""
    paragraphs = (" ".join(_LATEX.latex_to_text(p).split()) for p in re.split(r"\n[ \t]*\n", value))
    return clean("\n\n".join(p for p in paragraphs if p))


def _take(rec: Record, fld: str, fields: dict, *names: str) -> None:
    for name in names:
        value = _decode(fields.get(name))
        if value:
            setattr(rec, fld, value)
            rec.origins[fld] = name
            return


def _authors(rec: Record, fields: dict) -> None:
    raw = fields.get("author")
    if not isinstance(raw, str):
        return
    rec.origins["authors"] = "author"
    for n, name in enumerate(split_multiple_persons_names(raw), start=1):
        try:
            parts = parse_single_name_into_parts(name)
        except Exception as exc:  # bibtexparser raises InvalidNameError and plain ValueErrors
            rec.problem(f"author[{n}]", f"the name {name!r} cannot be read: {exc}", "correct the name")
            continue
        family = _decode(" ".join([*parts.von, *parts.last]))
        given = _decode(" ".join(parts.first))
        suffix = _decode(" ".join(parts.jr))
        if not family:
            rec.problem(f"author[{n}]", f"the name {name!r} has no family name", "write 'Family, Given'")
            continue
        rec.authors.append(Person(" ".join(x for x in (given, family, suffix) if x), family))


def _dates(rec: Record, fields: dict) -> None:
    date = _decode(fields.get("date"))
    if date:  # biblatex
        m = _DATE.match(date)
        if m is None:
            rec.problem("date", f"date {date!r} is not YYYY, YYYY-MM or YYYY-MM-DD", "correct the date")
            return
        rec.year = int(m.group(1))
        rec.month = month_abbreviation(m.group(2)) if m.group(2) else None
        rec.day = int(m.group(3)) if m.group(3) else None
        rec.origins["year"] = rec.origins["month"] = rec.origins["day"] = "date"
        return
    year = _decode(fields.get("year"))
    if year:
        if not (len(year) == 4 and year.isdigit()):
            rec.problem("year", f"year {year!r} is not a four-digit year", "correct the year")
        else:
            rec.year = int(year)
            rec.origins["year"] = "year"
    month = _decode(fields.get("month"))
    if month:
        rec.month = month_abbreviation(month) or month
        rec.origins["month"] = "month"
    day = _decode(fields.get("day"))
    if day:
        if not day.isdigit():
            rec.problem("day", f"day {day!r} is not a number", "correct the day")
        else:
            rec.day = int(day)
            rec.origins["day"] = "day"


def _ids(rec: Record, fields: dict) -> None:
    for name, kind in (("doi", "doi"), ("pmid", "pmid"), ("pmcid", "pmcid")):
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            rec.add_identifier(kind, value.strip(), name)
    eprint_type = str(fields.get("eprinttype", "")).strip().lower()
    eprint = fields.get("eprint")
    if isinstance(eprint, str) and eprint.strip():
        eprint_kind = {"pubmed": "pmid", "pmid": "pmid", "pmc": "pmcid", "pmcid": "pmcid"}.get(eprint_type)
        if eprint_kind:
            rec.add_identifier(eprint_kind, eprint.strip(), "eprint")
        else:
            rec.skipped(f"eprint ({eprint_type or 'no eprinttype'})")
