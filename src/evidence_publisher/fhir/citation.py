"""Citation: journal-article style for abstracts, web-page style for news, blog and summary pages."""

from __future__ import annotations

from typing import Any

from evidence_publisher.constants import CITATION_ARTIFACT_CLASSIFIER, CITATION_CLASSIFICATION_TYPE
from evidence_publisher.fhir.common import Context, base, concept, external_note, narrative, ref
from evidence_publisher.sources.model import (
    MONTH_NUMBERS,
    CitationSpec,
    Erratum,
    MeshHeading,
    Publication,
    RecordRef,
    SourceDocument,
)

TITLE_TYPE = "http://hl7.org/fhir/title-type"
PUBLISHED_IN_TYPE = "http://hl7.org/fhir/published-in-type"
URL_CLASSIFIER = "http://hl7.org/fhir/artifact-url-classifier"
STATUS_TYPE = "http://hl7.org/fhir/cited-artifact-status-type"
ABSTRACT_TYPE = "http://hl7.org/fhir/cited-artifact-abstract-type"
SUMMARY_TYPE = "http://hl7.org/fhir/contributor-summary-type"
MONTHS = {m: f"{i:02d}" for m, i in MONTH_NUMBERS.items()}
MESH_SYSTEM = "https://www.nlm.nih.gov/mesh"  # THO NamingSystem-MeSH: the preferred URI
ISSN_SYSTEM = "urn:ISSN"  # RFC 3044
_ISSN_LABEL = {
    "print": "Print ISSN",
    "electronic": "Electronic ISSN",
    "linking": "Linking ISSN (ISSN-L)",
    None: "ISSN",
}
_FORMAT_LABEL = {
    "pubmed-xml": "PubMed XML",
    "ris": "RIS",
    "bibtex": "BibTeX",
    "csl-json": "CSL-JSON",
    "crossref-json": "Crossref JSON",
}
IDENTIFIER_SYSTEMS = {
    "doi": "https://doi.org",
    "pmid": "https://pubmed.ncbi.nlm.nih.gov",
    "pmcid": "https://www.ncbi.nlm.nih.gov/pmc",
    "nct": "https://clinicaltrials.gov",
    "isbn": "urn:isbn",
    "url": "urn:ietf:rfc:3986",
}
_NOT_A_FINDING = " (not a finding)"
_NOT_FINDINGS = ("hypothesis", "mechanism")
_RELATION_LABEL = {
    "reports-on": "reports on",
    "cites": "cites",
    "claims-support-from": "claims support from",
}


def citation_id(pub: Publication) -> str:
    return publication_citation_id(pub.id)


def publication_citation_id(pub_id: str) -> str:
    """The id of the Citation of publication ``pub_id`` (``citation_id`` without its model)."""
    return pub_id


def map_citation(ctx: Context, pub: Publication, source: SourceDocument) -> dict:
    cit = pub.citation
    assert cit is not None
    journal = cit.style == "journal-article"
    res = base(
        ctx,
        "Citation",
        citation_id(pub),
        title=f"Citation for {pub.label}",
        date=pub.date,
        profiles=["journal-article-citation"] if journal else None,
    )
    where = "corpus document" if pub.in_corpus else "not in the corpus; named by corpus document"
    res["description"] = (
        f"{'Journal article' if journal else 'Web page'}: {cit.title} ({where} {source.file}, {source.kind})"
    )
    artifact: dict = {
        "title": [{"type": [concept(TITLE_TYPE, "primary")], "text": cit.title}],
        "classification": [
            {
                "type": concept(CITATION_CLASSIFICATION_TYPE, "knowledge-artifact-type"),
                "classifier": [
                    concept(CITATION_ARTIFACT_CLASSIFIER, "D016428", "Journal Article")
                    if journal
                    else concept(CITATION_ARTIFACT_CLASSIFIER, "webpage", "Webpage")
                ],
            }
        ],
    }
    if cit.identifiers:
        artifact["identifier"] = [
            {"system": IDENTIFIER_SYSTEMS[i.type], "value": i.value} for i in cit.identifiers
        ]
    dates = _status_dates(cit)
    if dates:
        artifact["statusDate"] = dates
    if cit.abstract:
        artifact["abstract"] = [
            {
                "type": concept(ABSTRACT_TYPE, "primary-human-use", "Primary human use"),
                "text": cit.abstract,
                "copyright": "As printed in the corpus document; copyright remains with the publisher.",
            }
        ]
    artifact["classification"] += _classification(cit)
    form = _publication_form(cit)
    if form:
        artifact["publicationForm"] = [form]
    contributors = _contributorship(cit)
    if contributors:
        artifact["contributorship"] = contributors
    web = [
        {
            "classifier": [concept(URL_CLASSIFIER, "doi-based", "DOI Based")],
            "url": f"https://doi.org/{i.value}",
        }
        for i in cit.identifiers
        if i.type == "doi"
    ]
    if web:
        artifact["webLocation"] = web
    relates = _relates_to(cit)
    if relates:
        artifact["relatesTo"] = relates
    notes = _artifact_notes(cit)
    if notes:
        artifact["note"] = notes
    res["citedArtifact"] = artifact
    citation_notes = _provenance_notes(cit, source) + [
        {"text": f"{n.kind.capitalize()}{_NOT_A_FINDING if n.kind in _NOT_FINDINGS else ''}: {n.text}"}
        for n in pub.notes
    ]
    if citation_notes:
        res["note"] = citation_notes
    res["text"] = narrative(f"Citation: {pub.label}", _rows(pub, cit, source))
    return res


