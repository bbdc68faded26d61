"""A FHIR NPM package (package.tgz) of a build: the unit that FHIR servers, validators and IG tools load.

The tarball holds ``package/package.json`` (name, version, fhirVersions, dependencies, canonical),
``package/.index.json`` (index-version 2) and every resource of the build as
``package/<Type>-<id>.json`` in canonical JSON. It is deterministic: the same build gives the same
bytes (members sorted by name, fixed mtime, owner and mode, gzip header without a time or name).
See https://hl7.org/fhir/R5/packages.html and docs/packages.md.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evidence_publisher import jsonio
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion, fhir_version
from evidence_publisher.errors import InputLimitError, UnsafeOutputError, WriteError
from evidence_publisher.packages.cache import PackageCache
from evidence_publisher.packages.definitions import Definitions
from evidence_publisher.packages.errors import InvalidPackageSpecError, PackageInputError
from evidence_publisher.packages.index import INDEX_FILENAME, INDEX_VERSION
from evidence_publisher.packages.spec import PackageSpec
from evidence_publisher.update_journal import refuse_interrupted

#: The package type of the FHIR package spec for definitional content that is not an
#: implementation guide (no ImplementationGuide resource, no pages).
PACKAGE_TYPE = "Conformance"
#: npm's own fixed time for reproducible tarballs (1985-10-26T08:15:00Z); 0 upsets some tools.
FIXED_MTIME = 499162500
REPORT_FILE = "build-report.json"
# A FHIR package name: two or more dot-separated parts, each a lowercase letter then lowercase
# letters, digits or dashes (FHIR package spec, "name").
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$")
# .index.json fields, by the resource types they describe (index-version 2)
_INDEX_FIELDS: dict[str | None, tuple[str, ...]] = {
    None: ("id", "url", "version"),
    "StructureDefinition": ("kind", "type", "derivation"),
    "CodeSystem": ("content", "supplements"),
}


@dataclass(frozen=True)
class BuiltPackage:
    spec: PackageSpec
    manifest: dict[str, Any]
    files: dict[str, bytes]  # member name (package/...) -> content

    @property
    def resource_count(self) -> int:
        return sum(1 for name in self.files if name not in (_member("package.json"), _member(INDEX_FILENAME)))


def _member(filename: str) -> str:
    return f"package/{filename}"


def read_build(dist: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The resources (``resources/*.json``, in file-name order) and the build report of ``dist``."""
    refuse_interrupted(dist)
    report_path = dist / REPORT_FILE
    folder = dist / "resources"
    if not report_path.is_file() or not folder.is_dir():
        raise PackageInputError(
            f"{str(dist)!r} is not a build output (no {REPORT_FILE} and resources/)",
            details=["give the directory written by `evidence-publisher build --out DIR`"],
        )
    report = _read_json(report_path)
    if not isinstance(report, dict) or not all(isinstance(report.get(k), str) for k in ("corpus", "version")):
        raise PackageInputError(f"{str(report_path)!r} is not a build report (no corpus id and version)")
    resources = []
    for file in sorted(folder.glob("*.json")):
        res = _read_json(file)
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str) or not res.get("id"):
            raise PackageInputError(f"{str(file)!r} is not a FHIR resource with an id")
        resources.append(res)
    if not resources:
        raise PackageInputError(f"no resources in {str(folder)!r}")
    return resources, report


def _read_json(path: Path) -> Any:
    try:
        return jsonio.loads_untrusted(path.read_bytes(), str(path))
    except InputLimitError:
        raise
    except OSError as exc:
        raise PackageInputError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise PackageInputError(f"{str(path)!r} is not valid JSON: {exc}") from None


def package_name(corpus_id: str, base_url: str) -> str:
    """``<base URL host, reversed>.<corpus id>``: the publisher first, as the package spec asks
    (https://evidence-publisher.example.org/fhir, lupus-msc -> org.example.evidence-publisher.lupus-msc)."""
    host = (urlsplit(base_url).hostname or "").lower()
    name = ".".join([*reversed([p for p in host.split(".") if p and p != "www"]), corpus_id.lower()])
    check_name(name, hint=f"it was made from the base URL host {host!r} and the corpus id {corpus_id!r}")
    return name


def check_name(name: str, *, hint: str = "") -> None:
    if not _NAME_RE.match(name):
        raise InvalidPackageSpecError(
            f"{name!r} is not a FHIR package name",
            details=[
                *([hint] if hint else []),
                "a name is two or more parts separated by '.', each a lowercase letter followed by "
                "lowercase letters, digits or '-' (e.g. org.example.lupus-msc); choose one with --name",
            ],
        )


def used_urls(resources: Iterable[Any]) -> set[str]:
    """The canonical URLs the resources depend on for validation: extension URLs, declared
    profiles and coding systems."""
    found: set[str] = set()
    for value in _walk(resources):
        for key in ("extension", "modifierExtension"):
            for ext in value.get(key) or []:
                url = ext.get("url") if isinstance(ext, dict) else None
                if isinstance(url, str) and "://" in url:  # nested parts of a complex extension are relative
                    found.add(url)
        meta = value.get("meta") if isinstance(value.get("resourceType"), str) else None
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        if isinstance(profiles, list):
            found.update(p.partition("|")[0] for p in profiles if isinstance(p, str) and "://" in p)
        system = value.get("system")
        if isinstance(system, str) and "code" in value and "://" in system:
            found.add(system)
    return found


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list | tuple):
        for child in node:
            yield from _walk(child)


