"""fhir/evidence_variable.py: outcomes at a time, their measures, and the agents given."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from evidence_publisher.constants import EBM_SD, UCUM
from evidence_publisher.fhir.evidence_variable import (
    map_agent_variable,
    map_outcome_measure,
    map_outcome_variable,
    measure_variable_id,
    outcome_variable_id,
    timepoint_slug,
)
from evidence_publisher.sources.model import Agent, Outcome, Timepoint

from .models import CTX

OUTCOME = Outcome.model_validate(
    {
        "id": "sledai",
        "name": "SLEDAI",
        "description": "Disease activity score",
        "handling": "continuous",
        "codes": [{"system": "http://loinc.org", "code": "X-1", "display": "SLEDAI score"}],
    }
)
UNCODED = OUTCOME.model_copy(update={"codes": []})
TWELVE_MONTHS = Timepoint.model_validate({"label": "12 months", "value": 12, "unit": "mo"})


def _tp(**fields: Any) -> Timepoint:
    return Timepoint.model_validate(fields)


def _measure(outcome: Outcome, tp: Timepoint) -> dict:
    return map_outcome_measure(
        CTX, "trial-2010", "Trial 2010", outcome, tp, "2026-01-02", event_variable="msct", event_name="MSCT"
    )


def _agent(**fields: Any) -> Agent:
    return Agent.model_validate({"id": "steroids", "name": "Prednisone", "quote": "prednisone", **fields})


@pytest.mark.parametrize(
    ("fields", "slug"),
    [
        ({"label": "12 months", "value": 12, "unit": "mo"}, "12mo"),
        ({"label": "2.5 years", "value": Decimal("2.5"), "unit": "a"}, "2-5a"),
        ({"label": "by 12 months", "value": 12, "unit": "mo", "cumulative": True}, "by-12mo"),
        ({"label": "Baseline", "baseline": True}, "baseline"),
        ({"label": "Before transplantation", "baseline": True}, "baseline-before-transplantation"),
        ({"label": "during follow-up"}, "during-follow-up"),
    ],
)
def test_timepoint_slugs(fields: dict[str, Any], slug: str) -> None:
    assert timepoint_slug(_tp(**fields)) == slug


def test_the_measure_says_when_counted_from_the_intervention() -> None:
    res = _measure(OUTCOME, TWELVE_MONTHS)
    assert res["id"] == measure_variable_id("trial-2010", OUTCOME, TWELVE_MONTHS)
    assert res["id"] == "trial-2010-sledai-12mo-measure"
    assert (
        res["description"] == "Disease activity score Measured at 12 months, counted from the intervention."
    )
    (characteristic,) = res["characteristic"]
    assert characteristic["definitionCodeableConcept"] == {
        "coding": [{"system": "http://loinc.org", "code": "X-1", "display": "SLEDAI score"}],
        "text": "SLEDAI",
    }
    (when,) = characteristic["timeFromEvent"]
    assert when["quantity"] == {"value": 12, "unit": "months", "system": UCUM, "code": "mo"}
    assert when["eventReference"] == {"reference": "EvidenceVariable/msct", "display": "MSCT"}
    assert res["handling"] == "continuous"


def test_a_cumulative_timepoint_is_a_range_up_to_its_value() -> None:
    res = _measure(OUTCOME, _tp(label="by 12 months", value=12, unit="mo", cumulative=True))
    assert res["characteristic"][0]["timeFromEvent"][0]["range"] == {
        "high": {"value": 12, "unit": "months", "system": UCUM, "code": "mo"}
    }


def test_a_timepoint_that_is_not_stated_has_no_timing() -> None:
    res = _measure(OUTCOME, _tp(label="timepoint not stated"))
    assert "timeFromEvent" not in res["characteristic"][0]
    assert res["description"] == "Disease activity score Measured (timepoint not stated)."
    during = _measure(OUTCOME, _tp(label="during follow-up"))["characteristic"][0]["timeFromEvent"]
    assert during == [
        {
            "description": "during follow-up",
            "eventReference": {"reference": "EvidenceVariable/msct", "display": "MSCT"},
        }
    ]


def test_the_outcome_variable_is_a_variable_definition_with_its_codes() -> None:
    res = map_outcome_variable(CTX, "trial-2010", "Trial 2010", OUTCOME, TWELVE_MONTHS, "2026-01-02")
    assert res["id"] == outcome_variable_id("trial-2010", OUTCOME, TWELVE_MONTHS) == "trial-2010-sledai-12mo"
    assert res["meta"]["profile"] == [EBM_SD + "variable-definition"]
    assert res["title"] == "Trial 2010: SLEDAI at 12 months"
    assert "characteristic" not in res  # the profile forbids it
    (definition,) = res["extension"]
    assert definition["url"] == EBM_SD + "evidence-variable-definition"
    assert definition["valueCodeableReference"]["concept"]["coding"][0]["code"] == "X-1"
    assert "note" not in res


def test_an_uncoded_outcome_is_defined_by_its_text_and_says_so() -> None:
    res = map_outcome_variable(CTX, "trial-2010", "Trial 2010", UNCODED, TWELVE_MONTHS, "2026-01-02")
    assert res["extension"][0]["valueCodeableReference"]["concept"] == {"text": "SLEDAI at 12 months"}
    assert res["note"] == [{"text": "No standard code fits this variable; it is defined by its text."}]


def test_an_agent_states_its_dose_and_start() -> None:
    agent = _agent(dose="10 mg/day", starts={"value": 1, "unit": "mo"})
    res = map_agent_variable(CTX, agent, "co-intervention", "2026-01-02")
    assert (
        res["description"]
        == "Prednisone. Dose as reported: 10 mg/day. Starts 1 month after the study intervention."
    )
    assert res["handling"] == "dichotomous"
    assert res["note"] == [{"text": "Role in the study: co-intervention."}]
    undosed = map_agent_variable(CTX, _agent(), "intervention", "2026-01-02")
    assert undosed["description"] == "Prednisone. Dose: not reported in the corpus."


def test_an_agent_carries_what_was_found_outside_the_corpus() -> None:
    found = {"fields": ["dose"], "status": "unverified", "url": "https://trials.example.org/1"}
    res = map_agent_variable(CTX, _agent(external=[found]), "intervention", "2026-01-02")
    assert res["note"][1] == {
        "text": "dose: found outside the corpus at https://trials.example.org/1 (status: unverified)"
    }
