"""The R4 form of the seed recommendation (``convert r4``) on a real R4 engine: HAPI FHIR 8.8.0 R4
JPA with the clinical-reasoning module 4.2.0 (``tests/hapi-server/serve PORT --fhir-version R4``).

The R4 PlanDefinition/ActivityDefinition and the example patients' data (converted to R4) are
loaded as transactions; ``PlanDefinition/$apply`` runs for the eligible and the ineligible patient
and is compared with our own ``$apply`` on the R5 build: same decision, same proposed request. The
same for HAPI's PlanDefinition-backed CDS Hooks service against our ``serve``: discovery and cards.
The ways the two engines differ are asserted exactly, as documented in
docs/cds-hooks.md ("R4 engines"), so that a change on either side shows here.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from evidence_publisher import jsonio
from evidence_publisher.cds.config import CdsConfig
from evidence_publisher.cds.service import CdsService
from evidence_publisher.convert.r4 import R4Result, to_r4, transaction

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "examples" / "patients"
PLAN = "rec-stem-cell-refractory-lupus-plan"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
TIMEOUT = (5, 300)


@pytest.fixture(scope="module")
def r5_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from evidence_publisher.pipeline import build

    out = tmp_path_factory.mktemp("r4-apply") / "dist"
    build([ROOT / "mappings" / "lupus-msc"], out_dir=out, validate=False)
    return out


@pytest.fixture(scope="module")
def r4(r5_dist: Path) -> R4Result:
    from evidence_publisher.convert.r4 import read_build

    return to_r4(read_build(r5_dist))


def patient_data_r4(name: str) -> list[dict[str, Any]]:
    """The example patient's R5 Bundle as R4 resources. Only MedicationRequest differs here: R5's
    CodeableReference ``medication.concept`` is R4's ``medicationCodeableConcept``."""
    out = []
    for entry in jsonio.load_file(PATIENTS / f"{name}.json")["entry"]:
        res = copy.deepcopy(entry["resource"])
        assert res["resourceType"] in {"Patient", "Condition", "MedicationRequest"}, res["resourceType"]
        if res["resourceType"] == "MedicationRequest":
            medication = res.pop("medication")
            assert set(medication) == {"concept"}, medication
            res["medicationCodeableConcept"] = medication["concept"]
        out.append(res)
    return out


