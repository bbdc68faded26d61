"""Fixtures for the publish tests: a HAPI stand-in on pytest-httpserver and synthetic corpora."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from .hapi_standin import HapiStandIn

BASE = "https://evidence.example.org/fhir"


@pytest.fixture
def threaded_httpserver() -> Iterator[HTTPServer]:
    """A threaded server, so a client retry is served while a slow response is still sleeping."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def hapi(threaded_httpserver: HTTPServer) -> HapiStandIn:
    standin = HapiStandIn("/fhir")
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(standin.handle)
    standin.url = threaded_httpserver.url_for("/fhir")  # type: ignore[attr-defined]
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
        grp = keyed("Group", f"pop-{g}", type="person", membership="definitional",
                    characteristic=[{"code": {"text": "adults"}, "valueBoolean": True,
                                     "exclude": False}])
        var = canonical("EvidenceVariable", f"outcome-{g}", version, name=f"Outcome{g}",
                        characteristic=[{"definitionReference": {"reference": f"Group/pop-{g}"}}])
        ev = canonical("Evidence", f"ev-{g}", version,
                       variableDefinition=[{"variableRole": "outcome",
                                            "observed": {"reference": f"EvidenceVariable/outcome-{g}"}}],
                       statistic=[{"quantity": {"value": Decimal("0.050")}}])
        aa = keyed("ArtifactAssessment", f"certainty-{g}", date="2024-01-01",
                   artifactReference={"reference": f"Evidence/ev-{g}"})
        cit = canonical("Citation", f"cit-{g}", version, title=f"Trial {g}")
        out += [grp, var, ev, aa, cit]
    out.append(canonical("PlanDefinition", "rec", version, type={"text": "eca-rule"},
                         relatedArtifact=[{"type": "citation",
                                           "resource": f"{BASE}/Citation/cit-0|{version}"}]))
    return out
