"""Citation: journal-article style for abstracts, web-page style for news, blog and summary pages."""

from __future__ import annotations

from evidence_publisher.fhir.common import Context, base, concept, external_note, narrative, ref
from evidence_publisher.sources.model import CitationSpec, Publication, SourceDocument

CLASSIFICATION_TYPE = "http://hl7.org/fhir/cited-artifact-classification-type"
ARTIFACT_CLASSIFIER = "http://hl7.org/fhir/citation-artifact-classifier"
TITLE_TYPE = "http://hl7.org/fhir/title-type"
PUBLISHED_IN_TYPE = "http://hl7.org/fhir/published-in-type"
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
    return pub.id


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
    res["description"] = (
        f"{'Journal article' if journal else 'Web page'}: {cit.title} "
        f"(corpus document {source.file}, {source.kind})"
    )
    artifact: dict = {
        "title": [{"type": [concept(TITLE_TYPE, "primary")], "text": cit.title}],
        "classification": [
            {
                "type": concept(CLASSIFICATION_TYPE, "knowledge-artifact-type"),
                "classifier": [
                    concept(ARTIFACT_CLASSIFIER, "D016428", "Journal Article")
                    if journal
                    else concept(ARTIFACT_CLASSIFIER, "webpage", "Webpage")
                ],
            }
        ],
    }
    if cit.identifiers:
        artifact["identifier"] = [
            {"system": IDENTIFIER_SYSTEMS[i.type], "value": i.value} for i in cit.identifiers
        ]
    form = _publication_form(cit)
    if form:
        artifact["publicationForm"] = [form]
    contributors = _contributorship(cit)
    if contributors:
        artifact["contributorship"] = contributors
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
    rows = [("Title", cit.title), ("Kind", cit.style), ("Corpus document", source.file)]
    if cit.journal:
        rows.append(("Journal", cit.journal.title))
    for label, value in (("Volume", cit.volume), ("Issue", cit.issue), ("Pages", cit.pages)):
        if value:
            rows.append((label, value))
    for ident in cit.identifiers:
        rows.append((ident.type.upper(), ident.value))
    res["text"] = narrative(f"Citation: {pub.label}", rows)
    return res


def _publication_form(cit: CitationSpec) -> dict | None:
    form: dict = {}
    if cit.journal or cit.website:
        published_in: dict = {
            "type": concept(PUBLISHED_IN_TYPE, "D020492", "Periodical")
            if cit.journal
            else {"text": "Website"},
            "title": cit.journal.title if cit.journal else cit.website,
        }
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
    date_text = " ".join(str(x) for x in (cit.year, cit.month) if x)
    if cit.published_date:
        form["articleDate"] = cit.published_date
    if date_text:
        form["publicationDateText"] = date_text
    return form or None


def _contributorship(cit: CitationSpec) -> dict | None:
    entries = []
    for rank, author in enumerate(cit.authors, start=1):
        entry: dict = {"contributor": {"display": author.name}, "rankingOrder": rank}
        if author.affiliation:
            entry["affiliation"] = [{"display": author.affiliation}]
        entries.append(entry)
    out: dict = {}
    if entries:
        out["entry"] = entries
        out["complete"] = True
    if cit.author_statement:
        out["summary"] = [
            {
                "type": concept("http://hl7.org/fhir/contributor-summary-type", "author-string"),
                "value": cit.author_statement,
            }
        ]
    return out or None


def _relates_to(cit: CitationSpec) -> list[dict]:
    out = []
    for err in cit.errata:
        out.append({"type": "correction-in", "citation": err.citation, "label": "Erratum"})
    for rel in cit.relations:
        item = {
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
    return notes + [external_note(ext) for ext in cit.external]
