"""PubMed/MEDLINE XML as efetch writes it (``PubmedArticleSet`` of ``PubmedArticle``).

Parsed with defusedxml (entity declarations and external references are refused; PubMed's own
DOCTYPE line is allowed) one record at a time: each ``PubmedArticle`` is converted and dropped as
soon as it ends, so memory does not grow with the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from evidence_publisher.errors import InputLimitError
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError
from evidence_publisher.importers.record import (
    MONTHS,
    Grant,
    Heading,
    Notice,
    Person,
    Qualifier,
    Record,
    clean,
)
from evidence_publisher.importers.record import month_abbreviation as _month
from evidence_publisher.limits import NESTING_DEPTH, current

FORMAT = "pubmed-xml"
_RECORDS = {"PubmedArticle", "PubmedBookArticle"}
_ART = "MedlineCitation/Article"
_CHUNK = 1 << 20
# parts of a PubMed record with no home in the mapping format (named in the mapping's comments)
_NOT_IMPORTED = {
    f"{_ART}/PublicationTypeList": "PublicationTypeList",
    "MedlineCitation/ChemicalList": "ChemicalList",
    "MedlineCitation/OtherAbstract": "OtherAbstract",
    f"{_ART}/Abstract/CopyrightInformation": "Abstract/CopyrightInformation",
    f"{_ART}/DataBankList": "DataBankList",
    f"{_ART}/Language": "Language",
    "MedlineCitation/SupplMeshList": "SupplMeshList",
    "MedlineCitation/CoiStatement": "CoiStatement",
}
_LINKS = {"ErratumIn": "errata", "RetractionIn": "retractions"}


def parse(data: bytes, display: str) -> list[Record]:
    target = _Target(display, current(NESTING_DEPTH))
    parser = DefusedXMLParser(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    target.line_now = lambda: parser.parser.CurrentLineNumber
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
        parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise UnreadableExportError(
            RecordIssue(
                display,
                target.count + (1 if target.open_record else 0),
                line,
                None,
                "",
                f"not well-formed XML at column {column}: {_xml_reason(exc)}",
                "export the records again from PubMed (Save > Format: PubMed XML, or efetch "
                "rettype=xml); a file that was cut short or edited by hand is often the cause",
            )
        ) from None
    except DefusedXmlException as exc:
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                None,
                None,
                "",
                f"the XML declares entities or external references ({type(exc).__name__}), which are "
                "refused for safety",
                "use the file as PubMed exports it (its DOCTYPE line declares no entities)",
            )
        ) from None
    if target.root_tag not in (None, "PubmedArticleSet"):
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                1,
                None,
                "",
                f"the root element is <{target.root_tag}>, not <PubmedArticleSet>",
                "give PubMed XML in efetch format (PubmedArticleSet), or name the format with --input-format",
            )
        )
    if not target.records:
        raise UnreadableExportError(
            RecordIssue(display, 0, None, None, "", "the file holds no PubmedArticle", "export some records")
        )
    return target.records


def _xml_reason(exc: ET.ParseError) -> str:
    text = str(exc)
    return text.split(":", 1)[0] if ":" in text else text


class _Target:
    """Builds one record element at a time from the parser's events (mixed content kept)."""

    def __init__(self, display: str, max_depth: int) -> None:
        self.display = display
        self.max_depth = max_depth
        self.stack: list[ET.Element] = []
        self.records: list[Record] = []
        self.count = 0
        self.open_record: ET.Element | None = None
        self.record_line = 0
        self.root_tag: str | None = None
        self.line_now: Callable[[], int] = lambda: 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if len(self.stack) >= self.max_depth:
            raise InputLimitError(
                f"{self.display}:{self.line_now()}",
                NESTING_DEPTH,
                f"XML nesting of more than {self.max_depth} levels",
                self.max_depth,
            )
        elem = ET.Element(tag, attrs)
        if not self.stack:
            self.root_tag = tag
        elif len(self.stack) > 1 or tag in _RECORDS:
            self.stack[-1].append(elem)
        if len(self.stack) == 1 and tag in _RECORDS:
            self.open_record, self.record_line = elem, self.line_now()
        self.stack.append(elem)

    def data(self, text: str) -> None:
        if len(self.stack) < 2:
            return  # whitespace between records
        parent = self.stack[-1]
        if len(parent):
            last = parent[-1]
            last.tail = (last.tail or "") + text
        else:
            parent.text = (parent.text or "") + text

    def end(self, tag: str) -> None:
        elem = self.stack.pop()
        if len(self.stack) == 1 and elem is self.open_record:
            self.count += 1
            self.records.append(_record(elem, self.display, self.count, self.record_line))
            self.stack[0].remove(elem)
            self.open_record = None

    def close(self) -> None:
        return None


def _text(elem: ET.Element | None) -> str | None:
    return None if elem is None else clean("".join(_flat(elem)))


