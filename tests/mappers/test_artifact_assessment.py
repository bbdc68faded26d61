"""fhir/artifact_assessment.py: certainty of evidence and the recommendation's justification."""

from __future__ import annotations

from evidence_publisher.constants import ARTIFACT_EXPERIMENTAL_EXT, CERTAINTY_TYPE, EBM_SD
from evidence_publisher.fhir.artifact_assessment import (
    certainty_id,
    justification_id,
    map_certainty,
    map_justification,
)

from .models import CTX, publication, recommendation


def test_certainty_rates_overall_and_each_domain() -> None:
    cert = publication().certainty[0]
    res = map_certainty(CTX, cert, "trial-2010-sledai-12m", "Trial 2010: SLEDAI", "2026-01-02")
    assert res["id"] == certainty_id("trial-2010-sledai-12m") == "trial-2010-sledai-12m-certainty"
    assert res["meta"]["profile"] == [EBM_SD + "certainty-of-evidence"]
    assert res["artifactReference"] == {"reference": "Evidence/trial-2010-sledai-12m"}
    content = res["content"][0]
    assert content["type"]["coding"][0] == {"system": CERTAINTY_TYPE, "code": "Overall"}
    assert content["classifier"][0]["coding"][0]["code"] == "low"
    assert content["summary"] == "Low certainty: small single-arm study. Judgement by the curators."
    domain = content["component"][0]
    assert (domain["type"]["coding"][0]["code"], domain["classifier"][0]["coding"][0]["code"]) == (
        "RiskOfBias",
        "serious-concern",
    )


def test_without_stated_ratings_the_justification_says_none_is_given() -> None:
    rec = recommendation()
    res = map_justification(CTX, rec, "rec-msct", [("trial-2010-sledai-12m", "SLEDAI")], ["trial-2010"])
    assert res["id"] == justification_id(rec) == "rec-msct-justification"
    assert res["artifactReference"] == {"reference": "Composition/rec-msct"}
    components = res["content"][0]["component"]
    assert [c["informationType"] for c in components] == ["comment"]
    assert components[0]["summary"].startswith("No source states a strength of recommendation")


def test_stated_strength_and_direction_become_components() -> None:
    rec = recommendation(
        strength={"value": "weak", "quote": "weak"},
        direction={"value": "for", "quote": "for"},
        experimental=True,
        caution="Only after standard treatment failed.",
    )
    res = map_justification(CTX, rec, "rec-msct", [], [])
    summaries = {c["type"]["coding"][0]["code"]: c["summary"] for c in res["content"][0]["component"]}
    assert summaries["strength-of-recommendation"] == "weak"
    assert summaries["direction-of-recommendation"] == "for"
    assert "Only after standard treatment failed." in summaries["discussion"]
    assert {"url": ARTIFACT_EXPERIMENTAL_EXT, "valueBoolean": True} in res["extension"]


def test_the_certainty_narrative_reads_in_words() -> None:
    cert = publication().certainty[0]
    div = map_certainty(CTX, cert, "ev", "Trial 2010: SLEDAI", "2026-01-02")["text"]["div"]
    assert "<th>Overall certainty</th><td>Low</td>" in div
    assert "<th>Risk of bias</th><td>serious concern: No control group.</td>" in div


def test_the_justification_points_to_the_evidence_and_citations_and_keeps_claims() -> None:
    claim = {
        "publication": "guideline",
        "claim": "A society endorses it.",
        "status": "unverified",
        "note": "No such statement found.",
        "quote": "endorsed",
    }
    rec = recommendation(claims=[claim])
    res = map_justification(CTX, rec, "rec-msct", [("trial-2010-sledai-12m", "SLEDAI")], ["trial-2010"])
    evidence = res["content"][1]
    assert evidence["relatedArtifact"] == [
        {
            "type": "justification",
            "display": "SLEDAI",
            "resourceReference": {"reference": "Evidence/trial-2010-sledai-12m"},
        },
        {"type": "justification", "resourceReference": {"reference": "Citation/trial-2010"}},
    ]
    (discussion,) = res["content"][0]["component"]
    assert discussion["summary"].endswith(
        "Attribution claim (unverified): A society endorses it. No such statement found."
    )
