"""The FHIR NPM package of a build (``package``, ``build --package``): its content, its
determinism, installing it from the file, and validating against it."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from evidence_publisher import jsonio
from evidence_publisher.errors import ExitCode
from evidence_publisher.packages import (
    InvalidPackageSpecError,
    PackageCache,
    UnsafeArchiveError,
    default_root,
)
from evidence_publisher.packages.spec import PackageSpec
from evidence_publisher.packages.writer import (
    FIXED_MTIME,
    build_package,
    package_build,
    package_name,
    read_build,
    tarball_bytes,
)
from evidence_publisher.validate import Validator

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "mappings" / "lupus-msc"
NAME = "org.example.evidence-publisher.lupus-msc"


@pytest.fixture(scope="module")
def shared_cache() -> PackageCache:
    """The machine's FHIR package cache with the pinned set (installed there once if missing)."""
    cache = PackageCache(default_root())
    cache.ensure()
    return cache


@pytest.fixture
def linked_cache(tmp_path: Path, shared_cache: PackageCache) -> PackageCache:
    """A private cache whose packages are links to the shared ones: installs go here, offline."""
    root = tmp_path / "cache"
    root.mkdir()
    for pkg in shared_cache.installed():
        (root / pkg.spec.dirname).symlink_to(pkg.path.parent, target_is_directory=True)
    return PackageCache(root, registry_url="off", use_npm=False)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from evidence_publisher.pipeline import build

    out = tmp_path_factory.mktemp("seed") / "dist"
    build([SEED], out_dir=out, validate=False)
    return out


@pytest.fixture(scope="module")
def package_file(dist: Path, tmp_path_factory: pytest.TempPathFactory, shared_cache: PackageCache) -> Path:
    out = tmp_path_factory.mktemp("pkg") / "lupus-msc.tgz"
    package_build(dist, out, cache=shared_cache)
    return out


def _members(path: Path) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None
            out[m.name] = (m, f.read())
        return out


def test_package_json_describes_the_build(package_file: Path, dist: Path) -> None:
    _, report = read_build(dist)
    manifest = jsonio.loads(_members(package_file)["package/package.json"][1])
    assert manifest["name"] == NAME
    assert manifest["version"] == report["version"] == "1.0.0"
    assert manifest["fhirVersions"] == ["5.0.0"]
    assert manifest["canonical"] == report["base_url"]
    assert manifest["title"] == report["title"]
    assert manifest["type"] == "Conformance"
    deps = manifest["dependencies"]
    assert deps["hl7.fhir.r5.core"] == "5.0.0"
    # the EBM extensions, the core extensions and THO code systems the resources use
    assert deps["evidence-publisher.ebm.local"] == "0.2.0"
    assert "hl7.fhir.uv.extensions.r5" in deps
    assert "hl7.terminology.r5" in deps
    assert "hl7.fhir.r5.expansions" not in deps  # nothing is defined only there


def test_every_resource_is_a_file_listed_once_in_the_index(package_file: Path, dist: Path) -> None:
    resources, _ = read_build(dist)
    members = _members(package_file)
    index = jsonio.loads(members["package/.index.json"][1])
    assert index["index-version"] == 2
    by_file = {e["filename"]: e for e in index["files"]}
    assert len(by_file) == len(index["files"]) == len(resources)
    for res in resources:
        filename = f"{res['resourceType']}-{res['id']}.json"
        raw = members[f"package/{filename}"][1]
        assert jsonio.loads(raw) == res
        # resourceType first: HAPI's streaming package indexer misses it after a leading object
        assert raw.startswith(b'{\n  "resourceType": "' + res["resourceType"].encode() + b'",\n')
        entry = by_file[filename]
        assert entry["resourceType"] == res["resourceType"] and entry["id"] == res["id"]
        assert entry.get("url") == res.get("url") and entry.get("version") == res.get("version")
        assert "kind" not in entry  # ActivityDefinition.kind is not a StructureDefinition kind
    assert set(members) == {f"package/{f}" for f in by_file} | {"package/package.json", "package/.index.json"}


