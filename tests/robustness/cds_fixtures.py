"""The CDS service over real HTTP for the robustness tests, and what its answers must never hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from cds import synthetic
from cds.conftest import serve
from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig

__all__ = ["cds", "cds_dist"]  # fixtures; import helpers by name

SVC = "/cds-services/rec-msc-ln"
ORDER_SVC = "/cds-services/rec-msc-ln-order-select"
# Text that would betray internals: Python exception names and messages, tracebacks, and the
# published FHIRPath conditions of the synthetic build.
INTERNAL = (
    "Traceback",
    "Error(",
    "TypeError",
    "KeyError",
    "AttributeError",
    "ValueError",
    "RecursionError",
    "NoneType",
    "object has no attribute",
    "not subscriptable",
    "expected string or bytes-like",
    "ofType(",
    "entry.resource",
    "InequalityExpression",
    ".py",
)


@pytest.fixture(scope="module")
def cds_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.write_dist(tmp_path_factory.mktemp("cds-dist"))


@pytest.fixture(scope="module")
def cds(cds_dist: Path) -> Iterator[httpx.Client]:
    """The service without auth (auth is tested elsewhere), small body limit, http fhirServer
    allowed for the local test servers."""

    def factory(_base: str) -> Starlette:
        return create_app(
            CdsConfig(
                source=str(cds_dist),
                auth=False,
                allow_http_fhir_server=True,
                http_timeout_seconds=5.0,
                max_body_bytes=200_000,
            )
        )

    with serve(factory) as st, httpx.Client(base_url=st.base, timeout=30.0) as client:
        yield client


def assert_outcome(resp: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    """A refusal: the status, an OperationOutcome body, and nothing internal in it."""
    wanted = (status,) if isinstance(status, int) else status
    assert resp.status_code in wanted, resp.text[:500]
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error" and isinstance(issue["diagnostics"], str) and issue["diagnostics"]
    assert_nothing_internal(resp.text)
    return body


def assert_nothing_internal(text: str) -> None:
    leaked = [s for s in INTERNAL if s in text]
    assert not leaked, f"internal text {leaked} in {text[:500]}"


def diagnostics(answer: httpx.Response | dict[str, Any]) -> str:
    body = answer if isinstance(answer, dict) else answer.json()
    return body["issue"][0]["diagnostics"]


def post_raw(client: httpx.Client, path: str, content: bytes | str, ctype: str | None = "application/json"):
    headers = {"Content-Type": ctype} if ctype is not None else {}
    return client.post(path, content=content, headers=headers)
