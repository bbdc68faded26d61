"""One real HAPI FHIR R5 JPA server per test session, for the tests marked ``real_hapi``.

The server (``tests/hapi-server/``) is built with Maven and started only when a test that needs
it is collected; it is stopped at the end of the session, also after a failure or Ctrl-C (it runs
in its own process group). ``FHIR_BASE_URL`` names an already running server instead (any FHIR
R5 server, e.g. a HAPI started by hand with ``tests/hapi-server/serve 8080``); the tests write
only resources under their own fresh canonical namespace there.

On a machine without Java or Maven, or when Maven Central cannot be reached and ~/.m2 lacks
the jars, these tests are skipped and the session ends with one loud line saying why. A build
that fails for any other reason, or a server that does not start, is an error.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.xdist_support import add_summary_line

from evidence_publisher import jsonio
from evidence_publisher.publish import FhirClient, HttpOptions

from . import server as hapi_server

ROOT = Path(__file__).resolve().parents[2]
SEED_BASE = "https://evidence-publisher.example.org/fhir"
SKIP_REASON = "real HAPI server unavailable"
_state: dict[str, Any] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"hapi_url", "hapi_r4_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_hapi)


@pytest.fixture(scope="session")
def hapi_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("FHIR_BASE_URL")
    if given:
        _state["info"] = f"real HAPI suite ran against FHIR_BASE_URL={given}"
        yield given.rstrip("/")
        return
    logs = tmp_path_factory.mktemp("hapi")
    try:
        build_seconds = hapi_server.build(logs)
    except hapi_server.ServerUnavailable as exc:
        _state["skipped"] = str(exc)
        pytest.skip(f"{SKIP_REASON}: {exc}")
    except hapi_server.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        running = hapi_server.start(logs)
    except hapi_server.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield running.base_url
    finally:
        rss = running.rss_kib()
        running.stop()
        memory = f", JVM RSS at the end {rss / 1024:.0f} MiB" if rss else ""
        _state["info"] = (
            f"real HAPI server: build (or up-to-date check) {build_seconds:.0f} s, "
            f"start {running.start_seconds:.0f} s{memory}"
        )


@pytest.fixture(scope="session")
def hapi_r4_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test server in R4 mode with HAPI's clinical-reasoning module (``serve PORT --fhir-version
    R4``), or ``FHIR_R4_BASE_URL``: a running R4 server with PlanDefinition/$apply."""
    given = os.environ.get("FHIR_R4_BASE_URL")
    if given:
        yield given.rstrip("/")
        return
    logs = tmp_path_factory.mktemp("hapi-r4")
    try:
        hapi_server.build(logs)
    except hapi_server.ServerUnavailable as exc:
        _state["skipped"] = str(exc)
        pytest.skip(f"{SKIP_REASON}: {exc}")
    except hapi_server.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        running = hapi_server.start(logs, fhir_version="R4")
    except hapi_server.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield running.base_url
    finally:
        running.stop()
        _state["info_r4"] = f"real HAPI R4 server (clinical reasoning): start {running.start_seconds:.0f} s"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Report every skip for want of the server at one location, so that ``-ra`` shows it once."""
    report = yield
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and SKIP_REASON in str(longrepr[2]):
        report.longrepr = (str(Path(__file__)), 1, longrepr[2])
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The end-of-run lines (printed by the controller under xdist, see tests/xdist_support.py)."""
    if "skipped" in _state:
        add_summary_line(session.config, f"REAL HAPI TESTS SKIPPED: {_state['skipped']}", loud=True)
    else:
        for key in ("info", "info_r4"):
            if key in _state:
                add_summary_line(session.config, _state[key])


@pytest.fixture
def client(hapi_url: str) -> Iterator[FhirClient]:
    with FhirClient(hapi_url, options=HttpOptions(connect_timeout=5, read_timeout=300)) as c:
        yield c


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The seed corpus (mappings/lupus-msc) as the project's build writes it."""
    from evidence_publisher.pipeline import build

    out = tmp_path_factory.mktemp("seed") / "dist"
    return list(build([ROOT / "mappings" / "lupus-msc"], out_dir=out, validate=False).resources)


def namespaced(resources: list[dict], tag: str | None = None) -> list[dict]:
    """A copy of the seed corpus under its own canonical base, so that tests sharing one server
    do not see each other's resources (urls, identifiers and canonical links all move)."""
    tag = tag or uuid.uuid4().hex[:10]
    new_base = f"https://t-{tag}.evidence-publisher.example.org/fhir"
    text = jsonio.dumps(copy.deepcopy(resources), indent=None).replace(SEED_BASE, new_base)
    return jsonio.loads(text)


def write_dist(resources: list[dict], folder: Path) -> Path:
    (folder / "resources").mkdir(parents=True, exist_ok=True)
    for res in resources:
        (folder / "resources" / f"{res['resourceType']}-{res['id']}.json").write_text(jsonio.dumps(res))
    return folder
