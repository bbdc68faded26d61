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
        return create_app(CdsConfig(source=str(real_dist), auth=False))

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