def build_fhir_version(report: dict[str, Any]) -> FhirVersion:
    """The FHIR version of a build: ``fhir_version.release`` of its report (R4B builds), else R5."""
    version = report.get("fhir_version")
    release = version.get("release") if isinstance(version, dict) else None
    return fhir_version(release) if isinstance(release, str) else DEFAULT_FHIR_VERSION


def dependencies(
    resources: list[dict[str, Any]], definitions: Definitions, fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> dict[str, str]:
    """The core package of ``fhir`` (hl7.fhir.r5.core), and every installed package that defines a
    URL the resources use (the package the validator reads it from), e.g. the extensions,
    terminology and EBM packages."""
    deps = {fhir.core[0]: fhir.core[1]}
    own = {r.get("url") for r in resources}
    for url in sorted(used_urls(resources) - own):
        pkg = definitions.package_of(url)
        if pkg is not None and pkg.name not in deps:
            deps[pkg.name] = pkg.version
    return dict(sorted(deps.items()))


def resource_json(resource: dict[str, Any]) -> str:
    """The build's canonical JSON (keys sorted, 2-space indent) with ``resourceType`` first.

    FHIR JSON lets it appear anywhere, but streaming readers look for it first: HAPI's package
    indexer (org.hl7.fhir.utilities 6.7.9) skips a resource whose ``resourceType`` comes after a
    leading object such as ArtifactAssessment's ``artifactReference``."""
    rest = jsonio.dumps({k: v for k, v in resource.items() if k != "resourceType"})
    head = '{\n  "resourceType": ' + jsonio.dumps(resource["resourceType"], indent=None)
    return head + ("\n}\n" if rest.strip() == "{}" else ",\n" + rest[2:])


def index_entry(filename: str, resource: dict[str, Any]) -> dict[str, str]:
    entry = {"filename": filename, "resourceType": resource["resourceType"]}
    for key in (*_INDEX_FIELDS[None], *_INDEX_FIELDS.get(resource["resourceType"], ())):
        value = resource.get(key)
        if isinstance(value, str):
            entry[key] = value
    return entry


def build_package(
    resources: list[dict[str, Any]],
    report: dict[str, Any],
    deps: dict[str, str],
    *,
    name: str | None = None,
) -> BuiltPackage:
    """The package's files for the resources of one build (``report`` gives the corpus's id,
    version, title and base URL)."""
    base_url = str(report.get("base_url") or "")
    name = name or package_name(str(report["corpus"]), base_url)
    check_name(name)
    spec = PackageSpec(name, str(report["version"]))
    title = str(report.get("title") or report["corpus"])
    fhir = build_fhir_version(report)
    manifest: dict[str, Any] = {
        "name": spec.name,
        "version": spec.version,
        "type": PACKAGE_TYPE,
        "title": title,
        "description": (
            f"{title}: the FHIR {fhir.release} resources of corpus {report['corpus']} version "
            f"{spec.version}, compiled by evidence-publisher from its curated mapping files."
        ),
        "fhirVersions": [fhir.version],
        "dependencies": deps,
        "canonical": base_url,
        "url": base_url,
    }
    if isinstance(report.get("publisher"), str):
        manifest["author"] = report["publisher"]
    if not base_url:
        del manifest["canonical"], manifest["url"]
    files: dict[str, bytes] = {_member("package.json"): jsonio.dumps(manifest).encode("utf-8")}
    entries = []
    for res in sorted(resources, key=lambda r: (r["resourceType"], str(r["id"]))):
        filename = f"{res['resourceType']}-{res['id']}.json"
        if _member(filename) in files:
            raise PackageInputError(f"two resources would both be {filename!r} in the package")
        files[_member(filename)] = resource_json(res).encode("utf-8")
        entries.append(index_entry(filename, res))
    index = {"index-version": INDEX_VERSION, "files": entries}
    files[_member(INDEX_FILENAME)] = jsonio.dumps(index).encode("utf-8")
    return BuiltPackage(spec, manifest, files)


def package_build(
    dist: Path,
    out: Path,
    *,
    name: str | None = None,
    cache: PackageCache | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuiltPackage:
    """Write the FHIR NPM package of the build in ``dist`` to ``out``. The dependencies are the
    installed packages that define what the resources use (installing the pinned set if needed)."""
    resources, report = read_build(dist)
    fhir = build_fhir_version(report)
    definitions = (cache or PackageCache.default()).definitions(progress=progress, fhir=fhir)
    built = build_package(resources, report, dependencies(resources, definitions, fhir), name=name)
    write_tarball(tarball_bytes(built.files), out)
    return built


def tarball_bytes(files: dict[str, bytes]) -> bytes:
    """A gzip tarball of ``files``, byte-for-byte the same for the same files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_tarball(data: bytes, out: Path) -> None:
    """Write ``data`` to ``out`` atomically. An existing ``out`` is replaced only when it is a
    package tarball itself (a previous run); anything else is refused."""
    check_out_file(out)
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteError(
            f"cannot write {str(out)!r} ({exc.strerror or exc})",
            details=["check that the folder exists and is writable"],
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {str(out)!r} ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_out_file(out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir():
        raise UnsafeOutputError(
            f"--out {str(out)!r} is a directory; the package is one file",
            details=["give a file name, e.g. --out lupus-msc.tgz"],
        )
    if out.is_symlink() or not out.is_file() or not _is_package_tarball(out):
        raise UnsafeOutputError(
            f"--out {str(out)!r} exists and is not a FHIR package tarball; it is not replaced",
            details=["give a new file name, or remove the file first"],
        )


def _is_package_tarball(path: Path) -> bool:
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            return any(m.name == _member("package.json") for m in tar.getmembers())
    except (tarfile.TarError, OSError, EOFError):
        return False
