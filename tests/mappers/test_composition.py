"""fhir/composition.py: the Recommendation Composition."""

from __future__ import annotations

from evidence_publisher.fhir.composition import StudyResults, composition_id, map_recommendation

from .models import CTX, recommendation


def _composition(**changes: object) -> dict:
    rec = recommendation(**changes)
    return map_recommendation(
        CTX,
        rec,
        citation_id="blog",
        population_group="eligible",
        plan_id="rec-msct-plan",
        evidence=[("trial-2010-sledai-12m", "Trial 2010: SLEDAI")],
        justification_id="rec-msct-justification",
        studies=[
            StudyResults(
                "Trial 2010",
                "trial-2010-study",
                [("trial-2010-sledai-12m", "Trial 2010: SLEDAI"), ("trial-2010-ae", "Trial 2010: AEs")],
            )
        ],
    )


def _sections(res: dict) -> dict[str, dict]:
    return {s["code"]["coding"][0]["code"]: s for s in res["section"]}


def test_the_sections_of_a_recommendation() -> None:
    res = _composition()
    assert res["id"] == composition_id(recommendation()) == "rec-msct"
    sections = _sections(res)
    assert list(sections) == ["recommendation-specification", "evidence", "justification"]
    spec = {s["code"]["coding"][0]["code"]: s for s in sections["recommendation-specification"]["section"]}
    assert spec["population"]["entry"] == [{"reference": "Group/eligible"}]
    assert spec["action"]["entry"] == [{"reference": "PlanDefinition/rec-msct-plan"}]
    assert "No source states a strength" in spec["ratings"]["text"]["div"]


def test_results_the_recommendation_does_not_cite_are_reachable_too() -> None:
    evidence = _sections(_composition())["evidence"]
    assert [e["reference"] for e in evidence["entry"]] == ["Evidence/trial-2010-sledai-12m"]
    (others,) = evidence["section"]
    assert others["focus"] == {"reference": "ResearchStudy/trial-2010-study"}
    assert [e["reference"] for e in others["entry"]] == ["Evidence/trial-2010-ae"]


def test_caution_and_considerations_form_a_section() -> None:
    res = _composition(
        experimental=True,
        caution="Only in specialist centres.",
        considerations=[{"text": "Costs are high.", "quote": "costly"}],
    )
    considerations = _sections(res)["considerations"]["text"]["div"]
    assert "Only in specialist centres. Costs are high." in considerations
    assert "considerations" not in _sections(_composition())


def test_the_composition_is_authored_by_the_publisher_and_derived_from_the_advice() -> None:
    res = _composition()
    assert res["author"] == [{"display": "unit tests"}]
    assert res["relatesTo"][0]["resourceReference"] == {"reference": "Citation/blog"}
    assert res["status"] == "final"


def test_stated_ratings_are_listed_and_claims_become_notes() -> None:
    claim = {
        "publication": "guideline",
        "claim": "A society endorses it.",
        "status": "supported",
        "note": "Found in its guideline.",
        "quote": "endorsed",
    }
    res = _composition(
        strength={"value": "weak", "quote": "weak"},
        direction={"value": "for", "quote": "for"},
        claims=[claim],
    )
    spec = _sections(res)["recommendation-specification"]["section"]
    ratings = next(s for s in spec if s["code"]["coding"][0]["code"] == "ratings")
    assert "<p>strength: weak; direction: for</p>" in ratings["text"]["div"]
    assert res["note"] == [
        {"text": "Attribution claim (supported): A society endorses it. Found in its guideline."}
    ]


def test_section_text_is_escaped() -> None:
    spec = _sections(_composition(statement="Dose < 2 & more"))["recommendation-specification"]
    statement = spec["section"][0]
    assert "<p>Dose &lt; 2 &amp; more</p>" in statement["text"]["div"]