def test_same_build_gives_the_same_bytes(
    package_file: Path, dist: Path, shared_cache: PackageCache, tmp_path: Path
) -> None:
    again = tmp_path / "again.tgz"
    package_build(dist, again, cache=shared_cache)
    assert again.read_bytes() == package_file.read_bytes()
    raw = package_file.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header MTIME 0
    members = _members(package_file)
    assert list(members) == sorted(members)
    for info, _ in members.values():
        assert (info.mtime, info.uid, info.gid, info.mode, info.uname, info.gname) == (
            FIXED_MTIME,
            0,
            0,
            0o644,
            "",
            "",
        )
    # and the content is independent of the order the resources come in
    resources, report = read_build(dist)
    deps = jsonio.loads(members["package/package.json"][1])["dependencies"]
    shuffled = build_package(list(reversed(resources)), report, deps)
    assert tarball_bytes(shuffled.files) == raw


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_build_package_flag_writes_the_same_package(package_file: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "p.tgz"
    done = _cli(
        "build",
        str(SEED),
        "--out",
        str(tmp_path / "dist"),
        "--no-validate",
        "--package",
        str(out),
        "--format",
        fmt,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == package_file.read_bytes()
    if fmt == "json":  # stdout stays the build report alone
        assert jsonio.loads(done.stdout)["corpus"] == "lupus-msc"
        assert f"as {NAME}#1.0.0" in done.stderr
    else:
        assert f"as {NAME}#1.0.0" in done.stdout


def test_installed_from_the_file_and_validated_against(
    package_file: Path, linked_cache: PackageCache
) -> None:
    pkg = linked_cache.install_file(package_file)
    assert pkg.spec == PackageSpec(NAME, "1.0.0")
    assert pkg.source == "file"
    assert package_file.is_file()  # the user's file stays
    defs = linked_cache.definitions([pkg.spec])
    assert defs.packages[0].spec == pkg.spec
    plan = next(e for e in pkg.index if e["resourceType"] == "PlanDefinition")
    assert defs.by_url(plan["url"], plan["version"]) == pkg.load(plan["filename"])
    # the package and its declared dependencies are all the validator needs: no unknown extension
    resources = [pkg.load(e["filename"]) for e in pkg.index]
    report = Validator(defs).validate(jsonio.loads(jsonio.dumps(resources)))
    problems = [
        f"{i.get('severity')}: {i.get('diagnostics')}"
        for _, o in report.outcomes
        for i in o.get("issue", [])
        if i.get("severity") in ("error", "fatal") or "nknown extension" in str(i.get("diagnostics"))
    ]
    assert problems == []


def test_a_missing_dependency_shows_in_validation(
    dist: Path, linked_cache: PackageCache, tmp_path: Path
) -> None:
    """Guards the dependency list: without the EBM package the validator cannot know its extensions."""
    resources, report = read_build(dist)
    built = build_package(resources, report, {"hl7.fhir.r5.core": "5.0.0"}, name="org.example.no-deps")
    (tmp_path / "no-deps.tgz").write_bytes(tarball_bytes(built.files))
    pkg = linked_cache.install_file(tmp_path / "no-deps.tgz")
    defs = linked_cache.definitions([pkg.spec])
    evidence = [pkg.load(e["filename"]) for e in pkg.index if e["resourceType"] == "Evidence"][:3]
    outcome = Validator(defs).validate(jsonio.loads(jsonio.dumps(evidence)))
    assert any(
        "uv/ebm/StructureDefinition" in str(i.get("diagnostics"))
        for _, o in outcome.outcomes
        for i in o.get("issue", [])
    )


def test_reinstalling_a_rebuilt_package_replaces_it(
    package_file: Path, linked_cache: PackageCache, tmp_path: Path
) -> None:
    linked_cache.install_file(package_file)
    members = _members(package_file)
    files = {name: data for name, (_, data) in members.items() if "Group-" not in name}
    index = jsonio.loads(files["package/.index.json"])
    index["files"] = [e for e in index["files"] if e["resourceType"] != "Group"]
    files["package/.index.json"] = jsonio.dumps(index).encode()
    (tmp_path / "fewer.tgz").write_bytes(tarball_bytes(files))
    pkg = linked_cache.install_file(tmp_path / "fewer.tgz")
    assert not any(e["resourceType"] == "Group" for e in pkg.index)
    assert not list(pkg.path.glob("Group-*.json"))


def test_an_unsafe_file_is_refused_and_nothing_is_installed(
    linked_cache: PackageCache, tmp_path: Path
) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (
            ("package/package.json", b'{"name": "org.example.evil", "version": "1.0.0"}'),
            ("../evil.json", b"{}"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bad = tmp_path / "evil.tgz"
    bad.write_bytes(gzip.compress(raw.getvalue()))
    with pytest.raises(UnsafeArchiveError, match="path traversal"):
        linked_cache.install_file(bad)
    assert linked_cache.get("org.example.evil", "1.0.0") is None
    assert not (tmp_path / "evil.json").exists()
    assert not [p for p in linked_cache.root.iterdir() if p.name.startswith(".ep-install-")]


def test_packages_install_takes_a_file(package_file: Path, linked_cache: PackageCache) -> None:
    done = _cli(
        "packages",
        "install",
        str(package_file),
        "--cache",
        str(linked_cache.root),
        "--registry",
        "off",
        "--no-npm",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    rows = jsonio.loads(done.stdout)
    assert rows[0]["name"] == NAME and rows[0]["source"] == "file"
    assert {r["name"] for r in rows} >= {
        "hl7.fhir.r5.core",
        "evidence-publisher.ebm.local",
    }  # its dependencies


def test_out_that_is_not_a_package_is_not_replaced(dist: Path, tmp_path: Path) -> None:
    precious = tmp_path / "notes.tgz"
    precious.write_text("my notes")
    done = _cli("package", str(dist), "--out", str(precious))
    assert done.returncode == ExitCode.WRITE_FAILED
    assert "is not a FHIR package tarball" in done.stderr
    assert precious.read_text() == "my notes"


def test_not_a_build_is_a_clear_error(tmp_path: Path) -> None:
    done = _cli("package", str(tmp_path), "--out", str(tmp_path / "x.tgz"))
    assert done.returncode == ExitCode.INVALID_OUTPUT
    assert "is not a build output" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.tgz").exists()


@pytest.mark.parametrize(
    ("corpus", "base", "name"),
    [
        ("lupus-msc", "https://evidence-publisher.example.org/fhir", NAME),
        ("lupus-msc", "https://www.Example.org", "org.example.lupus-msc"),
    ],
)
def test_package_name(corpus: str, base: str, name: str) -> None:
    assert package_name(corpus, base) == name


def test_a_name_outside_the_package_naming_rules_asks_for_name() -> None:
    with pytest.raises(InvalidPackageSpecError) as caught:
        package_name("2024-guideline", "https://10.0.0.1/fhir")
    assert "--name" in " ".join(caught.value.details)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("evidence-publisher")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )
