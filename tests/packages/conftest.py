"""Fakes for the package tests: tarballs built in memory, a fake registry and a fake npm."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import stat
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

FAKE = "example.fhir.fake"
FAKE_VERSION = "1.0.0"


def sd(id_: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "id": id_,
        "url": url,
        "version": "1.0.0",
        "name": id_.replace("-", "").title(),
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": id_,
        "derivation": "specialization",
        **extra,
    }


def package_files(
    name: str = FAKE,
    version: str = FAKE_VERSION,
    *,
    deps: dict[str, str] | None = None,
    resources: dict[str, dict[str, Any]] | None = None,
) -> dict[str, bytes]:
    """The files of a tiny package, keyed by path inside the tarball (under package/)."""
    manifest: dict[str, Any] = {"name": name, "version": version, "fhirVersions": ["5.0.0"]}
    if deps:
        manifest["dependencies"] = deps
    if resources is None:
        resources = {
            "StructureDefinition-Thing.json": sd(
                "Thing", f"http://example.org/{name}/StructureDefinition/Thing"
            ),
            "ValueSet-colours.json": {
                "resourceType": "ValueSet",
                "id": "colours",
                "url": f"http://example.org/{name}/ValueSet/colours",
                "version": version,
                "status": "active",
            },
        }
    files = {"package/package.json": json.dumps(manifest).encode()}
    for filename, res in resources.items():
        files[f"package/{filename}"] = json.dumps(res).encode()
    return files


def make_tarball(
    files: dict[str, bytes],
    *,
    extra: Callable[[tarfile.TarFile], None] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
        if extra:
            extra(tf)
    return buf.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class FakeRegistry:
    """Serves npm-style metadata and tarballs from a pytest-httpserver."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def publish(
        self,
        name: str,
        version: str,
        tarball: bytes,
        *,
        integrity: str | None = "auto",
        shasum: str | None = "auto",
    ) -> None:
        dist: dict[str, Any] = {"tarball": f"{self.url}/{name}/{version}"}
        if integrity:
            dist["integrity"] = sri(tarball) if integrity == "auto" else integrity
        if shasum:
            dist["shasum"] = sha1(tarball) if shasum == "auto" else shasum
        meta = {"_id": name, "name": name, "versions": {version: {"name": name, "dist": dist}}}
        self.server.expect_request(f"/{name}").respond_with_json(meta)
        self.server.expect_request(f"/{name}/{version}").respond_with_data(
            tarball, content_type="application/tar+gzip"
        )

    def requests(self) -> list[str]:
        return [req.path for req, _ in self.server.log]


@pytest.fixture
def registry(httpserver: HTTPServer) -> FakeRegistry:
    return FakeRegistry(httpserver)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


_FAKE_NPM = r'''#!{python}
"""Fake `npm pack NAME@VERSION --json`: copies a prepared tarball, prints npm's JSON report."""
import base64, hashlib, json, os, shutil, sys
from pathlib import Path
Path(os.environ["FAKE_NPM_LOG"]).open("a").write(json.dumps(sys.argv[1:]) + "\n")
spec = sys.argv[2]
name, _, version = spec.rpartition("@")
src = Path(os.environ["FAKE_NPM_DIR"]) / f"{{name}}-{{version}}.tgz"
if not src.is_file():
    print(json.dumps({{"error": {{"code": "E404", "summary": f"Not Found - {{spec}}"}}}}))
    sys.exit(1)
data = src.read_bytes()
shutil.copy(src, Path.cwd() / src.name)
override = os.environ.get("FAKE_NPM_INTEGRITY")
integrity = override or "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
print(json.dumps([{{"id": spec, "name": name, "version": version, "filename": src.name,
                   "integrity": integrity, "shasum": hashlib.sha1(data).hexdigest()}}]))
'''


class FakeNpm:
    def __init__(self, root: Path) -> None:
        self.bindir = root / "bin"
        self.tarballs = root / "tarballs"
        self.log = root / "npm.log"
        self.bindir.mkdir(parents=True)
        self.tarballs.mkdir(parents=True)
        script = self.bindir / "npm"
        script.write_text(_FAKE_NPM.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def add(self, name: str, version: str, tarball: bytes) -> None:
        (self.tarballs / f"{name}-{version}.tgz").write_bytes(tarball)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNpm:
    """A fake `npm` first on PATH (the real one is never run by unit tests)."""
    npm = FakeNpm(tmp_path / "fake-npm")
    monkeypatch.setenv("PATH", f"{npm.bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_NPM_DIR", str(npm.tarballs))
    monkeypatch.setenv("FAKE_NPM_LOG", str(npm.log))
    return npm


@pytest.fixture
def no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH without any npm."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def leftovers(root: Path) -> list[str]:
    """Everything in the cache root that is not a finished package or a bookkeeping file."""
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name != ".ep-missing.json")