def _rows(pub: Publication, cit: CitationSpec, source: SourceDocument) -> list[tuple[str, str]]:
    rows = [
        ("Title", cit.title),
        ("Kind", "journal article" if cit.style == "journal-article" else "web page"),
    ]
    authors = ", ".join(a.name for a in cit.authors) or cit.author_statement
    rows.append(("Authors", authors or "not stated"))
    if cit.journal:
        abbreviation = f" ({cit.journal.abbreviation})" if cit.journal.abbreviation else ""
        rows.append(("Journal", cit.journal.title + abbreviation))
    if cit.website:
        rows.append(("Website", cit.website))
    date = " ".join(str(x) for x in (cit.year, cit.month, cit.day) if x)
    if date:
        rows.append(("Published", date))
    if cit.published_date:
        rows.append(("Posted" if cit.style == "web-page" else "First published online", cit.published_date))
    for label, value in (("Volume", cit.volume), ("Issue", cit.issue), ("Pages", cit.pages)):
        if value:
            rows.append((label, value))
    if cit.journal:
        rows += [(_ISSN_LABEL[i.type], i.value) for i in cit.journal.issn]
    for ident in cit.identifiers:
        rows.append((ident.type.upper(), ident.value))
    if cit.keywords:
        rows.append(("Keywords", "; ".join(cit.keywords)))
    if cit.mesh_headings:
        rows.append(("MeSH headings", "; ".join(_mesh_text(h) for h in cit.mesh_headings)))
    for fund in cit.funding:
        grants = ", ".join(fund.grants) if fund.grants else "no grant number printed"
        rows.append(("Funding", f"{fund.funder} ({grants})"))
    rows += [("Erratum", _notice_text(e)) for e in cit.errata]
    rows += [("Retracted by", _notice_text(e)) for e in cit.retractions]
    standing = "primary" if source.primary else "secondary"
    where = "the corpus document" if pub.in_corpus else "named in the corpus document"
    rows.append(("Source", f"{where} {source.file} ({source.kind}, {standing})"))
    for ext in cit.external:
        rows.append(("Found outside the corpus", f"{', '.join(ext.fields)} ({ext.status}, {ext.url})"))
    if cit.imported_from:
        rows.append(
            ("Imported from", f"{_record_text(cit.imported_from)}: {', '.join(cit.imported_from.fields)}")
        )
    return rows


def _record_text(rec: RecordRef) -> str:
    return f"record {rec.record} of {rec.file} ({_FORMAT_LABEL[rec.format]}, SHA-256 {rec.sha256})"


def _notice_text(notice: Erratum) -> str:
    ids = "; ".join(f"{i.type.upper()} {i.value}" for i in notice.identifiers)
    return f"{notice.citation} ({ids})" if ids else notice.citation


def _mesh_text(heading: MeshHeading) -> str:
    """PubMed's way of writing a heading: Descriptor/qualifier, a major topic starred."""
    text = heading.descriptor + ("*" if heading.major_topic else "")
    for qual in heading.qualifiers:
        text += f"/{qual.name}" + ("*" if qual.major_topic else "")
    return text


def _classification(cit: CitationSpec) -> list[dict]:
    out = []
    if cit.keywords:
        out.append(
            {
                "type": concept(CITATION_CLASSIFICATION_TYPE, "keyword", "Keyword"),
                "classifier": [{"text": k} for k in cit.keywords],
            }
        )
    if cit.mesh_headings:
        classifiers = []
        for heading in cit.mesh_headings:
            item: dict = {"text": _mesh_text(heading)}
            if heading.code:
                item["coding"] = [
                    {"system": MESH_SYSTEM, "code": heading.code, "display": heading.descriptor}
                ]
            classifiers.append(item)
        out.append(
            {
                "type": concept(CITATION_CLASSIFICATION_TYPE, "mesh-heading", "MeSH heading"),
                "classifier": classifiers,
            }
        )
    return out