def _flat(elem: ET.Element) -> list[str]:
    """The element's text with inline markup dropped, except that a superscript keeps a ``^``:
    ``10<sup>6</sup>`` reads ``10^6``, never the different number ``106``."""
    out = [elem.text or ""]
    for child in elem:
        inner = "".join(_flat(child))
        out.append(f"^{inner}" if child.tag == "sup" and inner else inner)
        out.append(child.tail or "")
    return out


def _record(art: ET.Element, display: str, index: int, line: int) -> Record:
    rec = Record(display, FORMAT, index, line)
    rec.kind = art.tag
    pmid = _text(art.find("MedlineCitation/PMID"))
    rec.key = f"PMID {pmid}" if pmid else None
    if art.tag != "PubmedArticle":
        rec.unsupported = True
        rec.problem(
            "",
            f"a <{art.tag}> (a book or book chapter) cannot be imported: the mapping format describes "
            "journal articles",
            "leave this record out of the file",
        )
        return rec
    a = art.find(_ART)
    if a is None:
        rec.problem(_ART, "the record has no <Article>", "export the record again from PubMed")
        return rec
    rec.title = _text(a.find("ArticleTitle"))
    rec.origins["title"] = f"{_ART}/ArticleTitle"
    _journal(rec, art, a)
    _ids(rec, art, a, pmid)
    _abstract(rec, a)
    _authors(rec, a)
    _pages(rec, a)
    _grants(rec, a)
    _keywords(rec, art)
    _mesh(rec, art)
    _links(rec, art)
    online = a.find("ArticleDate[@DateType='Electronic']")
    if online is not None:
        rec.published_online = _full_date(rec, online, f"{_ART}/ArticleDate")
        rec.origins["published_date"] = f"{_ART}/ArticleDate"
    for path, name in _NOT_IMPORTED.items():
        if art.find(path) is not None:
            rec.skipped(name)
    return rec


def _journal(rec: Record, art: ET.Element, a: ET.Element) -> None:
    j = a.find("Journal")
    if j is None:
        return
    rec.journal = _text(j.find("Title"))
    rec.origins["journal"] = f"{_ART}/Journal/Title"
    rec.journal_abbreviation = _text(j.find("ISOAbbreviation")) or _text(
        art.find("MedlineCitation/MedlineJournalInfo/MedlineTA")
    )
    for issn in j.findall("ISSN"):
        value = _text(issn)
        if value:
            kind = {"Print": "print", "Electronic": "electronic"}.get(issn.get("IssnType", ""))
            rec.issn.append((value, kind))
    linking = _text(art.find("MedlineCitation/MedlineJournalInfo/ISSNLinking"))
    if linking:
        rec.issn.append((linking, "linking"))
    ji = j.find("JournalIssue")
    if ji is None:
        return
    rec.volume = _text(ji.find("Volume"))
    rec.issue = _text(ji.find("Issue"))
    rec.origins["volume"] = rec.origins["issue"] = f"{_ART}/Journal/JournalIssue"
    pub = ji.find("PubDate")
    if pub is None:
        return
    where = f"{_ART}/Journal/JournalIssue/PubDate"
    rec.origins["year"] = rec.origins["month"] = rec.origins["day"] = where
    medline = _text(pub.find("MedlineDate"))
    if medline is not None:  # e.g. "2010 Jul-Aug": the year, and the rest as printed
        head, _, rest = medline.partition(" ")
        rec.year = _year(rec, head, where + "/MedlineDate")
        rec.month = clean(rest)
        return
    rec.year = _year(rec, _text(pub.find("Year")), where + "/Year")
    month = _text(pub.find("Month"))
    season = _text(pub.find("Season"))
    rec.month = (_month(month) or month) if month else season
    day = _text(pub.find("Day"))
    if day is not None:
        rec.day = _number(rec, day, "day", where + "/Day")


def _ids(rec: Record, art: ET.Element, a: ET.Element, pmid: str | None) -> None:
    if pmid:
        rec.add_identifier("pmid", pmid, "MedlineCitation/PMID")
    for aid in art.findall("PubmedData/ArticleIdList/ArticleId"):
        kind = {"doi": "doi", "pmc": "pmcid", "pubmed": "pmid"}.get(aid.get("IdType", ""))
        value = _text(aid)
        if kind and value:
            rec.add_identifier(kind, value, "PubmedData/ArticleIdList")
    for eloc in a.findall("ELocationID[@EIdType='doi']"):
        value = _text(eloc)
        if value and eloc.get("ValidYN", "Y") == "Y":
            rec.add_identifier("doi", value, f"{_ART}/ELocationID")


def _abstract(rec: Record, a: ET.Element) -> None:
    parts = []
    for section in a.findall("Abstract/AbstractText"):
        text = _text(section)
        if text is None:
            continue
        label = section.get("Label")
        parts.append(f"{label}: {text}" if label else text)
    if parts:
        rec.abstract = "\n\n".join(parts)
        rec.origins["abstract"] = f"{_ART}/Abstract/AbstractText"


