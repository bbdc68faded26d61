"""Call a local `evidence-publisher serve` the way an EHR would, for a trial with authentication on.

    .venv/bin/evidence-publisher serve dist --config examples/cds.yaml      # in one terminal
    .venv/bin/python examples/cds_request.py examples/patients/eligible.json  # in another

It reads the service's URL and the trusted issuer from the config file, signs a short-lived JWT
with the EXAMPLE key in examples/keys/ (public, for trials only), asks the service which hooks it
offers, sends a patient-view request whose prefetch comes from the patient file, and prints the
cards. Exit status: 0 when the service answered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import jwt
import requests
import yaml

HERE = Path(__file__).resolve().parent
KEY_ID = "example-ehr-key-1"  # the kid of examples/keys/example-ehr-jwks.json


def token(issuer: str, audience: str, key_pem: bytes) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key_pem, algorithm="ES384", headers={"kid": KEY_ID, "typ": "JWT"})


def prefetch_for(templates: dict[str, str], resources: list[dict]) -> dict[str, dict]:
    """Answer each prefetch template from the patient file: the Patient, or a searchset of a type."""
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    answers = {}
    for key, template in templates.items():
        rtype = template.split("?", 1)[0].split("/", 1)[0]
        if rtype == "Patient":
            answers[key] = patient
        else:
            matches = [r for r in resources if r["resourceType"] == rtype]
            answers[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matches),
                "entry": [{"resource": r} for r in matches],
            }
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patient", type=Path, help="a Patient or a Bundle of the patient's data")
    parser.add_argument("--config", type=Path, default=HERE / "cds.yaml", help="the serve config file")
    parser.add_argument("--key", type=Path, default=HERE / "keys" / "EXAMPLE-ehr-private-key.pem")
    args = parser.parse_args()

    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    base, issuer = config["public_base_url"].rstrip("/"), config["issuers"][0]["iss"]
    key_pem = args.key.read_bytes()
    doc = json.loads(args.patient.read_text(encoding="utf-8"))
    resources = [e["resource"] for e in doc.get("entry", [])] if doc["resourceType"] == "Bundle" else [doc]
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")

    def call(method: str, path: str, body: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token(issuer, base + path, key_pem)}"}
        return requests.request(method, base + path, json=body, headers=headers, timeout=(5, 30))

    try:
        discovery = call("GET", "/cds-services")
        discovery.raise_for_status()
        service = next(s for s in discovery.json()["services"] if s["hook"] == "patient-view")
        request = {
            "hookInstance": str(uuid.uuid4()),
            "hook": "patient-view",
            "context": {"userId": "Practitioner/example", "patientId": patient_id},
            "prefetch": prefetch_for(service.get("prefetch", {}), resources),
        }
        answer = call("POST", f"/cds-services/{service['id']}", request)
    except (requests.RequestException, StopIteration, ValueError) as exc:
        print(f"error: the service did not answer as expected: {exc}", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"error: HTTP {answer.status_code}: {answer.text[:500]}", file=sys.stderr)
        return 1
    cards = answer.json()["cards"]
    print(f"{service['id']} ({service['hook']}) for Patient/{patient_id}: {len(cards)} card(s)")
    for card in cards:
        print(f"  [{card['indicator']}] {card['summary']} (source: {card['source']['label']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
