"""fhir/activity_definition.py: the recommended action."""

from __future__ import annotations

from evidence_publisher.constants import EBM_SD
from evidence_publisher.fhir.activity_definition import map_activity_definition

from .models import CTX, recommendation


def test_the_action_is_a_proposed_service_request_with_its_code() -> None:
    res = map_activity_definition(CTX, recommendation())
    assert res["id"] == "refer"
    assert res["meta"]["profile"] == [EBM_SD + "recommendation-action"]
    assert (res["kind"], res["intent"], res["priority"]) == ("ServiceRequest", "proposal", "routine")
    assert res["code"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Referral"}],
        "text": "Refer to a stem-cell centre",
    }


def test_an_experimental_action_says_so_in_its_narrative() -> None:
    experimental = map_activity_definition(CTX, recommendation(experimental=True, caution="Careful."))
    assert experimental["experimental"] is True
    assert "experimental: not for use as a vetted decision rule" in experimental["text"]["div"]
    assert "experimental" not in map_activity_definition(CTX, recommendation())["text"]["div"]


def test_the_narrative_states_the_action_and_its_code() -> None:
    res = map_activity_definition(CTX, recommendation())
    assert res["description"] == "Refer the patient."
    assert "<th>Code</th><td>Referral (http://snomed.info/sct 3457005)</td>" in res["text"]["div"]
