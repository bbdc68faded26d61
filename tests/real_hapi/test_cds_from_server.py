"""``serve --fhir-server``: the CDS service loads the knowledge from a real HAPI and answers the
same discovery and the same cards as from the build directory."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds import synthetic
from cds.conftest import serve
from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig
from evidence_publisher.cds.recommendation import compile_all
from evidence_publisher.cds.service import CdsService, load_knowledge
from evidence_publisher.publish import publish

from . import hapi
from .conftest import namespaced, write_dist


def _counter() -> Iterator[str]:
    return (f"00000000-0000-4000-8000-{n:012d}" for n in itertools.count(1))


@contextlib.contextmanager
def _client(config: CdsConfig) -> Iterator[httpx.Client]:
    """The service as ``evidence-publisher serve --no-auth`` runs it (uvicorn, real HTTP), with
    card and request ids from a counter so that two services can be compared."""
    uuids = _counter()
    service = CdsService(config, compile_all(load_knowledge(config)), new_uuid=lambda: next(uuids))
    with serve(lambda base: create_app(config, service=service)) as st:
        with httpx.Client(base_url=st.base, timeout=30) as http:
            yield http


@pytest.fixture(scope="module")
def published(seed_build: list[dict], hapi_url: str, tmp_path_factory) -> tuple[list[dict], Path]:
    from evidence_publisher.publish import FhirClient

    corpus = namespaced(seed_build)
    with FhirClient(hapi_url) as client:
        result = publish(corpus, client)
    assert result.error is None, result.error
    return corpus, write_dist(corpus, tmp_path_factory.mktemp("cds") / "dist")


def _requests() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("severe SLE after cyclophosphamide", synthetic.real_build_prefetch("r1")),
        ("not severe", synthetic.real_build_prefetch("r2", severe=False)),
    ]


def test_serve_from_hapi_answers_the_same_cards_as_from_dist(published, hapi_url):
    corpus, dist = published
    plan = next(r for r in corpus if r["resourceType"] == "PlanDefinition")
    (stored,) = hapi.matches(hapi_url, "PlanDefinition", url=plan["url"], version=plan["version"])
    from_dist = CdsConfig(source=str(dist), auth=False)
    from_hapi = CdsConfig(source=None, fhir_server=hapi_url, auth=False)
    with _client(from_dist) as local, _client(from_hapi) as remote:
        local_services = {s["id"]: s for s in local.get("/cds-services").json()["services"]}
        remote_services = {s["id"]: s for s in remote.get("/cds-services").json()["services"]}
        # one service per hook of the plan; from the server they carry the server's id (the
        # server also holds other tests' copies of the corpus)
        assert plan["id"] in local_services and len(local_services) >= 1
        answered = 0
        for sid, local_svc in sorted(local_services.items()):
            remote_sid = stored["id"] + sid.removeprefix(plan["id"])
            assert {**remote_services[remote_sid], "id": sid} == local_svc
            for label, prefetch in _requests():
                body = synthetic.hook_request(local_svc["hook"], prefetch=prefetch)
                a = local.post(f"/cds-services/{sid}", json=body)
                b = remote.post(f"/cds-services/{remote_sid}", json=body)
                assert a.status_code == b.status_code == 200, (sid, label, a.text, b.text)
                assert b.json() == a.json(), (sid, label)
                answered += len(a.json()["cards"])
        assert answered == len(local_services)  # each service answers the first patient only
