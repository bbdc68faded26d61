"""In-process tests: config, compilation, card content read from the resources, $apply, CLI."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class

from evidence_publisher.cds.cards import SUMMARY_MAX, build_card
from evidence_publisher.cds.config import CdsConfig, IssuerConfig, config_from_mapping
from evidence_publisher.cds.errors import (
    CdsConfigError,
    InvalidRequestError,
    KnowledgeLoadError,
    RecommendationError,
)
from evidence_publisher.cds.evaluate import evaluate
from evidence_publisher.cds.knowledge import KnowledgeBase, load_from_server
from evidence_publisher.cds.recommendation import compile_all
from evidence_publisher.cds.replay import MemoryReplayStore, SqliteReplayStore
from evidence_publisher.cds.server import build_config
from evidence_publisher.cds.service import CdsService
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.fhirclient import HttpOptions
from evidence_publisher.jsonio import dumps

from . import synthetic
from .conftest import fhir_json


def compiled(res: list[dict[str, Any]] | None = None) -> Any:
    recs = compile_all(KnowledgeBase(res if res is not None else synthetic.resources()))
    assert len(recs) == 1
    return recs[0]


def data(applies: bool = True) -> list[dict[str, Any]]:
    return [
        synthetic.patient(),
        synthetic.condition(status="active" if applies else "resolved"),
        synthetic.protein(),
    ]


# ---- config -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"public_base_url": None}, "public_base_url"),
        ({"issuers": []}, "issuers"),
        ({"algorithms": ["HS256"]}, "HS256"),
        ({"algorithms": ["none"]}, "none"),
        ({"cors_origins": ["*"]}, "'*'"),
        ({"cors_origins": ["https://a.example.org/path"]}, "path"),
        ({"workers": 0}, "workers"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"clock_skew_seconds": 3600}, "clock_skew"),
        ({"override_reasons": [{"code": "x", "system": "https://s", "display": ""}]}, "display"),
        ({"issuers": [{"iss": "https://e.org"}]}, "jwks"),
    ],
)
def test_config_rejects(over: dict[str, Any], needle: str) -> None:
    base = {
        "source": "dist",
        "public_base_url": "https://cds.example.org",
        "issuers": [{"iss": "https://e.org", "jwks_url": "https://e.org/jwks"}],
    }
    base.update(over)
    with pytest.raises(CdsConfigError, match=needle):
        config_from_mapping(base).validate()


def test_auth_cannot_be_disabled_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "cds.json"
    f.write_text('{"auth": false}', encoding="utf-8")
    with pytest.raises(CdsConfigError, match="cannot be set in a config file") as err:
        build_config(f, {})
    assert "--no-auth" in err.value.details[0]
    assert build_config(None, {"auth": False, "source": "dist"}).auth is False


def test_config_unknown_key_and_file_merge(tmp_path: Path) -> None:
    with pytest.raises(CdsConfigError, match="unknown configuration keys"):
        config_from_mapping({"prot": 1})
    f = tmp_path / "cds.yaml"
    f.write_text(
        "public_base_url: https://cds.example.org/\nport: 9000\nworkers: 2\n"
        "issuers:\n  - iss: https://ehr.example.org\n    jwks_url: https://e/jwks\n"
        "cors_origins: [https://ui.example.org]\n",
        encoding="utf-8",
    )
    cfg = build_config(f, {"port": 9100, "host": None, "source": "dist"})
    assert (cfg.port, cfg.workers, cfg.host) == (9100, 2, "127.0.0.1")
    assert cfg.public_base_url == "https://cds.example.org"
    assert cfg.issuers == [IssuerConfig(iss="https://ehr.example.org", jwks_url="https://e/jwks")]
    # round trip through the environment (how uvicorn workers get it)
    assert config_from_mapping(json.loads(cfg.to_json())) == cfg


# ---- compilation ------------------------------------------------------------------------------
def test_non_fhirpath_condition_is_refused() -> None:
    res = synthetic.resources()
    res[0]["action"][0]["condition"][0]["expression"]["language"] = "text/cql-identifier"
    with pytest.raises(RecommendationError, match="text/cql-identifier"):
        compiled(res)


def test_unparsable_fhirpath_is_refused_at_load() -> None:
    res = synthetic.resources()
    res[0]["action"][0]["condition"][0]["expression"]["expression"] = "entry.where(("
    with pytest.raises(RecommendationError, match="does not parse"):
        compiled(res)


def test_unresolved_evidence_is_refused() -> None:
    res = [r for r in synthetic.resources() if r["id"] != "ev-safety"]
    with pytest.raises(RecommendationError, match="ev-safety"):
        compiled(res)


def test_no_order_select_without_order_definition() -> None:
    res = synthetic.resources()
    res[0]["action"][0]["trigger"] = [{"type": "named-event", "name": "patient-view"}]
    assert compiled(res).hooks == ("patient-view", "order-select")  # ServiceRequest AD
    del res[0]["action"][0]["definitionCanonical"]
    assert compiled(res).hooks == ("patient-view",)


def test_non_recommendation_plans_are_ignored() -> None:
    res = synthetic.resources()
    res[0]["type"]["coding"][0]["code"] = "order-set"
    assert compile_all(KnowledgeBase(res)) == []


# ---- evaluation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "holds"),
    [
        ("true", True),
        ("1", False),
        ("true | false", False),
        ("{}", False),
        ("'true'", False),
        ("entry.count() = 3", True),
        ("%resource.entry.resource.ofType(Patient).id = 'pat-1'", True),
    ],
)
def test_condition_holds_only_on_exactly_true(expr: str, holds: bool) -> None:
    res = synthetic.resources()
    res[0]["action"][0]["condition"] = [
        {"kind": "applicability", "expression": {"language": "text/fhirpath", "expression": expr}}
    ]
    assert evaluate(compiled(res), data()).applies is holds


def test_all_conditions_must_hold() -> None:
    rec = compiled()
    assert evaluate(rec, data()).applies
    assert not evaluate(rec, data(applies=False)).applies
    assert not evaluate(rec, [synthetic.patient()]).applies


# ---- cards: every fact comes from the published resources -------------------------------------
def test_card_reads_numbers_and_certainty_from_resources() -> None:
    res = synthetic.resources()
    detail = build_card(compiled(res), patient_id="pat-1")["detail"]
    # the sample size is added only where the published description does not state it
    assert "Remission in 49 of 81 patients (60.5%). Certainty" in detail
    assert "Certainty of evidence: **Low** (single-arm study, risk of bias)" in detail
    assert "**Very low**" in detail and "n = 7" in detail
    res2 = copy.deepcopy(res)
    res2[1]["statistic"][0].update(
        {"description": "Remission in 30 of 40 patients", "sampleSize": {"numberOfParticipants": 40}}
    )
    res2[1]["statistic"][0]["attributeEstimate"] = [
        {
            "type": {"coding": [{"code": "C53324"}]},
            "level": Decimal("0.95"),
            "range": {"low": {"value": Decimal("0.59")}, "high": {"value": Decimal("0.87")}},
        }
    ]
    res2[3]["content"][0]["classifier"][0]["coding"][0].update(code="moderate", display="Moderate")
    res2[3]["content"][0]["summary"] = "downgraded once"
    detail2 = build_card(compiled(res2), patient_id="pat-1")["detail"]
    assert "Remission in 30 of 40 patients (95% CI 0.59 to 0.87)" in detail2
    assert "**Moderate** (downgraded once)" in detail2
    assert "81" not in detail2


def test_certainty_falls_back_to_evidence_certainty() -> None:
    res = [r for r in synthetic.resources() if r["id"] != "aa-safety"]
    detail = build_card(compiled(res), patient_id="p")["detail"]
    assert "No dose-limiting toxicity among 7 patients (n = 7). Certainty of evidence: not rated" in detail
    res[2]["certainty"] = [
        {"rating": {"coding": [{"system": synthetic.CERTAINTY, "code": "high", "display": "High"}]}}
    ]
    assert "**High**" in build_card(compiled(res), patient_id="p")["detail"]


def test_summary_title_and_source_come_from_resources() -> None:
    res = synthetic.resources()
    res[0]["action"][0]["title"] = "word " * 60
    res[0]["action"][0]["priority"] = "urgent"
    res[-1]["title"] = "Another Guideline"
    card = build_card(compiled(res), patient_id="p")
    assert len(card["summary"]) <= SUMMARY_MAX and card["summary"].endswith("…")
    assert card["indicator"] == "warning"
    assert card["source"]["label"] == "Another Guideline"


def test_http_citation_url_is_not_used_as_source_url() -> None:
    res = synthetic.resources()
    res[0]["relatedArtifact"][0]["resource"] = "http://insecure.example.org/Citation/c|1"
    card = build_card(compiled(res), patient_id="p")
    assert "url" not in card["source"]


# ---- service-level request validation ----------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "auth", "needle"),
    [
        ("http://ehr.example.org/fhir", {"access_token": "t", "token_type": "Bearer"}, "https"),
        ("https://ehr.example.org/fhir", {"token_type": "Bearer"}, "access_token"),
        ("https://ehr.example.org/fhir", {"access_token": "t", "token_type": "MAC"}, "Bearer"),
    ],
)
def test_fhir_server_rules(dist: Path, server: str, auth: dict[str, Any], needle: str) -> None:
    svc = CdsService.from_config(CdsConfig(source=str(dist), auth=False))
    body = synthetic.hook_request(fhirServer=server, fhirAuthorization=auth)
    with pytest.raises(InvalidRequestError, match=needle):
        svc.call("rec-msc-ln", body)


# ---- $apply ---------------------------------------------------------------------------------
def test_apply_output_is_valid_r5(dist: Path) -> None:
    svc = CdsService.from_config(CdsConfig(source=str(dist), auth=False))
    bundle = svc.apply(
        f"{synthetic.BASE}/PlanDefinition/rec-msc-ln|1.0.0",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in data()]},
        "Practitioner/pr-1",
    )
    get_fhir_model_class("Bundle").model_validate(json.loads(dumps(bundle)))
    ro = bundle["entry"][0]["resource"]
    assert ro["author"] == {"reference": "Practitioner/pr-1"}
    assert ro["contained"][0]["requester"] == {"reference": "Practitioner/pr-1"}


def test_cli_apply(dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patient = tmp_path / "patient.json"
    patient.write_text(
        dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in data()]}),
        encoding="utf-8",
    )
    code = main(
        [
            "apply",
            "--plan",
            f"{synthetic.BASE}/PlanDefinition/rec-msc-ln",
            "--patient",
            str(patient),
            "--dist",
            str(dist),
        ]
    )
    out, err = capsys.readouterr()
    assert code == ExitCode.OK
    assert json.loads(out)["entry"][0]["resource"]["action"]
    assert "applies" in err
    only_patient = tmp_path / "p.json"
    only_patient.write_text(dumps(synthetic.patient()), encoding="utf-8")
    assert (
        main(["apply", "--plan", "rec-msc-ln", "--patient", str(only_patient), "--dist", str(dist)])
        == ExitCode.OK
    )
    out, err = capsys.readouterr()
    assert "action" not in json.loads(out)["entry"][0]["resource"]
    assert "does not apply" in err
    assert main(["apply", "--plan", "nope", "--patient", str(patient), "--dist", str(dist)]) != ExitCode.OK
    assert (
        main(
            [
                "apply",
                "--plan",
                "rec-msc-ln",
                "--patient",
                str(tmp_path / "missing.json"),
                "--dist",
                str(dist),
            ]
        )
        == ExitCode.USAGE
    )


def test_cli_serve_refuses_bad_config(tmp_path: Path, dist: Path) -> None:
    # auth on but no issuers: refused before anything starts
    assert main(["serve", str(dist), "--public-url", "https://cds.example.org"]) == ExitCode.CDS_CONFIG
    assert main(["serve", str(tmp_path / "nothing"), "--no-auth"]) == ExitCode.CDS_CONFIG


# ---- knowledge from a FHIR server ----------------------------------------------------------
def test_load_from_fhir_server(httpserver: Any) -> None:
    res = {f"{r['resourceType']}/{r['id']}": r for r in synthetic.resources()}

    def searchset(*keys: str) -> dict[str, Any]:
        return fhir_json(synthetic.searchset(*(res[k] for k in keys)))

    page2 = httpserver.url_for("/fhir/PlanDefinition") + "?page=2"
    first = synthetic.searchset(res["PlanDefinition/rec-msc-ln"])
    first["link"] = [{"relation": "next", "url": page2}]
    httpserver.expect_request("/fhir/PlanDefinition", query_string="page=2").respond_with_data(
        **fhir_json(synthetic.searchset())
    )
    httpserver.expect_request(
        "/fhir/PlanDefinition", query_string={"type": "eca-rule", "_count": "100"}
    ).respond_with_data(**fhir_json(first))
    for rtype, rid in [
        ("Citation", "synthetic-guideline"),
        ("Evidence", "ev-remission"),
        ("Evidence", "ev-safety"),
        ("ActivityDefinition", "ad-referral"),
    ]:
        httpserver.expect_request(
            f"/fhir/{rtype}",
            query_string={
                "url": f"{synthetic.BASE}/{rtype}/{rid}",
                "version": "1.0.0",
            },
        ).respond_with_data(**searchset(f"{rtype}/{rid}"))
    httpserver.expect_request("/fhir/ArtifactAssessment").respond_with_data(
        **searchset("ArtifactAssessment/aa-remission", "ArtifactAssessment/aa-safety")
    )
    kb = load_from_server(httpserver.url_for("/fhir"), timeout=5)
    rec = compile_all(kb)[0]
    assert rec.id == "rec-msc-ln" and [e.certainty_code for e in rec.evidence] == ["low", "very-low"]


def test_load_from_fhir_server_errors(httpserver: Any) -> None:
    """Start-up reads are retried like publish's (a server may still be starting), then exit 40."""
    httpserver.expect_request("/fhir/PlanDefinition").respond_with_data("down", status=503)
    quick = HttpOptions(connect_timeout=5, read_timeout=5, max_retries=2, backoff_base=0.001)
    with pytest.raises(KnowledgeLoadError, match="503") as info:
        load_from_server(httpserver.url_for("/fhir"), options=quick)
    assert len(httpserver.log) == 3 and info.value.exit_code == ExitCode.CDS_CONFIG


