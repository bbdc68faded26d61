"""Shared helpers for the network robustness tests: FHIR servers that misbehave on purpose.

Imported by the test modules (not a conftest, so the robustness folder stays free of shared
fixture files); ``publish.hapi_standin`` is the HAPI stand-in the publish tests use.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evidence_publisher import limits
from evidence_publisher.cli import main
from evidence_publisher.jsonio import dumps
from publish.conftest import synthetic_corpus
from publish.hapi_standin import HapiStandIn

__all__ = [
    "_fresh_limits",
    "fhir_server",
    "other_server",
    "seed_dist",
    "serve_fhir",
    "small_dist",
]  # fixtures

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"
TRACEBACK = "Traceback (most recent call last)"


def is_transaction(request: Request) -> bool:
    if request.method != "POST" or request.path.rstrip("/") != "/fhir":
        return False
    try:
        return json.loads(request.get_data()).get("type") == "transaction"
    except ValueError:
        return False


class Misbehaving:
    """The HAPI stand-in, except where ``override(request)`` returns a response of its own."""

    def __init__(self, override: Callable[[Request], Response | None] | None = None, **standin) -> None:
        self.hapi = HapiStandIn(**standin)
        self.override = override
        self.seen: list[tuple[str, str]] = []

    def handle(self, request: Request) -> Response:
        self.seen.append((request.method, request.full_path.rstrip("?")))
        if self.override is not None:
            resp = self.override(request)
            if resp is not None:
                return resp
        return self.hapi.handle(request)


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def other_server() -> Iterator[HTTPServer]:
    """A second origin: redirect targets; it must never receive anything."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def serve_fhir(fhir_server: HTTPServer) -> Iterator[Callable[..., tuple[Misbehaving, str]]]:
    def start(override: Callable[[Request], Response | None] | None = None, **standin):
        server = Misbehaving(override, **standin)
        fhir_server.clear()
        fhir_server.expect_request(re.compile(".*")).respond_with_handler(server.handle)
        return server, fhir_server.url_for("/fhir")

    yield start
    fhir_server.clear()


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


@pytest.fixture(scope="module")
def small_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 synthetic resources in the build layout (dist/resources/*.json)."""
    out = tmp_path_factory.mktemp("small") / "dist"
    (out / "resources").mkdir(parents=True)
    for res in synthetic_corpus(3):
        (out / "resources" / f"{res['resourceType']}-{res['id']}.json").write_text(dumps(res))
    return out


@pytest.fixture(scope="module")
def seed_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real corpus (mappings/lupus-msc) built without official validation."""
    from evidence_publisher.pipeline import build

    out = tmp_path_factory.mktemp("seed") / "dist"
    build([ROOT / "mappings" / "lupus-msc"], out_dir=out, validate=False)
    return out


def run_cli(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *argv: str):
    """Run the CLI in-process at DEBUG log level; returns (exit code, stdout, stderr + log)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        code = main(list(argv))
    out = capsys.readouterr()
    # the test servers' own request logs (werkzeug) are not the tool's output
    ours = [caplog.handler.format(r) for r in caplog.records if not r.name.startswith("werkzeug")]
    return code, out.out, out.err + "\n" + "\n".join(ours)


def fhir_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str | bytes) else dumps(body, indent=None)
    return Response(text, status=status, headers=headers or {}, content_type=FHIR_JSON)
