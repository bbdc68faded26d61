"""`evidence-publisher packages ...` through cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode

from .conftest import FAKE, FAKE_VERSION, FakeRegistry, make_tarball, package_files

SPEC = f"{FAKE}#{FAKE_VERSION}"


def test_install_then_list(
    registry: FakeRegistry, cache_root: Path, no_npm: None, capsys: pytest.CaptureFixture
):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))

    code = main(["packages", "install", SPEC, "--cache", str(cache_root), "--registry", registry.url])
    out, err = capsys.readouterr()
    assert code == ExitCode.OK
    assert f"Installing {SPEC} from the FHIR package registry {registry.url}" in err
    assert FAKE in out

    assert main(["packages", "list", "--cache", str(cache_root), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "name": FAKE,
            "version": FAKE_VERSION,
            "fhirVersions": ["5.0.0"],
            "resources": 2,
            "source": "registry",
            "path": str(cache_root / f"{FAKE}#{FAKE_VERSION}" / "package"),
            "standsInFor": None,
        }
    ]

    assert main(["packages", "list", "--cache", str(cache_root)]) == 0
    text = capsys.readouterr().out
    assert FAKE in text and "registry" in text and "5.0.0" in text


def test_list_uses_env_cache(cache_root: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(cache_root))
    assert main(["packages", "list"]) == 0
    assert "No FHIR packages" in capsys.readouterr().err


def test_unreachable_install_exits_with_package_unavailable(
    closed_port_url: str, no_npm: None, cache_root: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("FHIR_PACKAGE_REGISTRY", closed_port_url)
    code = main(["packages", "install", SPEC, "--cache", str(cache_root)])
    err = capsys.readouterr().err
    assert code == ExitCode.PACKAGE_UNAVAILABLE
    assert "could not be fetched" in err
    assert f"evidence-publisher packages install {SPEC}" in err
    assert "npm is not on PATH" in err


def test_bad_spec_is_a_usage_error(cache_root: Path, capsys):
    assert main(["packages", "install", "../x#1", "--cache", str(cache_root)]) == ExitCode.USAGE
    assert "invalid FHIR package name" in capsys.readouterr().err


def test_integrity_failure_exit_code(registry: FakeRegistry, cache_root: Path, capsys):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()), integrity="sha512-" + "A" * 86 + "==")
    code = main(
        ["packages", "install", SPEC, "--cache", str(cache_root), "--registry", registry.url, "--no-npm"]
    )
    assert code == ExitCode.PACKAGE_INTEGRITY