def test_knowledge_server_paging_stays_on_the_server(httpserver: Any) -> None:
    first = synthetic.searchset()
    first["link"] = [{"relation": "next", "url": "https://evil.example.org/fhir/PlanDefinition?page=2"}]
    httpserver.expect_request("/fhir/PlanDefinition").respond_with_data(**fhir_json(first))
    with pytest.raises(KnowledgeLoadError, match="points outside") as info:
        load_from_server(httpserver.url_for("/fhir"), timeout=5)
    assert len(httpserver.log) == 1 and info.value.exit_code == ExitCode.CDS_CONFIG


# ---- replay stores ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_replay_store(kind: str, tmp_path: Path) -> None:
    import time

    store = MemoryReplayStore() if kind == "memory" else SqliteReplayStore(tmp_path / "j.db")
    now = time.time()
    assert store.add_if_new("a", now + 60)
    assert not store.add_if_new("a", now + 60)
    assert store.add_if_new("b", now + 60)
    assert store.add_if_new("old", now - 1)  # already expired entries may be reused
    assert store.add_if_new("old", now + 60)
    if kind == "sqlite":  # a second process opening the same file sees the same jti
        assert not SqliteReplayStore(tmp_path / "j.db").add_if_new("a", now + 60)


def test_serve_with_two_workers_subprocess(dist: Path) -> None:
    """`evidence-publisher serve --workers 2` (per-worker SO_REUSEPORT sockets) answers, then
    stops on SIGTERM."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from evidence_publisher.cli import main_cli; main_cli()",
            "serve",
            str(dist),
            "--no-auth",
            "--workers",
            "2",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, resp = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert resp is not None and resp.status_code == 200
        assert {s["id"] for s in resp.json()["services"]} == {"rec-msc-ln", "rec-msc-ln-order-select"}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "AUTHENTICATION IS DISABLED" in err
    assert "2 workers" in err