def _authors(rec: Record, a: ET.Element) -> None:
    for n, author in enumerate(a.findall("AuthorList/Author"), start=1):
        if author.get("ValidYN", "Y") != "Y":
            continue
        collective = _text(author.find("CollectiveName"))
        last = _text(author.find("LastName"))
        first = _text(author.find("ForeName")) or _text(author.find("Initials"))
        suffix = _text(author.find("Suffix"))
        if collective:
            person = Person(collective, collective)
        elif last:
            person = Person(" ".join(x for x in (first, last, suffix) if x), last)
        else:
            rec.problem(
                f"{_ART}/AuthorList/Author[{n}]",
                "the author has neither LastName nor CollectiveName",
                "correct the record, or remove the empty <Author>",
            )
            continue
        found = (_text(e) for e in author.findall("AffiliationInfo/Affiliation"))
        person.affiliations = [x for x in found if x]
        rec.authors.append(person)
    rec.origins["authors"] = f"{_ART}/AuthorList"


def _pages(rec: Record, a: ET.Element) -> None:
    pg = a.find("Pagination")
    if pg is None:
        return
    rec.pages = _text(pg.find("MedlinePgn"))
    if rec.pages is None:
        start, end = _text(pg.find("StartPage")), _text(pg.find("EndPage"))
        rec.pages = f"{start}-{end}" if start and end else start
    rec.origins["pages"] = f"{_ART}/Pagination"


def _grants(rec: Record, a: ET.Element) -> None:
    for grant in a.findall("GrantList/Grant"):
        agency, number = _text(grant.find("Agency")), _text(grant.find("GrantID"))
        if agency is None:
            rec.skipped(f"GrantList/Grant without Agency ({number or 'no GrantID'})")
            continue
        rec.funding.append(Grant(agency, [number] if number else []))
    rec.origins["funding"] = f"{_ART}/GrantList"


def _keywords(rec: Record, art: ET.Element) -> None:
    for kw in art.findall("MedlineCitation/KeywordList/Keyword"):
        text = _text(kw)
        if text and text not in rec.keywords:
            rec.keywords.append(text)
    rec.origins["keywords"] = "MedlineCitation/KeywordList"


def _mesh(rec: Record, art: ET.Element) -> None:
    for heading in art.findall("MedlineCitation/MeshHeadingList/MeshHeading"):
        desc = heading.find("DescriptorName")
        name = _text(desc)
        if desc is None or name is None:
            continue
        h = Heading(name, desc.get("UI"), desc.get("MajorTopicYN") == "Y")
        for q in heading.findall("QualifierName"):
            qname = _text(q)
            if qname:
                h.qualifiers.append(Qualifier(qname, q.get("UI"), q.get("MajorTopicYN") == "Y"))
        rec.mesh.append(h)
    rec.origins["mesh_headings"] = "MedlineCitation/MeshHeadingList"


def _links(rec: Record, art: ET.Element) -> None:
    for link in art.findall("MedlineCitation/CommentsCorrectionsList/CommentsCorrections"):
        ref_type = link.get("RefType", "")
        target = _LINKS.get(ref_type)
        source = _text(link.find("RefSource"))
        if target is None or source is None:
            rec.skipped(f"CommentsCorrections {ref_type or '(no RefType)'}")
            continue
        notice = Notice(source)
        linked = _text(link.find("PMID"))
        if linked:
            notice.identifiers.append(("pmid", linked))
        getattr(rec, target).append(notice)
        rec.origins[target] = "MedlineCitation/CommentsCorrectionsList"


def _year(rec: Record, text: str | None, where: str) -> int | None:
    if text is None:
        return None
    if not (len(text) == 4 and text.isdigit()):
        rec.problem(where, f"year {text!r} is not a four-digit year", "correct the record")
        return None
    return int(text)


def _number(rec: Record, text: str, fld: str, where: str) -> int | None:
    if not text.isdigit():
        rec.problem(where, f"{fld} {text!r} is not a number", "correct the record")
        return None
    return int(text)


def _full_date(rec: Record, elem: ET.Element, where: str) -> str | None:
    year = _year(rec, _text(elem.find("Year")), f"{where}/Year")
    if year is None:
        return None
    out = f"{year:04d}"
    month = _text(elem.find("Month"))
    if month is not None:
        abbr = _month(month)
        if abbr is None:
            rec.problem(f"{where}/Month", f"month {month!r} is not a month", "correct the record")
            return None
        out += f"-{MONTHS.index(abbr) + 1:02d}"
        day = _text(elem.find("Day"))
        if day is not None and (n := _number(rec, day, "day", f"{where}/Day")) is not None:
            out += f"-{n:02d}"
    return out
