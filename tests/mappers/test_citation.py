"""fhir/citation.py: journal articles and web pages as EBM Citations."""

from __future__ import annotations

from evidence_publisher.constants import CITATION_ARTIFACT_CLASSIFIER, EBM_SD
from evidence_publisher.fhir.citation import SUMMARY_TYPE, citation_id, map_citation

from .models import CTX, citation_dict, corpus, publication

SOURCE = corpus().sources[0]


def _codes(concepts: list[dict]) -> list[str]:
    return [c["code"] for concept in concepts for c in concept.get("coding", [])]


def test_a_journal_article_is_a_journal_article_citation() -> None:
    res = map_citation(CTX, publication(), SOURCE)
    assert res["id"] == citation_id(publication()) == "trial-2010"
    assert res["meta"]["profile"] == [EBM_SD + "journal-article-citation"]
    classification = res["citedArtifact"]["classification"][0]
    assert classification["classifier"][0]["coding"][0] == {
        "system": CITATION_ARTIFACT_CLASSIFIER,
        "code": "D016428",
        "display": "Journal Article",
    }


def test_bibliographic_values_are_where_r5_puts_them() -> None:
    artifact = map_citation(CTX, publication(), SOURCE)["citedArtifact"]
    form = artifact["publicationForm"][0]
    assert form["publishedIn"]["title"] == "Annals of Trials"
    assert (form["volume"], form["issue"], form["pageString"], form["publicationDateText"]) == (
        "69",
        "8",
        "1423-1429",
        "2010 Aug",
    )
    assert artifact["identifier"] == [{"system": "https://doi.org", "value": "10.1000/trial.1"}]
    assert [e["contributor"]["display"] for e in artifact["contributorship"]["entry"]] == ["Liang J", "Sun L"]
    assert artifact["contributorship"]["entry"][0]["affiliation"] == [{"display": "Nanjing"}]
    assert artifact["statusDate"][-1]["period"] == {"start": "2010-08"}  # year and month as printed


def test_the_journal_abbreviation_shows_beside_the_title() -> None:
    div = map_citation(CTX, publication(), SOURCE)["text"]["div"]
    assert "<th>Journal</th><td>Annals of Trials (Ann Trials)</td>" in div
    plain = {**citation_dict(), "journal": {"title": "Annals of Trials"}}
    assert (
        "<td>Annals of Trials</td>" in map_citation(CTX, publication(citation=plain), SOURCE)["text"]["div"]
    )


def test_funding_lines_become_a_statement_and_notes() -> None:
    artifact = map_citation(CTX, publication(), SOURCE)["citedArtifact"]
    assert artifact["contributorship"]["summary"][0]["value"] == "Science Foundation [G-1, G-2]"
    assert artifact["note"] == [{"text": "Funding line 1: Science Foundation [G-1, G-2]"}]


def test_a_web_page_is_published_in_a_website() -> None:
    page = {
        "style": "web-page",
        "title": "Stem cells help",
        "website": "MedPage",
        "published_date": "2010-08-01",
        "identifiers": [{"type": "url", "value": "https://news.example.org/a"}],
        "quote": "Stem cells help",
    }
    res = map_citation(CTX, publication(citation=page), corpus().sources[1])
    form = res["citedArtifact"]["publicationForm"][0]
    assert form["publishedIn"] == {"type": {"text": "Website"}, "title": "MedPage"}
    assert form["articleDate"] == "2010-08-01"
    assert "journal-article-citation" not in str(res.get("meta", {}))


def test_authors_keep_their_order_and_a_doi_is_also_a_web_location() -> None:
    artifact = map_citation(CTX, publication(), SOURCE)["citedArtifact"]
    assert [e["rankingOrder"] for e in artifact["contributorship"]["entry"]] == [1, 2]
    assert artifact["contributorship"]["complete"] is True
    assert [w["url"] for w in artifact["webLocation"]] == ["https://doi.org/10.1000/trial.1"]


def test_an_author_statement_and_a_publisher_are_kept_as_printed() -> None:
    cit = {**citation_dict(), "authors": [], "author_statement": "The Trial Group", "publisher": "BMJ"}
    artifact = map_citation(CTX, publication(citation=cit), SOURCE)["citedArtifact"]
    assert "entry" not in artifact["contributorship"]
    assert artifact["contributorship"]["summary"][0] == {
        "type": {"coding": [{"system": SUMMARY_TYPE, "code": "author-string"}]},
        "value": "The Trial Group",
    }
    assert artifact["publicationForm"][0]["publishedIn"]["publisher"] == {"display": "BMJ"}


def test_an_online_first_date_and_the_issue_date_are_status_dates() -> None:
    cit = {**citation_dict(), "published_date": "2010-05-14"}
    dates = map_citation(CTX, publication(citation=cit), SOURCE)["citedArtifact"]["statusDate"]
    assert [(d["activity"]["coding"][0]["code"], d["period"]["start"]) for d in dates] == [
        ("published-early-form", "2010-05-14"),
        ("published-final-form", "2010-08"),
    ]


def test_errata_and_relations_to_other_publications() -> None:
    cit = {
        **citation_dict(),
        "errata": [{"citation": "Ann Trials 2011;70:1"}],
        "relations": [{"type": "reports-on", "target": "liang-2010", "note": "The blog reports it."}],
    }
    relates = map_citation(CTX, publication(citation=cit), SOURCE)["citedArtifact"]["relatesTo"]
    assert relates == [
        {"type": "correction-in", "citation": "Ann Trials 2011;70:1", "label": "Erratum"},
        {
            "type": "cites",
            "classifier": [{"text": "reports on"}],
            "label": "reports on",
            "resourceReference": {"reference": "Citation/liang-2010"},
            "display": "The blog reports it.",
        },
    ]


def test_an_abstract_is_kept_verbatim_and_said_to_be() -> None:
    cit = {**citation_dict(), "abstract": "Background: lupus."}
    res = map_citation(CTX, publication(citation=cit), SOURCE)
    (abstract,) = res["citedArtifact"]["abstract"]
    assert abstract["text"] == "Background: lupus."
    assert {"text": "Abstract as printed in corpus document a.txt."} in res["note"]


def test_notes_say_where_the_values_come_from_and_what_is_not_a_finding() -> None:
    cit = {
        **citation_dict(),
        "external": [{"fields": ["pages"], "status": "found", "url": "https://pubmed.example.org/1"}],
    }
    notes = [
        {"kind": "hypothesis", "text": "Cells may reset immunity."},
        {"kind": "comment", "text": "Small."},
    ]
    res = map_citation(CTX, publication(citation=cit, notes=notes), SOURCE)
    assert [n["text"] for n in res["note"]] == [
        "Bibliographic values from corpus document a.txt (primary-abstract) unless noted.",
        "pages: found outside the corpus at https://pubmed.example.org/1 (status: found)",
        "Hypothesis (not a finding): Cells may reset immunity.",
        "Comment: Small.",
    ]


def test_a_publication_only_named_by_a_document_says_so() -> None:
    assert map_citation(CTX, publication(), SOURCE)["description"] == (
        "Journal article: A pilot trial of stem cells (corpus document a.txt, primary-abstract)"
    )
    named = map_citation(CTX, publication(in_corpus=False), SOURCE)
    assert named["description"] == (
        "Journal article: A pilot trial of stem cells "
        "(not in the corpus; named by corpus document a.txt, primary-abstract)"
    )
