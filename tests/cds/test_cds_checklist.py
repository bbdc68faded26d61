"""The conformance checklist of docs/cds-hooks.md, one test (or parametrised test) per item.

Every call goes over real HTTP to the service running under uvicorn (see conftest.py).
JWT attacks beyond the checklist are in test_cds_jwt.py.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fhir.resources import get_fhir_model_class
from starlette.applications import Starlette

from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig
from evidence_publisher.cds.service import CdsService

from . import synthetic
from .conftest import ISS, JKU_PATH, ORIGIN, Live, fhir_json, serve

SVC = "/cds-services/rec-msc-ln"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["diagnostics"]
    return body


def assert_no_empty(value: Any, where: str = "$") -> None:
    assert value is not None and value != "" and value != [] and value != {}, where
    if isinstance(value, dict):
        for k, v in value.items():
            assert_no_empty(v, f"{where}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            assert_no_empty(v, f"{where}[{n}]")


def card_for(live: Live) -> dict[str, Any]:
    resp = live.post(SVC, synthetic.hook_request(prefetch=synthetic.prefetch()))
    assert resp.status_code == 200, resp.text
    cards = resp.json()["cards"]
    assert len(cards) == 1
    return cards[0]


def test_item_01_discovery(live: Live) -> None:
    resp = live.get("/cds-services")
    assert resp.status_code == 200
    assert resp.headers["content-type"].split(";")[0] == "application/json"
    services = resp.json()["services"]
    assert {s["id"] for s in services} == {"rec-msc-ln", "rec-msc-ln-order-select"}

    def empty(base: str) -> Starlette:
        cfg = CdsConfig(source=None, fhir_server="https://unused.example.org", auth=False)
        return create_app(cfg, service=CdsService(cfg, []))

    with serve(empty) as st:
        r = Live(st, live.keys).get("/cds-services", token=None)
        assert r.status_code == 200
        assert r.json() == {"services": []}


def test_item_02_service_fields(live: Live) -> None:
    for svc in live.get("/cds-services").json()["services"]:
        assert_no_empty(svc)
        for key in ("hook", "id", "description", "title"):
            assert isinstance(svc[key], str) and svc[key].strip()
        assert all(isinstance(v, str) for v in svc["prefetch"].values())
    hooks = {s["id"]: s["hook"] for s in live.get("/cds-services").json()["services"]}
    assert hooks == {"rec-msc-ln": "patient-view", "rec-msc-ln-order-select": "order-select"}


def test_item_03_no_version_for_2_0(live: Live) -> None:
    # The service implements 2.0, which has no discovery 'version'; advertising 3.0 would be wrong.
    for svc in live.get("/cds-services").json()["services"]:
        assert "version" not in svc and "hookVersion" not in svc


TOKEN_RE = re.compile(r"\{\{([^}]*)\}\}")
LEGAL_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}


def test_item_04_prefetch_tokens(live: Live) -> None:
    seen = 0
    for svc in live.get("/cds-services").json()["services"]:
        for query in svc["prefetch"].values():
            for token in TOKEN_RE.findall(query):
                seen += 1
                assert re.fullmatch(r"context\.[A-Za-z]+", token) or token in LEGAL_TOKENS, token
    assert seen >= 3


DATE_PREFIX = re.compile(r"^(eq|lt|gt|ge|le)")


def test_item_05_prefetch_query_forms(live: Live) -> None:
    for svc in live.get("/cds-services").json()["services"]:
        for query in svc["prefetch"].values():
            path, _, qs = query.partition("?")
            if not qs:
                assert re.fullmatch(r"[A-Z][A-Za-z]+/\{\{context\.patientId\}\}", path), query
                continue
            assert re.fullmatch(r"[A-Z][A-Za-z]+", path), query
            for name, value in parse_qsl(qs, keep_blank_values=True):
                base = name.split(":")[0]
                assert name in {
                    "patient",
                    "subject",
                    "code",
                    "code:in",
                    "category",
                    "date",
                    "_count",
                    "_sort",
                    "status",
                }, name
                if base == "date":
                    assert DATE_PREFIX.match(value), value
                if base in ("code", "category") and ":" not in name:
                    assert all("|" in v for v in value.split(",")), value  # system|code tokens


def test_item_06_unknown_service_404(live: Live) -> None:
    assert_outcome(live.post("/cds-services/nope", synthetic.hook_request()), 404)


@pytest.mark.parametrize("missing", ["hook", "hookInstance", "context"])
def test_item_07_missing_required_fields_400(live: Live, missing: str) -> None:
    body = synthetic.hook_request(prefetch=synthetic.prefetch())
    del body[missing]
    assert missing in assert_outcome(live.post(SVC, body), 400)["issue"][0]["diagnostics"]


def test_item_08_fhir_authorization_without_server_400(live: Live) -> None:
    body = synthetic.hook_request(
        fhirAuthorization={
            "access_token": "abc",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        }
    )
    assert "cds-r-1" in assert_outcome(live.post(SVC, body), 400)["issue"][0]["diagnostics"]


def test_item_09_hook_mismatch_400(live: Live) -> None:
    body = synthetic.hook_request("order-select", prefetch=synthetic.prefetch())
    assert_outcome(live.post(SVC, body), 400)
    ok = live.post("/cds-services/rec-msc-ln-order-select", body)
    assert ok.status_code == 200 and len(ok.json()["cards"]) == 1


def test_item_10_prefetch_absent_null_outcome(live: Live) -> None:
    # null = "no data": the condition on Condition cannot hold, so no card (and no 412)
    pre = synthetic.prefetch()
    pre["condition"] = None
    resp = live.post(SVC, synthetic.hook_request(prefetch=pre))
    assert resp.status_code == 200 and resp.json() == {"cards": []}
    # an OperationOutcome value is a prefetch error, never data: with nothing to fetch from -> 412
    pre = synthetic.prefetch()
    pre["condition"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    assert_outcome(live.post(SVC, synthetic.hook_request(prefetch=pre)), 412)
    # absent = "not provided" -> 412 as well
    pre = synthetic.prefetch()
    del pre["observation"]
    assert (
        "observation"
        in assert_outcome(live.post(SVC, synthetic.hook_request(prefetch=pre)), 412)["issue"][0][
            "diagnostics"
        ]
    )
    # OperationOutcome entries inside a searchset are messages, not data
    pre = synthetic.prefetch()
    pre["condition"]["entry"].append(
        {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}}
    )
    assert len(live.post(SVC, synthetic.hook_request(prefetch=pre)).json()["cards"]) == 1


def test_item_11_missing_data_412(live: Live, httpserver: Any) -> None:
    assert_outcome(live.post(SVC, synthetic.hook_request()), 412)
    # fhirServer given but the fetch fails -> 412
    httpserver.expect_request("/fhir/Patient/pat-1").respond_with_data("boom", status=500)
    body = synthetic.hook_request(
        fhirServer=httpserver.url_for("/fhir"),
        fhirAuthorization={
            "access_token": "t0k",
            "token_type": "Bearer",
            "expires_in": 60,
            "scope": "patient/*.read",
            "subject": "cds",
        },
    )
    assert_outcome(live.post(SVC, body), 412)


def test_item_12_success_shape(live: Live) -> None:
    resp = live.post(SVC, synthetic.hook_request(prefetch=synthetic.prefetch()))
    assert resp.status_code == 200
    assert resp.headers["content-type"].split(";")[0] == "application/json"
    body = resp.json()
    assert isinstance(body["cards"], list) and "systemActions" not in body
    empty = live.post(SVC, synthetic.hook_request(prefetch=synthetic.prefetch(applies=False)))
    assert empty.json() == {"cards": []}


def test_item_13_card_required_fields(live: Live) -> None:
    card = card_for(live)
    assert_no_empty(card)
    assert 1 <= len(card["summary"]) < 140
    assert card["indicator"] in {"info", "warning", "critical"}
    assert card["source"]["label"].strip()
    for key in ("url", "icon"):
        if key in card["source"]:
            assert card["source"][key].startswith("https://")
    assert card["source"]["url"] == f"{synthetic.BASE}/Citation/synthetic-guideline"


def test_item_14_uuids(live: Live) -> None:
    card = card_for(live)
    assert UUID_RE.match(card["uuid"])
    assert all(UUID_RE.match(s["uuid"]) for s in card["suggestions"])
    assert card_for(live)["uuid"] != card["uuid"]


def test_item_15_selection_behavior(live: Live) -> None:
    card = card_for(live)
    assert card["selectionBehavior"] in {"at-most-one", "any"}
    if card["selectionBehavior"] == "at-most-one":
        assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) <= 1


def test_item_16_suggestion_actions(live: Live) -> None:
    card = card_for(live)
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert actions
    for action in actions:
        assert action["type"] in {"create", "update", "delete"}
        assert action["description"].strip()
        if action["type"] in ("create", "update"):
            res = action["resource"]
            get_fhir_model_class(res["resourceType"]).model_validate(res)  # valid R5
        else:
            assert "resource" not in action and "/" in action["resourceId"]
    sr = actions[0]["resource"]
    assert sr["resourceType"] == "ServiceRequest"
    assert sr["subject"] == {"reference": "Patient/pat-1"}
    assert sr["instantiatesCanonical"] == [synthetic.canonical("ActivityDefinition", "ad-referral")]
    assert sr["code"]["concept"]["coding"][0]["code"] == "3457005"


def test_item_17_no_action_selection_behavior(live: Live) -> None:
    card = card_for(live)
    assert all("actionSelectionBehavior" not in s for s in card["suggestions"])


def test_item_18_links(live: Live) -> None:
    links = card_for(live)["links"]
    assert links
    for link in links:
        assert link["label"] and link["url"].startswith("https://")
        assert link["type"] in {"absolute", "smart"}
        assert "appContext" not in link or link["type"] == "smart"
    urls = {link["url"] for link in links}
    assert f"{synthetic.BASE}/Evidence/ev-remission" in urls


def test_item_19_override_reasons_have_display(live: Live) -> None:
    reasons = card_for(live)["overrideReasons"]
    assert reasons == [
        {
            "code": "patient-declined",
            "system": "https://evidence.example.org/override-reason",
            "display": "Patient declined",
        }
    ]


def test_item_20_detail_is_markdown_without_html(live: Live, tmp_path: Any) -> None:
    card = card_for(live)
    assert "**Key results**" in card["detail"]
    assert "<" not in card["detail"]
    res = synthetic.resources()
    res[1]["statistic"][0]["description"] = "<script>alert(1)</script> 5 of 9"
    dist = synthetic.write_dist(tmp_path)

    def factory(base: str) -> Starlette:
        return create_app(CdsConfig(source=str(synthetic.write_dist(dist, res)), auth=False))

    with serve(factory) as st:
        r = Live(st, live.keys).post(SVC, synthetic.hook_request(prefetch=synthetic.prefetch()), token=None)
        detail = r.json()["cards"][0]["detail"]
        assert "<script" not in detail and "&lt;script&gt;" in detail
        assert "5 of 9" in detail


def _fb(**over: Any) -> dict[str, Any]:
    item = {
        "card": str(uuid.uuid4()),
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": "2026-01-02T03:04:05Z",
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    ("item", "status"),
    [
        (_fb(), 200),
        (
            _fb(
                outcome="overridden",
                acceptedSuggestions=None,
                overrideReason={"reason": {"code": "x", "system": "https://e.org/r"}},
            ),
            200,
        ),
        (_fb(outcome="overridden", acceptedSuggestions=None, overrideReason={"userComment": "not now"}), 200),
        (_fb(card=None), 400),
        (_fb(outcome="ignored"), 400),
        (_fb(outcomeTimestamp=None), 400),
        (_fb(outcomeTimestamp="yesterday"), 400),
        (_fb(acceptedSuggestions=None), 400),
        (_fb(acceptedSuggestions=[]), 400),
        (_fb(acceptedSuggestions=[{"id": ""}]), 400),
        (_fb(outcome="overridden", acceptedSuggestions=None, overrideReason={}), 400),
    ],
)
def test_item_21_feedback(live: Live, item: dict[str, Any], status: int) -> None:
    path = SVC + "/feedback"
    resp = live.post(path, {"feedback": [item]})
    if status == 400:
        assert_outcome(resp, 400)
    else:
        assert resp.status_code == 200, resp.text
        assert live.post(path, {"feedback": [item]}).status_code == 200  # idempotent duplicate


def test_item_21_feedback_body_and_unknown_service(live: Live) -> None:
    assert_outcome(live.post(SVC + "/feedback", {"feedback": []}), 400)
    assert_outcome(live.post(SVC + "/feedback", {"items": [_fb()]}), 400)
    assert_outcome(live.post("/cds-services/nope/feedback", {"feedback": [_fb()]}), 404)


@pytest.mark.parametrize("path", ["/cds-services", SVC, SVC + "/feedback"])
def test_item_22_missing_bearer_401(live: Live, path: str) -> None:
    resp = (
        live.get(path, token=None)
        if path == "/cds-services"
        else live.post(path, synthetic.hook_request(prefetch=synthetic.prefetch()), token=None)
    )
    assert_outcome(resp, 401)
    assert resp.headers["www-authenticate"].startswith("Bearer")
    basic = live.get("/cds-services", token=None, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_outcome(basic, 401)


@pytest.mark.parametrize(
    ("alg", "ok"),
    [("ES384", True), ("RS384", True), ("HS256", False), ("HS384", False), ("HS512", False), ("none", False)],
)
def test_item_23_algorithms(live: Live, alg: str, ok: bool) -> None:
    if alg.startswith("HS"):
        token = live.token("/cds-services", alg=alg, key="a-shared-secret-" + "x" * 64, kid="es-1")
    elif alg == "none":
        token = live.unsigned("/cds-services")
    else:
        token = live.token("/cds-services", alg=alg)
    resp = live.get("/cds-services", token=token)
    assert resp.status_code == (200 if ok else 401), resp.text


def test_item_24_kid_typ_jku(live: Live, httpserver: Any) -> None:
    path = "/cds-services"
    assert_outcome(live.get(path, token=live.token(path, headers={"kid": None})), 401)
    assert_outcome(live.get(path, token=live.token(path, headers={"typ": None})), 401)
    assert_outcome(live.get(path, token=live.token(path, headers={"typ": "at+jwt"})), 401)
    # kid unknown in the configured JWKS
    assert_outcome(live.get(path, token=live.token(path, kid="missing")), 401)
    # jku on the allowlist: key fetched from it and selected by kid
    httpserver.expect_request(JKU_PATH).respond_with_json(live.keys.jku_jwks())
    jku = httpserver.url_for(JKU_PATH)
    good = live.token(
        path, key=live.keys.jku_es, kid="jku-es-1", headers={"jku": jku}, iss="https://jku-ehr.example.org"
    )
    assert live.get(path, token=good).status_code == 200
    # jku not on the allowlist (same keys served elsewhere)
    httpserver.expect_request("/evil/jwks.json").respond_with_json(live.keys.jku_jwks())
    evil = live.token(
        path,
        key=live.keys.jku_es,
        kid="jku-es-1",
        headers={"jku": httpserver.url_for("/evil/jwks.json")},
        iss="https://jku-ehr.example.org",
    )
    assert "allowlisted" in assert_outcome(live.get(path, token=evil), 401)["issue"][0]["diagnostics"]
    # without jku, the JWKS configured for the issuer is used (already the default token)
    assert live.get(path).status_code == 200


def test_item_25_iss_and_aud(live: Live) -> None:
    path = "/cds-services"
    assert_outcome(live.get(path, token=live.token(path, iss="https://rogue.example.org")), 401)
    # a discovery token is not valid for the service endpoint, nor one for another host
    body = synthetic.hook_request(prefetch=synthetic.prefetch())
    assert_outcome(live.post(SVC, body, token=live.token(path, aud=live.base + path)), 401)
    assert_outcome(live.post(SVC, body, token=live.token(SVC, aud="https://other.example.org" + SVC)), 401)
    assert_outcome(live.post(SVC, body, token=live.token(SVC, aud=live.base + SVC + "/")), 401)
    # aud as an array containing the exact URL is accepted
    arr = live.token(SVC, aud=["https://x.example.org", live.base + SVC])
    assert live.post(SVC, body, token=arr).status_code == 200
    # feedback is checked against the feedback URL
    fb = {"feedback": [_fb()]}
    assert_outcome(live.post(SVC + "/feedback", fb, token=live.token(SVC)), 401)
    assert live.post(SVC + "/feedback", fb).status_code == 200


@pytest.mark.parametrize("case", ["exp-past", "no-exp", "no-iat", "no-jti", "replay"])
def test_item_26_exp_iat_jti_replay(live: Live, case: str) -> None:
    import time

    path = "/cds-services"
    now = int(time.time())
    if case == "replay":
        token = live.token(path)
        assert live.get(path, token=token).status_code == 200
        assert "replay" in assert_outcome(live.get(path, token=token), 401)["issue"][0]["diagnostics"]
        return
    claims: dict[str, dict[str, Any]] = {
        "exp-past": {"exp": now - 600, "iat": now - 900},
        "no-exp": {"exp": None},
        "no-iat": {"iat": None},
        "no-jti": {"jti": None},
    }
    over = claims[case]
    assert_outcome(live.get(path, token=live.token(path, **over)), 401)


def test_item_27_sub_and_tenant_optional(live: Live) -> None:
    path = "/cds-services"
    assert live.get(path, token=live.token(path, sub="someone")).status_code == 200
    assert live.get(path, token=live.token(path, tenant="t-1")).status_code == 200
    assert live.get(path, token=live.token(path)).status_code == 200


@pytest.mark.parametrize("path", ["/cds-services", SVC, SVC + "/feedback", "/PlanDefinition/$apply"])
def test_item_28_cors_preflight(live: Live, path: str) -> None:
    pre = live.http.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert 200 <= pre.status_code < 300
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    methods = {m.strip() for m in pre.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    bad = live.http.options(
        path, headers={"Origin": "https://evil.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert_outcome(bad, 403)
    assert "access-control-allow-origin" not in bad.headers
    got = live.get("/cds-services", headers={"Origin": ORIGIN})
    assert got.headers["access-control-allow-origin"] == ORIGIN
    other = live.get("/cds-services", headers={"Origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in other.headers


def test_item_28_cors_preflight_for_another_method_or_header_is_refused(live: Live) -> None:
    for asked in (
        {"Access-Control-Request-Method": "DELETE"},
        {"Access-Control-Request-Headers": "x-tracking"},
    ):
        headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST", **asked}
        refused = live.http.options("/cds-services", headers=headers)
        assert_outcome(refused, 403)
        assert "access-control-allow-origin" not in refused.headers
        assert "GET, POST, OPTIONS" in refused.text


def test_item_29_access_token_never_logged(
    live: Live, httpserver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SECRET-access-token-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    auth = {
        "access_token": secret,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-client",
    }
    headers = {"Authorization": f"Bearer {secret}"}
    fhir = httpserver.url_for("/fhir")
    httpserver.expect_request("/fhir/Patient/pat-9", headers=headers).respond_with_data(
        **fhir_json(synthetic.patient("pat-9"))
    )
    httpserver.expect_request("/fhir/Condition", headers=headers).respond_with_data(
        **fhir_json(synthetic.searchset(synthetic.condition("pat-9")))
    )
    httpserver.expect_request("/fhir/Observation", headers=headers).respond_with_data(
        **fhir_json(synthetic.searchset(synthetic.protein("pat-9")))
    )
    ok = live.post(SVC, synthetic.hook_request(pid="pat-9", fhirServer=fhir, fhirAuthorization=auth))
    assert ok.status_code == 200 and len(ok.json()["cards"]) == 1
    assert len(httpserver.log) == 3  # outbound calls used it only as Bearer to fhirServer
    # failure path: the server refuses; the token is still neither logged nor echoed
    httpserver.clear()
    httpserver.expect_request("/fhir/Patient/pat-9").respond_with_data("no", status=401)
    fail = live.post(SVC, synthetic.hook_request(pid="pat-9", fhirServer=fhir, fhirAuthorization=auth))
    assert_outcome(fail, 412)
    assert secret not in fail.text and secret not in ok.text
    assert caplog.records, "expected the service to log the calls"
    assert secret not in caplog.text


def test_item_30_prefetch_satisfied_call_does_no_io(live: Live, httpserver: Any) -> None:
    """Latency is measured by bench/bench_cds.py (no timed unit tests). What makes a
    prefetch-satisfied call fast is checkable: it does no outbound I/O even if it could."""
    auth = {
        "access_token": "x",
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "patient/*.read",
        "subject": "cds",
    }
    resp = live.post(
        SVC,
        synthetic.hook_request(
            prefetch=synthetic.prefetch(), fhirServer=httpserver.url_for("/fhir"), fhirAuthorization=auth
        ),
    )
    assert resp.status_code == 200 and len(resp.json()["cards"]) == 1
    assert httpserver.log == []


def test_iss_constant_is_trusted(live: Live) -> None:
    assert live.claims("/x")["iss"] == ISS
