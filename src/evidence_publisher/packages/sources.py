"""Where package tarballs come from: the FHIR package registry, then the npm client.

A source either returns a tarball whose hash it has checked (``FetchedTarball``), raises
``SourceMiss`` (this source cannot provide the package; try the next one) or raises
``PackageIntegrityError`` (it provided bytes that do not match; stop).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from evidence_publisher import jsonio
from evidence_publisher.packages.integrity import ExpectedHash, StreamHasher, hash_file, verify
from evidence_publisher.packages.spec import PackageSpec

DEFAULT_REGISTRY = "https://packages.fhir.org"
REGISTRY_ENV = "FHIR_PACKAGE_REGISTRY"
#: Short connect timeout so that an unreachable registry falls through to npm quickly.
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 60.0
NPM_TIMEOUT = 900.0
_CHUNK = 256 * 1024

#: ``on_bytes(spec, done, total_or_None)`` reports download progress.
BytesCallback = Callable[[PackageSpec, int, int | None], None]


class SourceMiss(Exception):
    """This source cannot provide the package; ``reason`` says why (quoted in the final error)."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


@dataclass(frozen=True)
class FetchedTarball:
    path: Path
    source: str  # "registry" | "npm" | "file" (packages install FILE.tgz)
    location: str  # registry URL or the npm command
    verified_with: str  # hash algorithm used, "" when the source published none