def post_transaction(base: str, resources: list[dict[str, Any]]) -> None:
    resp = requests.post(base, data=jsonio.dumps(transaction(resources)), headers=FHIR_JSON, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text[:2000]


@pytest.fixture(scope="module")
def loaded(hapi_r4_url: str, r4: R4Result) -> str:
    post_transaction(hapi_r4_url, r4.resources)
    for name in ("eligible", "ineligible"):
        post_transaction(hapi_r4_url, patient_data_r4(name))
    return hapi_r4_url


def hapi_apply(
    base: str, patient_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """HAPI's $apply: (RequestGroup, proposed requests, OperationOutcomes), all contained in the CarePlan."""
    resp = requests.get(
        f"{base}/PlanDefinition/{PLAN}/$apply",
        params={"subject": f"Patient/{patient_id}"},
        headers=FHIR_JSON,
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text[:2000]
    care_plan = resp.json()
    assert care_plan["resourceType"] == "CarePlan"
    contained = care_plan.get("contained", [])
    groups = [c for c in contained if c["resourceType"] == "RequestGroup"]
    outcomes = [c for c in contained if c["resourceType"] == "OperationOutcome"]
    requests_ = [c for c in contained if c["resourceType"] not in {"RequestGroup", "OperationOutcome"}]
    assert len(groups) == 1, contained
    return groups[0], requests_, outcomes


def our_apply(dist: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    service = CdsService.from_config(
        CdsConfig(source=str(dist), auth=False, serve_experimental=True).validate()
    )
    bundle = service.apply(PLAN, jsonio.load_file(PATIENTS / f"{name}.json"), None, origin=name)
    orchestration = bundle["entry"][0]["resource"]
    assert orchestration["resourceType"] == "RequestOrchestration"
    return orchestration, orchestration.get("contained", [])


@pytest.mark.parametrize(("name", "applies"), [("eligible", True), ("ineligible", False)])
def test_hapi_cr_apply_decides_and_proposes_as_we_do(
    loaded: str, r5_dist: Path, name: str, applies: bool
) -> None:
    patient_id = f"example-{name}"
    ours, our_requests = our_apply(r5_dist, name)
    group, hapi_requests, outcomes = hapi_apply(loaded, patient_id)

    # A condition that fails to evaluate counts as "not met" in CR and is reported only here:
    # the decision must not come from an error.
    assert outcomes == [], outcomes
    assert bool(ours.get("action")) is applies
    assert bool(group.get("action")) is applies
    assert len(our_requests) == len(hapi_requests) == (1 if applies else 0)
    if not applies:
        return

    (mine,) = our_requests
    (theirs,) = hapi_requests
    assert mine["resourceType"] == theirs["resourceType"] == "ServiceRequest"
    assert theirs["code"] == mine["code"]["concept"]  # R5 CodeableReference vs R4 CodeableConcept
    assert theirs["subject"] == mine["subject"] == {"reference": f"Patient/{patient_id}"}
    assert theirs["instantiatesCanonical"] == mine["instantiatesCanonical"]
    assert group["action"][0]["title"] == ours["action"][0]["title"]
    assert group["action"][0]["resource"]["reference"] == f"#{theirs['id']}"
    # The documented differences (docs/cds-hooks.md, "R4 engines"):
    assert (mine["status"], theirs["status"]) == ("draft", "active")
    assert (mine["intent"], theirs["intent"]) == ("option", "proposal")
    assert (mine.get("priority"), theirs.get("priority")) == ("routine", None)


def test_hapi_r4_validator_on_the_converted_resources(loaded: str, r4: R4Result) -> None:
    """HAPI's R4 validator (hl7.fhir.r4.core 4.0.1 definitions) on the R4 resources: no error but
    the R5 cross-version extension URLs, which HAPI 8.8.0's R4 validator does not accept
    ("invalid Version '5.0'"); see docs/cds-hooks.md."""
    for res in r4.resources:
        resp = requests.post(
            f"{loaded}/{res['resourceType']}/$validate",
            data=jsonio.dumps(res),
            headers=FHIR_JSON,
            timeout=TIMEOUT,
        )
        issues = resp.json().get("issue", [])
        errors = [i for i in issues if i["severity"] in {"error", "fatal"}]
        other = [i for i in errors if "invalid Version '5.0'" not in i.get("diagnostics", "")]
        assert other == [], (res["resourceType"], other)
        if res["resourceType"] == "PlanDefinition":
            assert errors, "HAPI now accepts the cross-version extensions: update docs/cds-hooks.md"


# --- CDS Hooks: HAPI's PlanDefinition-backed services (clinical reasoning) vs our `serve` ---


def hapi_cds_base(fhir_base: str) -> str:
    return fhir_base.removesuffix("/fhir") + "/cds-services"


def hapi_discovery(base: str, service_id: str) -> dict[str, Any]:
    """HAPI registers a PlanDefinition as a service when its change listener sees it (polled)."""
    deadline = time.monotonic() + 120
    while True:
        resp = requests.get(hapi_cds_base(base), timeout=TIMEOUT)
        assert resp.status_code == 200, resp.text[:2000]
        found = [s for s in resp.json()["services"] if s["id"] == service_id]
        if found or time.monotonic() > deadline:
            assert found, resp.json()
            return found[0]
        time.sleep(1.0)


def our_service(dist: Path, experimental: bool = True) -> CdsService:
    return CdsService.from_config(
        CdsConfig(source=str(dist), auth=False, serve_experimental=experimental).validate()
    )


def hook_body(name: str, prefetch: dict[str, Any], fhir_server: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": f"example-{name}"},
        "prefetch": prefetch,
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    return body


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def test_hapi_cds_discovery_lists_the_plan_as_a_patient_view_service(loaded: str, r5_dist: Path) -> None:
    theirs = hapi_discovery(loaded, PLAN)
    ours = {s["id"]: s for s in our_service(r5_dist).discovery()["services"]}
    assert (theirs["hook"], theirs["title"], theirs["description"]) == (
        ours[PLAN]["hook"],
        ours[PLAN]["title"],
        ours[PLAN]["description"],
    )
    # Documented differences: HAPI makes one service of the first trigger only (we serve
    # order-select too) and prefetches only the Patient (we prefetch what the conditions read).
    assert f"{PLAN}-order-select" in ours
    assert theirs["prefetch"] == {"item1": "Patient?_id={{context.patientId}}"}
    assert set(ours[PLAN]["prefetch"]) == {"patient", "condition", "medicationRequest"}
    # HAPI serves the experimental PlanDefinition; `serve` skips it unless told to serve it.
    assert PLAN not in {s["id"] for s in our_service(r5_dist, experimental=False).discovery()["services"]}


@pytest.mark.parametrize(("name", "applies"), [("eligible", True), ("ineligible", False)])
def test_hapi_cds_cards_match_ours(loaded: str, r5_dist: Path, name: str, applies: bool) -> None:
    hapi_discovery(loaded, PLAN)
    r5_data = [e["resource"] for e in jsonio.load_file(PATIENTS / f"{name}.json")["entry"]]
    patient = [r for r in r5_data if r["resourceType"] == "Patient"]
    our_prefetch = {
        "patient": patient[0],
        "condition": searchset([r for r in r5_data if r["resourceType"] == "Condition"]),
        "medicationRequest": searchset([r for r in r5_data if r["resourceType"] == "MedicationRequest"]),
    }
    ours = our_service(r5_dist).call(PLAN, hook_body(name, our_prefetch))["cards"]
    resp = requests.post(
        f"{hapi_cds_base(loaded)}/{PLAN}",
        data=jsonio.dumps(hook_body(name, {"item1": searchset(patient)}, loaded)),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text[:2000]
    theirs = resp.json()["cards"]
    assert len(ours) == len(theirs) == (1 if applies else 0)
    if not applies:
        return
    (mine,), (card,) = ours, theirs
    assert (card["summary"], card["indicator"]) == (mine["summary"], mine["indicator"])
    action = jsonio.load_file(r5_dist / "resources" / f"PlanDefinition-{PLAN}.json")["action"][0]
    # Documented differences: HAPI's detail is the action's description alone (ours adds the
    # caution, the source, the certainty and the key results after it); its source is the first
    # documentation entry (ours: the Citation of the document that states the advice); it
    # proposes no suggestion and no links (ours: the ServiceRequest to create, and the evidence).
    assert card["detail"] == action["description"]
    assert mine["detail"].startswith(action["description"] + "\n\n")
    assert card["source"] == {"label": action["documentation"][0]["display"]}
    assert mine["source"]["url"].endswith("/Citation/summary-stem-cell-lupus")
    assert "suggestions" not in card and card.get("links") == []
    assert len(mine["suggestions"]) == 1 and mine["links"]
