"""``evidence-publisher publish`` / ``verify``: inputs, output formats and documented exit codes."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode

from .hapi_standin import Fault, HapiStandIn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(threaded_httpserver):
    def start(**kwargs) -> tuple[HapiStandIn, str]:
        hapi = HapiStandIn(**kwargs)
        threaded_httpserver.clear()
        threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
        return hapi, threaded_httpserver.url_for("/fhir")

    return start


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_publish_dist_then_verify_json(server, capsys, seed_dist, seed_resources):
    _hapi, url = server()
    code, out, _ = run(
        capsys, "publish", str(seed_dist), "--server", url, "--no-validate", "--format", "json"
    )
    assert code == ExitCode.OK
    report = json.loads(out)
    assert report["counts"] == {"created": len(seed_resources)}
    assert report["exit_code"] == 0 and report["fhir_version"] == "5.0.0"
    assert all(r["server_id"] and r["version"] == "1" for r in report["resources"])
    code, out, _ = run(capsys, "verify", str(seed_dist), "--server", url, "--no-validate", "--format", "json")
    assert code == ExitCode.OK and json.loads(out)["counts"] == {"same": len(seed_resources)}
    code, out, _ = run(capsys, "publish", str(seed_dist), "--server", url, "--no-validate")
    assert code == ExitCode.OK
    assert f"{len(seed_resources)} unchanged" in out


def test_publish_from_mappings_builds_first(server, capsys, seed_resources):
    hapi, url = server()
    code, out, err = run(
        capsys, "publish", str(ROOT / "mappings" / "lupus-msc"), "--server", url, "--dry-run", "--no-validate"
    )
    assert code == ExitCode.OK, err
    assert f"{len(seed_resources)} would-create" in out
    assert hapi.count() == 0


def test_invalid_input_is_refused_before_contact(server, capsys, seed_dist, tmp_path):
    hapi, url = server()
    broken = tmp_path / "dist"
    shutil.copytree(seed_dist, broken)
    victim = sorted((broken / "resources").glob("Evidence-*.json"))[0]
    victim.write_text(victim.read_text().replace('"status": "', '"status": 42, "x": "', 1))
    code, _, err = run(capsys, "publish", str(broken), "--server", url, "--no-validate")
    assert code == ExitCode.INVALID_OUTPUT
    assert "nothing was sent" in err
    assert hapi.requests == []


def test_exit_code_unreachable(capsys, seed_dist):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(
        capsys,
        "publish",
        str(seed_dist),
        "--server",
        f"http://127.0.0.1:{port}/fhir",
        "--no-validate",
        "--retries",
        "0",
    )
    assert code == ExitCode.SERVER_UNREACHABLE
    assert "connection refused" in err


def test_exit_code_unsuitable(server, capsys, seed_dist):
    _, url = server(fhir_version="4.0.1")
    code, _, err = run(capsys, "publish", str(seed_dist), "--server", url, "--no-validate")
    assert code == ExitCode.SERVER_UNSUITABLE
    assert "fhirVersion is '4.0.1'" in err


def test_exit_code_rejected_and_partial(server, capsys, seed_dist, seed_resources):
    hapi, url = server()
    evidence = next(r for r in seed_resources if r["resourceType"] == "Evidence")
    hapi.seed({**evidence, "id": "dup-a"})
    hapi.seed({**evidence, "id": "dup-b"})
    code, out, err = run(
        capsys,
        "publish",
        str(seed_dist),
        "--server",
        url,
        "--no-validate",
        "--single-transaction",
        "--format",
        "json",
    )
    assert code == ExitCode.REJECTED_BY_SERVER
    report = json.loads(out)
    assert report["error"]["hapi_code"] == "HAPI-2207"
    assert report["error"]["resources"] == [f"Evidence/{evidence['id']}"]
    assert "HAPI-2207" in err and f"Evidence/{evidence['id']}" in err
    assert hapi.count() == 2


def test_exit_code_partial_success(threaded_httpserver, capsys, tmp_path):
    from evidence_publisher.jsonio import dumps

    from .conftest import synthetic_corpus

    dist = tmp_path / "dist" / "resources"
    dist.mkdir(parents=True)
    for res in synthetic_corpus(3):
        (dist / f"{res['resourceType']}-{res['id']}.json").write_text(dumps(res))
    hapi = HapiStandIn()
    posts = {"n": 0}

    def flaky(request):
        # POSTs alternate: pre-read batch, transaction, pre-read batch, transaction ...
        # from the fourth on (the second chunk's transaction) the gateway answers 503.
        if request.method == "POST":
            posts["n"] += 1
            if posts["n"] == 4:
                hapi.inject(Fault("status", status=503, method="POST"), times=10)
        return hapi.handle(request)

    threaded_httpserver.clear()
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(flaky)
    code, out, err = run(
        capsys,
        "publish",
        str(tmp_path / "dist"),
        "--server",
        threaded_httpserver.url_for("/fhir"),
        "--no-validate",
        "--chunk-size",
        "5",
        "--retries",
        "1",
        "--format",
        "json",
    )
    assert code == ExitCode.PARTIAL_SUCCESS, err
    report = json.loads(out)
    assert report["chunks"][0]["status"] == "committed"
    assert report["chunks"][1]["status"] == "unknown"
    assert "re-running publish is safe" in err


def test_exit_code_verify_differences(server, capsys, seed_dist):
    _hapi, url = server()
    code, out, _ = run(capsys, "verify", str(seed_dist), "--server", url, "--no-validate")
    assert code == ExitCode.VERIFY_DIFFERENCES
    assert "missing" in out


def test_exit_code_auth_failed(server, capsys, seed_dist, monkeypatch):
    _, url = server(auth_check=lambda r: False)
    monkeypatch.delenv("FHIR_TOKEN", raising=False)
    code, _, err = run(capsys, "publish", str(seed_dist), "--server", url, "--no-validate")
    assert code == ExitCode.AUTH_FAILED
    assert "HTTP 401" in err


def test_insecure_is_loudly_warned(server, capsys, seed_dist):
    _, url = server()
    code, _, err = run(
        capsys, "publish", str(seed_dist), "--server", url, "--no-validate", "--insecure", "--dry-run"
    )
    assert code == ExitCode.OK
    assert "WARNING: --insecure" in err


def test_credentials_in_url_are_refused(capsys, seed_dist):
    code, _, err = run(
        capsys,
        "publish",
        str(seed_dist),
        "--server",
        "https://bob:hunter2@fhir.example.org/fhir",
        "--no-validate",
    )
    assert code == ExitCode.USAGE
    assert "hunter2" not in err


@pytest.mark.parametrize("command", ["publish", "verify"])
def test_missing_or_unusable_source_is_a_usage_error(capsys, tmp_path, command):
    (tmp_path / "notes.txt").write_text("not a build\n")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "notes.txt"): "is neither a build directory nor a mapping file",
        str(tmp_path): "has neither resources/*.json nor *.yaml mapping files",
    }
    for source, message in cases.items():
        code = main([command, source, "--server", "http://127.0.0.1:9/fhir"])
        assert code == ExitCode.USAGE, source
        assert message in capsys.readouterr().err
