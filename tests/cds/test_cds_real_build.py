"""The service on the project's real build output (evidence-publisher build), over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fhir.resources import get_fhir_model_class
from starlette.applications import Starlette

from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig
from evidence_publisher.cli import main
from evidence_publisher.jsonio import load_file

from . import synthetic
from .conftest import Keys, Live, serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def real_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "dist"
    code = main(["build", str(ROOT / "mappings" / "lupus-msc"), "--out", str(out), "--no-validate"])
    assert code == 0, "evidence-publisher build failed; the cds tests need its output"
    return out


@pytest.fixture(scope="module")
def real(real_dist: Path, keys: Keys) -> Iterator[Live]:
    def factory(base: str) -> Starlette:
        # the seed recommendation is experimental: serving it is an explicit opt-in
        return create_app(CdsConfig(source=str(real_dist), auth=False, serve_experimental=True))

    with serve(factory) as st:
        yield Live(st, keys)


def _plan(real_dist: Path) -> dict[str, Any]:
    plans = [load_file(p) for p in sorted((real_dist / "resources").glob("PlanDefinition-*.json"))]
    assert len(plans) == 1
    return plans[0]


def test_discovery_on_real_build(real: Live, real_dist: Path) -> None:
    plan = _plan(real_dist)
    services = real.get("/cds-services", token=None).json()["services"]
    assert {s["id"] for s in services} >= {plan["id"]}
    for svc in services:
        assert svc["title"] == plan["title"]
        for key, query in svc["prefetch"].items():
            path, _, qs = query.partition("?")
            for name, _value in parse_qsl(qs):
                assert name in {"patient", "code", "category", "status"}, (key, name)
            assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.patientId\}\})?", path)
    # one prefetch key per published input, plus the patient
    inputs = plan["action"][0].get("input", [])
    assert len(services[0]["prefetch"]) == 1 + len(inputs)


def test_real_recommendation_applies_and_cites_its_evidence(real: Live, real_dist: Path) -> None:
    plan = _plan(real_dist)
    path = f"/cds-services/{plan['id']}"
    resp = real.post(path, synthetic.hook_request(prefetch=synthetic.real_build_prefetch("r1")), token=None)
    assert resp.status_code == 200, resp.text
    (card,) = resp.json()["cards"]
    assert card["summary"] == plan["action"][0]["title"][:139] or card["summary"].endswith("…")
    evidence = [load_file(p) for p in (real_dist / "resources").glob("Evidence-*.json")]
    cited = {d["resource"].partition("|")[0] for d in plan["action"][0]["documentation"]}
    for ev in evidence:
        if ev["url"] in cited and ev.get("title"):
            assert ev["title"] in card["detail"]
    assert "Certainty of evidence: **" in card["detail"]
    sr = card["suggestions"][0]["actions"][0]["resource"]
    get_fhir_model_class("ServiceRequest").model_validate(sr)
    assert sr["instantiatesCanonical"] == [plan["action"][0]["definitionCanonical"]]


def test_real_recommendation_does_not_apply_or_lacks_data(real: Live, real_dist: Path) -> None:
    path = f"/cds-services/{_plan(real_dist)['id']}"
    not_severe = real.post(
        path, synthetic.hook_request(prefetch=synthetic.real_build_prefetch("r2", severe=False)), token=None
    )
    assert not_severe.status_code == 200 and not_severe.json() == {"cards": []}
    pre = synthetic.real_build_prefetch("r3")
    del pre["medicationRequest"]
    assert real.post(path, synthetic.hook_request(prefetch=pre), token=None).status_code == 412


def test_patient_who_only_started_standard_therapy_gets_no_card(real: Live, real_dist: Path) -> None:
    """Finding 2: a running (active) order is not a failed standard course."""
    path = f"/cds-services/{_plan(real_dist)['id']}"
    started = synthetic.real_build_prefetch("r4", course_status="active")
    resp = real.post(path, synthetic.hook_request(prefetch=started), token=None)
    assert resp.status_code == 200 and resp.json() == {"cards": []}
    for finished in ("completed", "stopped"):
        pre = synthetic.real_build_prefetch("r5", course_status=finished)
        assert len(real.post(path, synthetic.hook_request(prefetch=pre), token=None).json()["cards"]) == 1


def test_a_medication_coded_in_a_system_the_rule_does_not_publish_is_not_recognised(
    real: Live, real_dist: Path
) -> None:
    """No checkable code for mycophenolate mofetil exists in the build's terminology sources, so the
    rule publishes none: a finished MMF course coded in RxNorm does not make the patient eligible
    (the rule errs toward silence rather than firing on a code nobody checked)."""
    path = f"/cds-services/{_plan(real_dist)['id']}"
    pre = synthetic.real_build_prefetch("r7", medication=synthetic.MMF_RXNORM)
    assert real.post(path, synthetic.hook_request(prefetch=pre), token=None).json() == {"cards": []}


def test_real_card_says_experimental_low_certainty_and_where_from(real: Live, real_dist: Path) -> None:
    plan = _plan(real_dist)
    assert plan["experimental"] is True
    resp = real.post(
        f"/cds-services/{plan['id']}",
        synthetic.hook_request(prefetch=synthetic.real_build_prefetch("r6")),
        token=None,
    )
    detail = resp.json()["cards"][0]["detail"]
    assert "**Experimental rule.**" in detail
    assert "cites no identifiable guideline" in detail
    assert "**Source of the advice:** Web page: Overview of Stem Cell Therapy for Lupus" in detail
    assert "**Certainty of the evidence:** very low for all 9 cited results" in detail


def test_experimental_rules_are_skipped_unless_configured(
    real_dist: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from evidence_publisher.cds.errors import UnknownServiceError
    from evidence_publisher.cds.service import CdsService

    plan = _plan(real_dist)
    with caplog.at_level("WARNING", logger="evidence_publisher.cds"):
        svc = CdsService.from_config(CdsConfig(source=str(real_dist), auth=False))
    assert svc.discovery() == {"services": []}
    assert svc.skipped_experimental == (f"{plan['url']}|{plan['version']}",)
    assert any("skipped 1 experimental recommendation rule" in r.getMessage() for r in caplog.records)
    with pytest.raises(UnknownServiceError) as exc:
        svc.find_plan(plan["url"])
    assert any("experimental rules were skipped" in d for d in exc.value.details)
    served = CdsService.from_config(CdsConfig(source=str(real_dist), auth=False, serve_experimental=True))
    assert {s["id"] for s in served.discovery()["services"]} >= {plan["id"]}


def test_cli_apply_needs_allow_experimental(
    real_dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evidence_publisher.errors import ExitCode
    from evidence_publisher.jsonio import dumps

    plan = _plan(real_dist)
    pre = synthetic.real_build_prefetch("r7")
    entries = [pre["patient"]] + [
        e["resource"] for k in ("condition", "medicationRequest") for e in pre[k]["entry"]
    ]
    patient = tmp_path / "patient.json"
    patient.write_text(
        dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]})
    )
    args = ["apply", "--plan", plan["url"], "--patient", str(patient), "--dist", str(real_dist)]
    assert main(args) != ExitCode.OK
    assert "experimental" in capsys.readouterr().err
    assert main([*args, "--allow-experimental"]) == ExitCode.OK
    assert "recommendation applies" in capsys.readouterr().err


def test_serve_banner_names_skipped_experimental_rules(
    real_dist: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evidence_publisher.cds import server

    monkeypatch.setattr(server, "run", lambda prepared: prepared.close())
    assert main(["serve", str(real_dist), "--no-auth", "--port", "0", "--log-level", "error"]) == 0
    err = capsys.readouterr().err
    assert "Skipped 1 experimental recommendation rule(s)" in err
    assert _plan(real_dist)["url"] in err
    argv = [
        "serve",
        str(real_dist),
        "--no-auth",
        "--port",
        "0",
        "--serve-experimental",
        "--log-level",
        "error",
    ]
    assert main(argv) == 0
    assert "Skipped" not in capsys.readouterr().err


def test_serve_experimental_must_be_a_boolean() -> None:
    from evidence_publisher.cds.config import config_from_mapping
    from evidence_publisher.cds.errors import CdsConfigError

    assert CdsConfig().serve_experimental is False
    with pytest.raises(CdsConfigError, match="serve_experimental must be true or false"):
        config_from_mapping({"serve_experimental": "yes", "auth": False}).validate()
