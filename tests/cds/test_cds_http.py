"""Patients, data fetching, $apply and transport errors over real HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class

from . import synthetic
from .conftest import Live, fhir_json
from .test_cds_checklist import SVC, assert_outcome

FHIR_AUTH = {
    "access_token": "tok-123",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "cds-client",
}


def test_patient_for_whom_it_applies(live: Live) -> None:
    cards = live.post(SVC, synthetic.hook_request(prefetch=synthetic.prefetch())).json()["cards"]
    assert len(cards) == 1
    assert cards[0]["summary"].startswith("Consider referral")


@pytest.mark.parametrize("change", ["resolved-condition", "low-protein", "no-observation", "other-code"])
def test_patient_for_whom_it_does_not_apply(live: Live, change: str) -> None:
    pre = synthetic.prefetch()
    if change == "resolved-condition":
        pre = synthetic.prefetch(applies=False)
    elif change == "low-protein":
        pre["observation"] = synthetic.searchset(synthetic.protein(value="0.3"))
    elif change == "no-observation":
        pre["observation"] = synthetic.searchset()
    else:
        cond = synthetic.condition()
        cond["code"]["coding"][0]["code"] = "55464009"
        pre["condition"] = synthetic.searchset(cond)
    resp = live.post(SVC, synthetic.hook_request(prefetch=pre))
    assert resp.status_code == 200 and resp.json() == {"cards": []}


def test_patient_lacking_data_gets_412(live: Live) -> None:
    pre = synthetic.prefetch()
    del pre["condition"], pre["patient"]
    body = assert_outcome(live.post(SVC, synthetic.hook_request(prefetch=pre)), 412)
    assert "condition" in body["issue"][0]["diagnostics"]


def test_missing_prefetch_fetched_from_fhir_server(live: Live, httpserver: Any) -> None:
    bearer = {"Authorization": "Bearer tok-123"}
    httpserver.expect_request(
        "/fhir/Observation",
        query_string={"patient": "pat-5", "code": "http://loinc.org|2889-4"},
        headers=bearer,
    ).respond_with_data(**fhir_json(synthetic.searchset(synthetic.protein("pat-5"))))
    pre = synthetic.prefetch("pat-5")
    del pre["observation"]
    resp = live.post(
        SVC,
        synthetic.hook_request(
            pid="pat-5", prefetch=pre, fhirServer=httpserver.url_for("/fhir"), fhirAuthorization=FHIR_AUTH
        ),
    )
    assert resp.status_code == 200 and len(resp.json()["cards"]) == 1
    assert len(httpserver.log) == 1  # only the missing key was fetched


def test_fetch_follows_next_links_on_same_server_only(live: Live, httpserver: Any) -> None:
    page1 = synthetic.searchset()
    page1["link"] = [{"relation": "next", "url": "https://evil.example.org/fhir/Observation?p=2"}]
    httpserver.expect_request("/fhir/Observation").respond_with_data(**fhir_json(page1))
    pre = synthetic.prefetch("pat-6")
    del pre["observation"]
    resp = live.post(
        SVC,
        synthetic.hook_request(
            pid="pat-6", prefetch=pre, fhirServer=httpserver.url_for("/fhir"), fhirAuthorization=FHIR_AUTH
        ),
    )
    assert_outcome(resp, 412)


@pytest.mark.parametrize(("patient_id", "status"), [("../Patient", 400), ("a" * 65, 400)])
def test_bad_patient_id(live: Live, patient_id: str, status: int) -> None:
    assert_outcome(
        live.post(SVC, synthetic.hook_request(pid=patient_id, prefetch=synthetic.prefetch())), status
    )


def test_order_select_does_not_resuggest_drafted_order(live: Live) -> None:
    path = "/cds-services/rec-msc-ln-order-select"
    draft = {
        "resourceType": "ServiceRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "instantiatesCanonical": [synthetic.canonical("ActivityDefinition", "ad-referral")],
        "subject": {"reference": "Patient/pat-1"},
    }
    body = synthetic.hook_request("order-select", prefetch=synthetic.prefetch())
    body["context"]["selections"] = ["ServiceRequest/d1"]
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft}],
    }
    card = live.post(path, body).json()["cards"][0]
    assert "suggestions" not in card and "selectionBehavior" not in card
    body["context"]["draftOrders"]["entry"][0]["resource"]["instantiatesCanonical"] = ["x"]
    assert "suggestions" in live.post(path, body).json()["cards"][0]


def test_body_size_limit(live: Live) -> None:
    big = synthetic.hook_request(prefetch=synthetic.prefetch())
    big["extension"] = {"org.example.pad": "x" * 250_000}
    assert_outcome(live.post(SVC, big), 413)


def test_chunked_body_over_limit(live: Live) -> None:
    def chunks() -> Any:
        yield b'{"hook": "patient-view", "pad": "'
        for _ in range(30):
            yield b"x" * 10_000
        yield b'"}'

    resp = live.post(SVC, content=chunks(), headers={"Content-Type": "application/json"})
    assert_outcome(resp, 413)


def test_content_type_and_invalid_json(live: Live) -> None:
    assert_outcome(
        live.post(SVC, content=b"hook=x", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415
    )
    assert_outcome(live.post(SVC, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_outcome(live.post(SVC, content=b"[1, 2]", headers={"Content-Type": "application/json"}), 400)


def test_unknown_route_and_method_are_operation_outcomes(live: Live) -> None:
    assert_outcome(live.get("/nowhere", token=None), 404)
    assert_outcome(live.get(SVC, token=None), 405)


# ---- $apply over HTTP -------------------------------------------------------------------------
def _data(applies: bool = True) -> dict[str, Any]:
    res = [
        synthetic.patient(),
        synthetic.condition(status="active" if applies else "resolved"),
        synthetic.protein(),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": copy.deepcopy(r)} for r in res],
    }


def _check_apply_bundle(bundle: dict[str, Any], applies: bool) -> None:
    assert bundle["resourceType"] == "Bundle"
    ro, cp = (e["resource"] for e in bundle["entry"])
    for res in (ro, cp):
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    assert ro["resourceType"] == "RequestOrchestration" and ro["intent"] == "proposal"
    assert ro["instantiatesCanonical"] == [synthetic.canonical("PlanDefinition", "rec-msc-ln")]
    assert cp["resourceType"] == "CarePlan" and cp["subject"] == {"reference": "Patient/pat-1"}
    if applies:
        sr = ro["contained"][0]
        assert ro["action"][0]["resource"] == {"reference": f"#{sr['id']}"}
        assert sr["resourceType"] == "ServiceRequest" and sr["intent"] == "option"
        assert cp["activity"][0]["plannedActivityReference"]["reference"] == bundle["entry"][0]["fullUrl"]
    else:
        assert "action" not in ro and "activity" not in cp


@pytest.mark.parametrize("applies", [True, False])
def test_apply_with_parameters(live: Live, applies: bool) -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": f"{synthetic.BASE}/PlanDefinition/rec-msc-ln"},
            {"name": "subject", "valueString": "Patient/pat-1"},
            {"name": "data", "resource": _data(applies)},
        ],
    }
    resp = live.post("/PlanDefinition/$apply", params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json")
    _check_apply_bundle(resp.json(), applies)


def test_apply_instance_level_plain_json(live: Live) -> None:
    resp = live.post("/PlanDefinition/rec-msc-ln/$apply", {"patient": _data()})
    assert resp.status_code == 200, resp.text
    _check_apply_bundle(resp.json(), True)


def test_apply_errors(live: Live) -> None:
    assert_outcome(live.post("/PlanDefinition/$apply", {"patient": _data()}), 400)
    assert_outcome(live.post("/PlanDefinition/$apply", {"planDefinition": "rec-msc-ln"}), 400)
    assert_outcome(live.post("/PlanDefinition/unknown/$apply", {"patient": _data()}), 404)
    two = _data()
    two["entry"].append({"resource": synthetic.patient("pat-2")})
    assert_outcome(live.post("/PlanDefinition/rec-msc-ln/$apply", {"patient": two}), 400)
    assert_outcome(live.post("/PlanDefinition/rec-msc-ln/$apply", {"patient": _data()}, token=None), 401)
