"""fhir/research_study.py: the study behind a publication's results."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from evidence_publisher.fhir.research_study import (
    follow_up_text,
    has_research_study,
    map_research_study,
    research_study_id,
)

from .models import CTX, citation_dict, corpus, publication, study_dict

SOURCE = corpus().sources[0]


def _study(**changes: Any) -> dict:
    pub = publication(study={**study_dict(), **changes})
    return map_research_study(
        CTX,
        pub,
        SOURCE,
        population_group="trial-population",
        intervention_variable="msct",
        study_citation="trial-2010",
        citation=pub.citation,
        reported_in=None,
        extra_notes=["Limitation: no control group."],
    )


def test_the_study_links_population_exposure_and_publication() -> None:
    res = _study()
    assert res["id"] == research_study_id(publication()) == "trial-2010-study"
    assert res["recruitment"] == {"actualGroup": {"reference": "Group/trial-population"}, "actualNumber": 15}
    assert res["focus"][0]["reference"]["reference"] == "EvidenceVariable/msct"
    assert res["relatedArtifact"][0]["resourceReference"] == {"reference": "Citation/trial-2010"}
    assert res["progressStatus"][0]["period"] == {"start": "2007-04", "end": "2009-07"}


def test_each_grant_is_a_secondary_identifier_assigned_by_its_funder() -> None:
    grants = [i for i in _study()["identifier"] if i.get("use") == "secondary"]
    assert [(g["value"], g["assigner"]["display"]) for g in grants] == [
        ("G-1", "Science Foundation"),
        ("G-2", "Science Foundation"),
    ]


def test_the_setting_is_a_note_and_a_narrative_row() -> None:
    res = _study(setting="Two centres in Nanjing")
    assert {"text": "Setting: Two centres in Nanjing"} in res["note"]
    assert "<th>Setting</th><td>Two centres in Nanjing</td>" in res["text"]["div"]
    assert not any("Setting" in n["text"] for n in _study()["note"])


@pytest.mark.parametrize(
    ("dispersion", "text"),
    [
        ({"kind": "sd", "value": Decimal("9.5")}, "Mean follow-up 17.2 ± 9.5 (SD) months."),
        (
            {"kind": "unspecified", "value": Decimal("9.5")},
            "Mean follow-up 17.2 ± 9.5 months (SD or SE not stated).",
        ),
        ({"kind": "range", "low": 3, "high": 40}, "Mean follow-up 17.2 months (range 3 to 40 months)."),
        ({"kind": "iqr", "low": 10, "high": 24}, "Mean follow-up 17.2 months (IQR 10 to 24 months)."),
        (
            {"kind": "ci", "low": Decimal("12.1"), "high": Decimal("22.3"), "level": Decimal("0.95")},
            "Mean follow-up 17.2 months (95 % CI 12.1 to 22.3 months).",
        ),
    ],
)
def test_follow_up_text_shows_every_kind_of_spread(dispersion: dict, text: str) -> None:
    follow_up = {**study_dict()["follow_up"], "dispersion": dispersion}
    assert follow_up_text(publication(study={**study_dict(), "follow_up": follow_up})) == text


def test_a_study_of_unknown_design_has_no_research_study() -> None:
    assert has_research_study(publication())
    assert not has_research_study(publication(study={**study_dict(), "design": "unknown"}))


def test_a_grant_named_by_two_funding_lines_is_one_identifier_of_the_first_funder() -> None:
    cit = {
        **citation_dict(),
        "funding": [
            {"funder": "Foundation A", "grants": ["G-1"]},
            {"funder": "Foundation B", "grants": ["G-1"]},
        ],
    }
    pub = publication(citation=cit)
    res = map_research_study(
        CTX,
        pub,
        SOURCE,
        population_group="trial-population",
        intervention_variable="msct",
        study_citation=None,
        citation=pub.citation,
        reported_in=None,
        extra_notes=[],
    )
    grants = [i for i in res["identifier"] if i.get("use") == "secondary"]
    assert [(g["value"], g["assigner"]["display"]) for g in grants] == [("G-1", "Foundation A")]
    assert [p["name"] for p in res["associatedParty"]] == ["Foundation A", "Foundation B"]
    assert "relatedArtifact" not in res


def test_funders_are_funding_sources() -> None:
    assert _study()["associatedParty"] == [
        {
            "name": "Science Foundation",
            "role": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/research-study-party-role",
                        "code": "funding-source",
                        "display": "funding-source",
                    }
                ]
            },
        }
    ]


def test_the_single_arm_is_the_study_population_given_the_intervention() -> None:
    (arm,) = _study()["comparisonGroup"]
    assert arm["intendedExposure"] == [{"reference": "EvidenceVariable/msct"}]
    assert arm["observedGroup"] == {"reference": "Group/trial-population"}
    assert arm["type"]["coding"][0]["code"] == "experimental"


def test_design_phase_and_condition() -> None:
    res = _study()
    assert [c["coding"][0]["code"] for c in res["studyDesign"]] == ["SEVCO:01016", "SEVCO:01019"]
    assert "phase" not in res
    assert res["condition"] == [
        {
            "coding": [{"system": "http://snomed.info/sct", "code": "55464009", "display": "SLE"}],
            "text": "SLE",
        }
    ]
    phase_1 = _study(design="phase-1-dose-escalation")
    assert phase_1["phase"]["coding"][0]["code"] == "phase-1"


def test_notes_carry_follow_up_funding_and_the_extra_notes() -> None:
    assert [n["text"] for n in _study()["note"]] == [
        "Mean follow-up 17.2 ± 9.5 (SD) months.",
        "Funding line 1: Science Foundation [G-1, G-2].",
        "Limitation: no control group.",
    ]


def test_a_study_known_only_through_another_document_says_so() -> None:
    res = map_research_study(
        CTX,
        publication(),
        corpus().sources[1],
        population_group="trial-population",
        intervention_variable="msct",
        study_citation=None,
        citation=None,
        reported_in="blog-2012",
        extra_notes=[],
    )
    assert res["relatedArtifact"] == [
        {
            "type": "derived-from",
            "label": "Known only through",
            "display": "A blog post (b.txt, blog)",
            "resourceReference": {"reference": "Citation/blog-2012"},
        }
    ]
    assert (
        "<th>Known only through</th><td>A blog post (b.txt, blog); not identified</td>" in res["text"]["div"]
    )


def test_title_grants_and_funders_come_from_the_citation_given_not_the_publications_own() -> None:
    """A study whose citation lives in another mapping file (``citation_in``) gets that citation."""
    other = {
        **citation_dict(),
        "title": "The trial's own report",
        "funding": [{"funder": "Health Agency", "grants": ["H-9"]}],
    }
    holder = publication(id="trial-report", citation=other)
    res = map_research_study(
        CTX,
        publication(),
        SOURCE,
        population_group="trial-population",
        intervention_variable="msct",
        study_citation="trial-report",
        citation=holder.citation,
        reported_in=None,
        extra_notes=[],
    )
    assert res["title"] == "The trial's own report"
    grants = [i for i in res["identifier"] if i.get("use") == "secondary"]
    assert [(g["value"], g["assigner"]["display"]) for g in grants] == [("H-9", "Health Agency")]
    assert [p["name"] for p in res["associatedParty"]] == ["Health Agency"]
    assert "Funding line 1: Health Agency [H-9]." in [n["text"] for n in res["note"]]
    assert res["relatedArtifact"][0]["resourceReference"] == {"reference": "Citation/trial-report"}


def test_without_a_citation_the_title_is_the_publications_label_and_no_funding_is_claimed() -> None:
    res = map_research_study(
        CTX,
        publication(),
        SOURCE,
        population_group="trial-population",
        intervention_variable="msct",
        study_citation=None,
        citation=None,
        reported_in=None,
        extra_notes=[],
    )
    assert res["title"] == publication().label
    assert [i for i in res["identifier"] if i.get("use") == "secondary"] == []
    assert "associatedParty" not in res
    assert not any(n["text"].startswith("Funding") for n in res.get("note", []))
    assert "<th>Funder</th>" not in res["text"]["div"]


def test_follow_up_without_a_mean_and_with_patients_followed_longer() -> None:
    plain = {"description": "at least 12 months", "quote": "12 months"}
    assert follow_up_text(publication(study={**study_dict(), "follow_up": plain})) == (
        "Follow-up at least 12 months."
    )
    longer = {**study_dict()["follow_up"], "beyond": {"count": 13, "value": 12, "unit": "mo"}}
    assert follow_up_text(publication(study={**study_dict(), "follow_up": longer})) == (
        "Mean follow-up 17.2 ± 9.5 (SD) months; 13 patients were followed for more than 12 months."
    )
    assert follow_up_text(publication(study={**study_dict(), "follow_up": None})) is None