class RegistrySource:
    """An npm-style FHIR package registry: ``<base>/<name>`` metadata, ``<base>/<name>/<ver>``."""

    kind = "registry"

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()
        self._unreachable: str | None = None

    @property
    def label(self) -> str:
        return f"the FHIR package registry {self.base_url}"

    @property
    def known_unreachable(self) -> str | None:
        """Why the registry was unreachable earlier in this process, if it was."""
        return self._unreachable

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        if self._unreachable:
            raise SourceMiss(self._unreachable, unreachable=True)
        try:
            return self.session.get(url, timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Remember it: every further package would wait for the same timeout.
            self._unreachable = f"{self.base_url} is unreachable ({type(exc).__name__})"
            raise SourceMiss(self._unreachable, unreachable=True) from exc
        except requests.RequestException as exc:
            raise SourceMiss(f"request to {url} failed ({exc})") from exc

    def expected_hash(self, spec: PackageSpec) -> ExpectedHash:
        url = f"{self.base_url}/{spec.name}"
        resp = self._get(url, headers={"Accept": "application/json"})
        with resp:
            if resp.status_code == 404:
                raise SourceMiss(f"{url} does not know {spec.name!r} (HTTP 404)")
            if resp.status_code != 200:
                raise SourceMiss(f"{url} answered HTTP {resp.status_code}")
            try:
                meta = jsonio.loads(resp.content)
            except ValueError as exc:
                raise SourceMiss(f"{url} did not return JSON metadata") from exc
        versions = meta.get("versions") if isinstance(meta, dict) else None
        if not isinstance(versions, dict) or spec.version not in versions:
            raise SourceMiss(f"{url} lists no version {spec.version!r}")
        release = versions[spec.version]
        dist = release.get("dist") if isinstance(release, dict) else None
        dist = dist if isinstance(dist, dict) else {}
        integrity = dist.get("integrity") if isinstance(dist.get("integrity"), str) else None
        shasum = dist.get("shasum") if isinstance(dist.get("shasum"), str) else None
        return ExpectedHash(integrity=integrity, shasum=shasum)

    def fetch(
        self, spec: PackageSpec, workdir: Path, on_bytes: BytesCallback | None = None
    ) -> FetchedTarball:
        expected = self.expected_hash(spec)
        url = f"{self.base_url}/{spec.name}/{spec.version}"
        target = workdir / f"{spec.name}-{spec.version}.tgz"
        resp = self._get(url, stream=True, headers={"Accept": "application/tar+gzip"})
        hasher = StreamHasher()
        with resp:
            if resp.status_code != 200:
                raise SourceMiss(f"{url} answered HTTP {resp.status_code}")
            total_header = resp.headers.get("Content-Length")
            total = int(total_header) if total_header and total_header.isdigit() else None
            done = 0
            try:
                with target.open("wb") as out:
                    for chunk in resp.iter_content(_CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        done += len(chunk)
                        if on_bytes:
                            on_bytes(spec, done, total)
            except (requests.RequestException, OSError) as exc:
                target.unlink(missing_ok=True)
                raise SourceMiss(f"download from {url} broke off after {done} bytes ({exc})") from exc
        if total is not None and done != total:
            target.unlink(missing_ok=True)
            raise SourceMiss(f"download from {url} is truncated ({done} of {total} bytes)")
        try:
            used = verify(hasher, expected, what=f"{spec} from {url}")
        except Exception:
            target.unlink(missing_ok=True)
            raise
        return FetchedTarball(target, "registry", url, used)


class NpmSource:
    """``npm pack NAME@VERSION --json`` in a scratch directory; npm reports the integrity."""

    kind = "npm"

    def __init__(self, npm: str | None = None, *, timeout: float = NPM_TIMEOUT) -> None:
        self._npm = npm
        self.timeout = timeout

    @property
    def label(self) -> str:
        return "npm"

    def executable(self) -> str | None:
        return self._npm or shutil.which("npm")

    def fetch(
        self, spec: PackageSpec, workdir: Path, on_bytes: BytesCallback | None = None
    ) -> FetchedTarball:
        npm = self.executable()
        if not npm:
            raise SourceMiss("npm is not on PATH", unreachable=True)
        packdir = workdir / "npm-pack"
        packdir.mkdir(exist_ok=True)
        command = [npm, "pack", f"{spec.name}@{spec.version}", "--json", "--ignore-scripts"]
        # One retry instead of npm's default two with minute-long back-off: an unreachable npm
        # registry should fail in seconds, not minutes.
        env = dict(
            os.environ,
            npm_config_update_notifier="false",
            npm_config_fund="false",
            npm_config_fetch_retries="1",
            npm_config_fetch_retry_maxtimeout="10000",
        )
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, validated spec
                command,
                cwd=packdir,
                env=env,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SourceMiss(f"`npm pack {spec.name}@{spec.version}` timed out") from exc
        except OSError as exc:
            raise SourceMiss(f"cannot run {npm!r} ({exc})", unreachable=True) from exc
        shown = f"npm pack {spec.name}@{spec.version}"
        report = _parse_npm_json(proc.stdout)
        if proc.returncode != 0:
            raise SourceMiss(_npm_failure(shown, report, proc.stderr))
        entry = report[0] if isinstance(report, list) and report else None
        entry = entry if isinstance(entry, dict) else None
        if entry is None or not isinstance(entry.get("filename"), str):
            raise SourceMiss(f"`{shown}` printed no JSON report naming the tarball")
        tarball = packdir / Path(entry["filename"]).name
        if not tarball.is_file():
            raise SourceMiss(f"`{shown}` did not write {tarball.name!r}")
        expected = ExpectedHash(
            integrity=entry.get("integrity") if isinstance(entry.get("integrity"), str) else None,
            shasum=entry.get("shasum") if isinstance(entry.get("shasum"), str) else None,
        )
        if on_bytes:
            size = tarball.stat().st_size
            on_bytes(spec, size, size)
        try:
            used = verify(hash_file(tarball), expected, what=f"{spec} from `{shown}`")
        except Exception:
            tarball.unlink(missing_ok=True)
            raise
        return FetchedTarball(tarball, "npm", shown, used)


def _parse_npm_json(stdout: bytes) -> Any:
    try:
        return jsonio.loads(stdout.decode("utf-8", "replace").strip() or "null")
    except ValueError:
        return None


def _npm_failure(shown: str, report: Any, stderr: bytes) -> str:
    error = report.get("error") if isinstance(report, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        summary = str(error.get("summary") or "").strip()
        if code in ("E404", "ETARGET"):
            return f"`{shown}`: {summary or 'not found in the npm registry'}"
        return f"`{shown}` failed ({code}: {summary})"
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if "npm warn" not in ln]
    tail = " ".join(lines[-2:]).strip()
    return f"`{shown}` failed ({tail or 'no message'})"