def _status_dates(cit: CitationSpec) -> list[dict]:
    """Issue date (year and month as printed) and first-online date as structured statusDates."""
    out = []
    if cit.style == "journal-article" and cit.published_date:
        out.append(
            {
                "activity": concept(STATUS_TYPE, "published-early-form", "Published early form"),
                "actual": True,
                "period": {"start": cit.published_date},
            }
        )
    if cit.year is not None:
        issued = str(cit.year) + (
            f"-{MONTHS[cit.month[:3]]}" if cit.month and cit.month[:3] in MONTHS else ""
        )
        if cit.day is not None:  # the model allows a day only with a month
            issued += f"-{cit.day:02d}"
        out.append(
            {
                "activity": concept(STATUS_TYPE, "published-final-form", "Published final form"),
                "actual": True,
                "period": {"start": issued},
            }
        )
    return out


def _publication_form(cit: CitationSpec) -> dict | None:
    form: dict = {}
    if cit.journal or cit.website:
        published_in: dict = {
            "type": concept(PUBLISHED_IN_TYPE, "D020492", "Periodical")
            if cit.journal
            else {"text": "Website"},
            "title": cit.journal.title if cit.journal else cit.website,
        }
        if cit.journal and cit.journal.issn:
            published_in["identifier"] = [
                {"type": {"text": _ISSN_LABEL[i.type]}, "system": ISSN_SYSTEM, "value": i.value}
                for i in cit.journal.issn
            ]
        if cit.publisher:
            published_in["publisher"] = {"display": cit.publisher}
        form["publishedIn"] = published_in
    elif cit.style == "web-page":
        form["publishedIn"] = {"type": {"text": "Website"}}
    for key in ("volume", "issue"):
        if getattr(cit, key):
            form[key] = getattr(cit, key)
    if cit.pages:
        form["pageString"] = cit.pages
    date_text = " ".join(str(x) for x in (cit.year, cit.month, cit.day) if x)
    if cit.published_date and cit.style == "web-page":
        form["articleDate"] = cit.published_date
    if date_text:
        form["publicationDateText"] = date_text
    return form or None


def _contributorship(cit: CitationSpec) -> dict | None:
    entries = []
    for rank, author in enumerate(cit.authors, start=1):
        entry: dict = {"contributor": {"display": author.name}, "rankingOrder": rank}
        if author.affiliations:
            entry["affiliation"] = [{"display": a} for a in author.affiliations]
        entries.append(entry)
    out: dict = {}
    if entries:
        out["entry"] = entries
        out["complete"] = True
    summaries = []
    if cit.author_statement:
        summaries.append({"type": concept(SUMMARY_TYPE, "author-string"), "value": cit.author_statement})
    if cit.funding:
        lines = [
            f"{f.funder} [{', '.join(f.grants)}]" if f.grants else f"{f.funder} (no grant number printed)"
            for f in cit.funding
        ]
        summaries.append(
            {
                "type": concept(SUMMARY_TYPE, "funding-statement", "Funding statement"),
                "value": "; ".join(lines),
            }
        )
    if summaries:
        out["summary"] = summaries
    return out or None


def _relates_to(cit: CitationSpec) -> list[dict]:
    out: list[dict] = []
    for kind, label, notices in (
        ("correction-in", "Erratum", cit.errata),
        ("retracted-by", "Retraction", cit.retractions),
    ):
        for notice in notices:
            notice_item: dict[str, Any] = {"type": kind, "label": label, "citation": _notice_text(notice)}
            if notice.identifiers:
                first = notice.identifiers[0]
                notice_item["resourceReference"] = {
                    "identifier": {"system": IDENTIFIER_SYSTEMS[first.type], "value": first.value},
                    "display": notice.citation,
                }
            out.append(notice_item)
    for rel in cit.relations:
        item: dict[str, Any] = {
            "type": "cites",
            "classifier": [{"text": _RELATION_LABEL[rel.type]}],
            "label": _RELATION_LABEL[rel.type],
            "resourceReference": ref("Citation", rel.target),
        }
        if rel.note:
            item["display"] = rel.note
        out.append(item)
    return out


def _artifact_notes(cit: CitationSpec) -> list[dict]:
    notes = []
    for i, fund in enumerate(cit.funding, start=1):
        grants = f" [{', '.join(fund.grants)}]" if fund.grants else " (no grant number printed)"
        text = f"Funding line {i}: {fund.funder}{grants}"
        if fund.note:
            text += f". {fund.note}"
        notes.append({"text": text})
    return notes


def _provenance_notes(cit: CitationSpec, source: SourceDocument) -> list[dict]:
    notes = [
        {"text": f"Bibliographic values from corpus document {source.file} ({source.kind}) unless noted."}
    ]
    if cit.abstract:
        record = f", the abstract of {_record_text(source.imported_from)}" if source.imported_from else ""
        notes.append({"text": f"Abstract as printed in corpus document {source.file}{record}."})
    if cit.imported_from:
        notes.append(
            {
                "text": f"Imported from {_record_text(cit.imported_from)}: "
                f"{', '.join(cit.imported_from.fields)}."
            }
        )
    return notes + [external_note(ext) for ext in cit.external]
