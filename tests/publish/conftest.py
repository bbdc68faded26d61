"""Fixtures for the publish tests: a HAPI stand-in on pytest-httpserver and synthetic corpora."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from .hapi_standin import HapiStandIn

BASE = "https://evidence.example.org/fhir"


@pytest.fixture(scope="session")
def _threaded_server() -> Iterator[HTTPServer]:
    # Threaded, so a client retry is served while a slow response is still sleeping. One server
    # per session: stopping a werkzeug server waits for its poll interval.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    if server.is_running():
        server.stop()


@pytest.fixture
def threaded_httpserver(_threaded_server: HTTPServer) -> Iterator[HTTPServer]:
    _threaded_server.clear()
    yield _threaded_server
    _threaded_server.clear()


@pytest.fixture
def hapi(threaded_httpserver: HTTPServer) -> HapiStandIn:
    standin = HapiStandIn("/fhir")
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(standin.handle)
    standin.url = threaded_httpserver.url_for("/fhir")
    return standin


def canonical(rtype: str, slug: str, version: str = "1.0.0", **fields) -> dict:
    return {
        "resourceType": rtype,
        "id": slug,
        "url": f"{BASE}/{rtype}/{slug}",
        "version": version,
        "status": "active",
        "identifier": [{"system": f"{BASE}/identifier", "value": f"{rtype}/{slug}"}],
        **fields,
    }


def keyed(rtype: str, slug: str, **fields) -> dict:
    return {
        "resourceType": rtype,
        "id": slug,
        "identifier": [{"system": f"{BASE}/identifier", "value": f"{rtype}/{slug}"}],
        **fields,
    }


def synthetic_corpus(n_groups: int = 3, version: str = "1.0.0") -> list[dict]:
    """Several independent evidence packages: Group <- EvidenceVariable <- Evidence <-
    ArtifactAssessment, plus a Citation and a PlanDefinition linking by canonical only."""
    from decimal import Decimal

    out: list[dict] = []
    for g in range(n_groups):
        grp = keyed(
            "Group",
            f"pop-{g}",
            type="person",
            membership="definitional",
            characteristic=[{"code": {"text": "adults"}, "valueBoolean": True, "exclude": False}],
        )
        var = canonical(
            "EvidenceVariable",
            f"outcome-{g}",
            version,
            name=f"Outcome{g}",
            characteristic=[{"definitionReference": {"reference": f"Group/pop-{g}"}}],
        )
        ev = canonical(
            "Evidence",
            f"ev-{g}",
            version,
            variableDefinition=[
                {
                    "variableRole": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/variable-role",
                                "code": "measuredVariable",
                            }
                        ]
                    },
                    "observed": {"reference": f"EvidenceVariable/outcome-{g}"},
                }
            ],
            statistic=[{"quantity": {"value": Decimal("0.050")}}],
        )
        aa = keyed(
            "ArtifactAssessment",
            f"certainty-{g}",
            date="2024-01-01",
            artifactReference={"reference": f"Evidence/ev-{g}"},
        )
        cit = canonical("Citation", f"cit-{g}", version, title=f"Trial {g}")
        out += [grp, var, ev, aa, cit]
    out.append(
        canonical(
            "PlanDefinition",
            "rec",
            version,
            type={"text": "eca-rule"},
            relatedArtifact=[{"type": "citation", "resource": f"{BASE}/Citation/cit-0|{version}"}],
        )
    )
    return out


@pytest.fixture(scope="session")
def seed_resources(tmp_path_factory) -> list[dict]:
    """The seed corpus (mappings/lupus-msc) built by the project's own pipeline."""
    from evidence_publisher.pipeline import build

    root = Path(__file__).resolve().parents[2]
    out = tmp_path_factory.mktemp("seed") / "dist"
    result = build([root / "mappings" / "lupus-msc"], out_dir=out, validate=False)
    return list(result.resources)


@pytest.fixture(scope="session")
def seed_dist(tmp_path_factory, seed_resources) -> Path:
    from evidence_publisher.jsonio import dumps

    out = tmp_path_factory.mktemp("dist") / "dist"
    (out / "resources").mkdir(parents=True)
    for res in seed_resources:
        (out / "resources" / f"{res['resourceType']}-{res['id']}.json").write_text(dumps(res))
    return out


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def make_client(threaded_httpserver):
    """FhirClient factory on the stand-in; sleeps are recorded, not slept."""
    from evidence_publisher.publish import FhirClient, HttpOptions

    clients = []

    def factory(url: str | None = None, *, sleep=None, auth=None, **options):
        opts = {"connect_timeout": 2.0, "read_timeout": 5.0, **options}
        client = FhirClient(
            url or threaded_httpserver.url_for("/fhir"),
            options=HttpOptions(**opts),
            auth=auth,
            sleep=sleep or SleepRecorder(),
            rng=lambda: 0.5,
        )
        clients.append(client)
        return client

    yield factory
    for c in clients:
        c.close()
