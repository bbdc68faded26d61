"""The build-and-start helper decides between "skip" (this machine cannot have the server) and
"fail" (the server is broken) correctly. These tests need no Java and no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import server


def _fake_server_dir(tmp_path: Path) -> Path:
    """A copy of tests/hapi-server without a build, so that ``serve`` must run Maven."""
    copy = tmp_path / "hapi-server"
    copy.mkdir()
    shutil.copy2(server.SERVER_DIR / "serve", copy / "serve")
    shutil.copy2(server.SERVER_DIR / "pom.xml", copy / "pom.xml")
    shutil.copytree(server.SERVER_DIR / "src", copy / "src")
    return copy


def _fake_mvn(tmp_path: Path, output: str, code: int) -> Path:
    mvn = tmp_path / "fake-mvn"
    mvn.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    mvn.chmod(0o755)
    return mvn


def test_no_java_means_unavailable(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert server.missing_tools() == "Java is not installed (no JAVA_HOME/bin/java, no java on PATH)"
    with pytest.raises(server.ServerUnavailable, match="Java is not installed"):
        server.build(tmp_path)


@pytest.mark.skipif(server.java_command() is None, reason="needs java on this machine")
def test_no_maven_and_no_build_means_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("MVN", str(tmp_path / "no-such-mvn"))
    with pytest.raises(server.ServerUnavailable, match="Maven is not installed"):
        server.build(tmp_path, _fake_server_dir(tmp_path))


@pytest.mark.skipif(server.java_command() is None, reason="needs java on this machine")
def test_unreachable_maven_central_means_unavailable(monkeypatch, tmp_path):
    output = (
        "[ERROR] Failed to execute goal on project test-hapi-server: Could not transfer artifact "
        "ca.uhn.hapi.fhir:hapi-fhir-base:pom:8.8.0 from/to central: Unknown host repo.maven.apache.org"
    )
    monkeypatch.setenv("MVN", str(_fake_mvn(tmp_path, output, 1)))
    with pytest.raises(server.ServerUnavailable, match="Maven Central is unreachable"):
        server.build(tmp_path, _fake_server_dir(tmp_path))


@pytest.mark.skipif(server.java_command() is None, reason="needs java on this machine")
def test_a_broken_build_is_a_failure_not_a_skip(monkeypatch, tmp_path):
    output = "[ERROR] COMPILATION ERROR : Main.java:[12,8] cannot find symbol"
    monkeypatch.setenv("MVN", str(_fake_mvn(tmp_path, output, 1)))
    with pytest.raises(server.ServerFailed, match="cannot find symbol"):
        server.build(tmp_path, _fake_server_dir(tmp_path))
