"""fhir/evidence.py: one Evidence per reported result, with its statistic."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from evidence_publisher.constants import EBM_SD, UCUM
from evidence_publisher.fhir.evidence import (
    Links,
    derived_percentage,
    evidence_id,
    evidence_title,
    map_evidence,
    map_statistic,
    statistic_summary,
)
from evidence_publisher.sources.model import Result

from .models import CTX, corpus, publication, result_dict, study_dict

LINKS = Links(
    population_group="trial-population",
    exposure_variable="msct",
    exposure_name="Stem cell transplantation",
    outcome_variable="trial-2010-sledai-12mo",
    measure_variable="trial-2010-sledai-12mo-measure",
    covariates=[("steroids", "Steroids were given as well.")],
    source_citation="trial-2010",
)


def _result(**changes: Any) -> Result:
    return Result.model_validate(result_dict(**changes))


def _evidence(**pub_changes: Any) -> dict:
    pub = publication(**pub_changes)
    return map_evidence(
        CTX, pub, pub.results[0], source=corpus().sources[0], links=LINKS, certainties=pub.certainty
    )


def test_identity_and_profiles() -> None:
    pub = publication()
    res = _evidence()
    assert res["id"] == evidence_id(pub, pub.results[0]) == "trial-2010-sledai-12m"
    assert res["title"] == evidence_title(pub, pub.results[0]) == "Trial 2010: SLEDAI at 12 months"
    assert res["meta"]["profile"] == [EBM_SD + "non-comparative-evidence", EBM_SD + "single-study-evidence"]


def test_variables_name_population_exposure_covariate_and_outcome() -> None:
    variables = _evidence()["variableDefinition"]
    roles = [v["extension"][0]["valueCode"] for v in variables]
    assert roles == ["population", "exposure", "covariate", "outcome"]
    assert variables[0]["observed"] == {"reference": "Group/trial-population"}
    assert variables[2]["description"] == "Steroids were given as well."
    assert variables[3]["intended"] == {"reference": "EvidenceVariable/trial-2010-sledai-12mo-measure"}


def test_the_study_setting_travels_as_a_note() -> None:
    notes = [n["text"] for n in _evidence(study={**study_dict(), "setting": "Nanjing"})["note"]]
    assert "Study setting: Nanjing" in notes
    assert not any(n.startswith("Study setting") for n in (x["text"] for x in _evidence()["note"]))


def test_a_mean_with_an_unspecified_spread() -> None:
    stat = map_statistic(_result())
    assert stat["quantity"] == {"value": Decimal("3.2"), "unit": "points", "system": UCUM, "code": "{score}"}
    assert stat["attributeEstimate"][0]["type"] == {"text": "± (SD or SE not stated)"}
    assert stat["sampleSize"] == {"numberOfStudies": 1, "numberOfParticipants": 12}
    assert statistic_summary(_result()) == "mean 3.2 points ± 2.8 (SD or SE not stated); 12 patients"


def test_a_confidence_interval_keeps_its_bounds_and_level() -> None:
    ci = {"kind": "ci", "low": Decimal("1.0"), "high": Decimal("5.5"), "level": Decimal("0.95")}
    estimate = map_statistic(_result(dispersion=ci))["attributeEstimate"][0]
    assert estimate["type"]["coding"][0]["code"] == "C53324"
    assert (estimate["range"]["low"]["value"], estimate["range"]["high"]["value"]) == (
        Decimal("1.0"),
        Decimal("5.5"),
    )
    assert estimate["level"] == Decimal("0.95")


def test_a_proportion_from_counts_is_derived_and_says_so() -> None:
    res = _result(
        statistic="proportion",
        value=None,
        unit="%",
        dispersion=None,
        participants=None,
        counts={"affected": 2, "denominator": 3},
    )
    assert derived_percentage(res) == Decimal("66.7")
    stat = map_statistic(res)
    assert (stat["numberAffected"], stat["quantity"]["value"]) == (2, Decimal("66.7"))
    assert "is not reported itself" in stat["note"][0]["text"]
    assert statistic_summary(res) == "2 of 3 patients (66.7%)"


def test_a_whole_percentage_is_an_integer() -> None:
    res = _result(
        statistic="proportion",
        value=None,
        unit="%",
        dispersion=None,
        counts={"affected": 1, "denominator": 2},
    )
    assert derived_percentage(res) == 50 and isinstance(derived_percentage(res), int)


def test_a_baseline_characteristic_is_also_baseline_measure_evidence() -> None:
    pub = publication()
    res = map_evidence(
        CTX,
        pub,
        pub.results[0],
        source=corpus().sources[0],
        links=LINKS,
        certainties=[],
        baseline_measure=True,
    )
    assert res["meta"]["profile"] == [
        EBM_SD + "non-comparative-evidence",
        EBM_SD + "baseline-measure-evidence",
        EBM_SD + "single-study-evidence",
    ]


def test_the_design_comes_from_the_study_block() -> None:
    assert [c["coding"][0]["code"] for c in _evidence()["studyDesign"]] == ["SEVCO:01016", "SEVCO:01019"]
    assert "studyDesign" not in _evidence(study={**study_dict(), "design": "unknown"})


def test_related_artifacts_name_the_source_the_study_and_its_own_publication() -> None:
    pub = publication()
    links = replace(LINKS, research_study="trial-2010-study", study_citation="liang-2010")
    related = map_evidence(CTX, pub, pub.results[0], source=corpus().sources[0], links=links, certainties=[])[
        "relatedArtifact"
    ]
    assert [(r["type"], r["resourceReference"]["reference"]) for r in related] == [
        ("derived-from", "Citation/trial-2010"),
        ("derived-from", "ResearchStudy/trial-2010-study"),
        ("citation", "Citation/liang-2010"),
    ]
    same = replace(LINKS, study_citation="trial-2010")  # the source is the study's own publication
    related = map_evidence(CTX, pub, pub.results[0], source=corpus().sources[0], links=same, certainties=[])[
        "relatedArtifact"
    ]
    assert [r["resourceReference"]["reference"] for r in related] == ["Citation/trial-2010"]


def test_the_outcome_variable_is_observed_and_its_measure_intended() -> None:
    outcome = _evidence()["variableDefinition"][-1]
    assert (outcome["observed"], outcome["intended"]) == (
        {"reference": "EvidenceVariable/trial-2010-sledai-12mo"},
        {"reference": "EvidenceVariable/trial-2010-sledai-12mo-measure"},
    )
    assert outcome["variableRole"]["coding"][0]["code"] == "measuredVariable"


def test_certainty_is_rated_overall_and_per_domain() -> None:
    (certainty,) = _evidence()["certainty"]
    assert certainty["rating"]["coding"][0]["code"] == "low"
    assert certainty["rater"] == "the curators"
    (domain,) = certainty["subcomponent"]
    assert (domain["type"]["coding"][0]["code"], domain["rating"]["coding"][0]["code"]) == (
        "RiskOfBias",
        "serious-concern",
    )
    assert "<th>Certainty</th><td>Low certainty: small single-arm study.</td>" in _evidence()["text"]["div"]
    assert "<th>Certainty</th><td>not rated</td>" in _evidence(certainty=[])["text"]["div"]


def test_result_notes_conflicts_and_provenance_become_notes() -> None:
    result = result_dict(
        conflicts=[{"source": "blog", "value": Decimal("3.5"), "quote": "3.5", "note": "Rounded."}],
        notes=[{"kind": "limitation", "text": "Few patients."}],
    )
    notes = [n["text"] for n in _evidence(results=[result])["note"]]
    assert notes[0] == "Source: a.txt (primary-abstract, primary): “3.2 +/- 2.8”"
    assert "Study: Single-arm pilot study." in notes
    assert "Recorded conflict: blog reports 3.5 (“3.5”). Rounded." in notes
    assert "Limitation: Few patients." in notes
    stat_notes = map_statistic(_result(conflicts=result["conflicts"]))["note"]
    assert stat_notes == [{"text": "Conflict: blog reports 3.5. Rounded."}]


@pytest.mark.parametrize(
    ("statistic", "code"),
    [("mean", "C53319"), ("median", "C28007"), ("mean-change", "TBD:0000177"), ("none", "descriptive")],
)
def test_each_statistic_has_its_code(statistic: str, code: str) -> None:
    stat_type = map_statistic(_result(statistic=statistic))["statisticType"]
    assert stat_type["coding"][0]["code"] == code


@pytest.mark.parametrize(
    ("changes", "summary"),
    [
        ({"dispersion": {"kind": "sd", "value": Decimal("2.8")}}, "mean 3.2 points, SD 2.8; 12 patients"),
        ({"statistic": "median", "dispersion": None}, "median 3.2 points; 12 patients"),
        ({"statistic": "none", "dispersion": None}, "3.2 points (mean or median not stated); 12 patients"),
        ({"dispersion": None, "participants": None}, "mean 3.2 points; number of patients not stated"),
        (
            {"statistic": "count", "value": None, "dispersion": None, "counts": {"affected": 0}},
            "none reported; 12 patients",
        ),
        (
            {"statistic": "count", "value": None, "dispersion": None, "counts": {"affected": 3}},
            "3 patients; how many could have had it is not stated",
        ),
        (
            {
                "statistic": "range",
                "value": None,
                "unit": "mo",
                "dispersion": {"kind": "range", "low": 3, "high": 40},
            },
            "between 3 months and 40 months",
        ),
        (
            {"dispersion": {"kind": "iqr", "low": 1, "high": 5}},
            "mean 3.2 points; iqr 1 points to 5 points; 12 patients",
        ),
        (
            {
                "dispersion": None,
                "p_value": {"comparator": "<", "value": Decimal("0.05"), "compared_with": "baseline"},
            },
            "mean 3.2 points; p < 0.05 compared with baseline; 12 patients",
        ),
        (
            {
                "statistic": "none",
                "value": None,
                "dispersion": None,
                "p_value": {"value": Decimal("0.2"), "compared_with": "baseline", "test": "t-test"},
            },
            "no values reported; p = 0.2 compared with baseline, t-test; 12 patients",
        ),
    ],
)
def test_the_summary_states_exactly_the_structured_numbers(changes: dict[str, Any], summary: str) -> None:
    assert statistic_summary(_result(**changes)) == summary


def test_a_p_value_is_an_estimate_with_its_comparator() -> None:
    p_value = {"comparator": "<", "value": Decimal("0.05"), "compared_with": "baseline", "test": "t-test"}
    estimates = map_statistic(_result(dispersion=None, p_value=p_value))["attributeEstimate"]
    assert estimates == [
        {
            "description": "p < 0.05 compared with baseline (t-test)",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/attribute-estimate-type",
                        "code": "C44185",
                        "display": "P-value",
                    }
                ]
            },
            "quantity": {"value": Decimal("0.05"), "comparator": "<"},
        }
    ]


def test_a_range_result_is_a_proportion_only_in_percent() -> None:
    spread = {"kind": "range", "low": 3, "high": 40}
    in_months = map_statistic(_result(statistic="range", value=None, unit="mo", dispersion=spread))
    in_percent = map_statistic(_result(statistic="range", value=None, unit="%", dispersion=spread))
    assert in_months["statisticType"]["coding"][0]["code"] == "descriptive"
    assert in_percent["statisticType"]["coding"][0]["code"] == "C44256"
    assert "quantity" not in in_months


def test_a_derived_value_names_its_formula_and_inputs() -> None:
    derived = {"formula": "after - before", "inputs": {"after": "sledai-12m", "before": "sledai-0"}}
    (note,) = map_statistic(_result(derived=derived, dispersion=None))["note"]
    assert note["text"] == (
        "Derived value: after - before where after = sledai-12m, before = sledai-0. Computed from "
        "reported values, not reported itself."
    )


def test_a_count_derived_from_a_percentage_shows_why_it_is_the_only_one() -> None:
    res = _result(
        statistic="proportion",
        value=Decimal("60.5"),
        unit="%",
        dispersion=None,
        participants=None,
        counts={"affected": 49, "denominator": 81, "derived": "from-percentage"},
    )
    stat = map_statistic(res)
    assert stat["note"] == [
        {
            "text": "Derived count: 49 is not reported. It is the only whole number of the 81 patients "
            "that gives the reported 60.5% (49/81 = 60.49%; 48/81 = 59.26% and 50/81 = 61.73% round "
            "to other values)."
        }
    ]
    assert statistic_summary(res) == (
        "60.5% of 81 patients (49 patients; this count is derived from the percentage, not reported)"
    )
    assert stat["quantity"]["value"] == Decimal("60.5")


def test_a_derived_percentage_rounds_half_to_even() -> None:
    res = _result(
        statistic="proportion",
        value=None,
        unit="%",
        dispersion=None,
        counts={"affected": 1, "denominator": 16},
    )
    assert derived_percentage(res) == Decimal("6.2")  # 6.25 exactly
