"""Installing packages: sources in order, integrity, atomicity, dependencies, offline reuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.errors import ExitCode
from evidence_publisher.packages import (
    EXTENSIONS_R5,
    EXTENSIONS_R5_BALLOT,
    STAND_INS,
    PackageCache,
    PackageIntegrityError,
    PackageSpec,
    PackageUnavailableError,
    archive,
)
from evidence_publisher.packages.errors import MalformedPackageError

from .conftest import FAKE, FAKE_VERSION, FakeNpm, FakeRegistry, leftovers, make_tarball, package_files

SPEC = f"{FAKE}#{FAKE_VERSION}"


def _cache(root: Path, registry_url: str, *, use_npm: bool = False) -> PackageCache:
    return PackageCache(root, registry_url=registry_url, use_npm=use_npm, connect_timeout=2)


def test_install_from_registry_lays_out_package_and_index(registry: FakeRegistry, cache_root: Path):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))
    messages: list[str] = []
    seen_bytes: list[tuple[int, int | None]] = []

    pkgs = _cache(cache_root, registry.url).ensure(
        [SPEC], progress=messages.append, on_bytes=lambda s, d, t: seen_bytes.append((d, t))
    )

    assert [p.spec for p in pkgs] == [PackageSpec(FAKE, FAKE_VERSION)]
    pkg = pkgs[0]
    assert pkg.path == cache_root / f"{FAKE}#{FAKE_VERSION}" / "package"
    assert pkg.manifest["name"] == FAKE
    assert pkg.source == "registry"
    assert pkg.install_record["verified_with"] == "sha512"
    index = json.loads((pkg.path / ".index.json").read_text())
    assert index["index-version"] == 2
    assert {e["filename"] for e in index["files"]} == {
        "StructureDefinition-Thing.json",
        "ValueSet-colours.json",
    }
    assert any(f"Installing {SPEC} from the FHIR package registry" in m for m in messages)
    assert seen_bytes and seen_bytes[-1][0] == seen_bytes[-1][1]  # finished at the total size
    assert registry.requests() == [f"/{FAKE}", f"/{FAKE}/{FAKE_VERSION}"]
    assert leftovers(cache_root) == [f"{FAKE}#{FAKE_VERSION}"]


@pytest.mark.parametrize(
    ("integrity", "shasum"),
    [("sha512-" + "A" * 86 + "==", "auto"), (None, "0" * 40)],
    ids=["sri-sha512", "shasum-sha1"],
)
def test_integrity_mismatch_is_rejected_and_leaves_nothing(
    registry: FakeRegistry, cache_root: Path, integrity: str | None, shasum: str
):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()), integrity=integrity, shasum=shasum)

    with pytest.raises(PackageIntegrityError) as info:
        _cache(cache_root, registry.url).ensure([SPEC])

    assert info.value.exit_code == ExitCode.PACKAGE_INTEGRITY
    assert "does not match" in info.value.message
    assert leftovers(cache_root) == []


def test_sri_is_checked_even_when_shasum_matches(registry: FakeRegistry, cache_root: Path):
    tarball = make_tarball(package_files())
    other = make_tarball(package_files(resources={}))
    from .conftest import sri

    registry.publish(FAKE, FAKE_VERSION, tarball, integrity=sri(other), shasum="auto")
    with pytest.raises(PackageIntegrityError):
        _cache(cache_root, registry.url).ensure([SPEC])
    assert leftovers(cache_root) == []


def test_registry_unreachable_falls_back_to_npm(closed_port_url: str, fake_npm: FakeNpm, cache_root: Path):
    fake_npm.add(FAKE, FAKE_VERSION, make_tarball(package_files()))
    messages: list[str] = []

    pkgs = _cache(cache_root, closed_port_url, use_npm=True).ensure([SPEC], progress=messages.append)

    assert pkgs[0].source == "npm"
    assert pkgs[0].install_record["location"] == f"npm pack {FAKE}@{FAKE_VERSION}"
    assert fake_npm.calls() == [["pack", f"{FAKE}@{FAKE_VERSION}", "--json", "--ignore-scripts"]]
    assert any("unreachable" in m for m in messages)
    assert any(m.startswith(f"Installing {SPEC} from npm") for m in messages)
    assert (pkgs[0].path / ".index.json").is_file()


def test_registry_404_falls_back_to_npm(registry: FakeRegistry, fake_npm: FakeNpm, cache_root: Path):
    registry.server.expect_request(f"/{FAKE}").respond_with_data("not found", status=404)
    fake_npm.add(FAKE, FAKE_VERSION, make_tarball(package_files()))

    pkgs = _cache(cache_root, registry.url, use_npm=True).ensure([SPEC])

    assert pkgs[0].source == "npm"


def test_npm_integrity_mismatch_is_rejected(
    closed_port_url: str, fake_npm: FakeNpm, cache_root: Path, monkeypatch: pytest.MonkeyPatch
):
    fake_npm.add(FAKE, FAKE_VERSION, make_tarball(package_files()))
    monkeypatch.setenv("FAKE_NPM_INTEGRITY", "sha512-" + "B" * 86 + "==")

    with pytest.raises(PackageIntegrityError):
        _cache(cache_root, closed_port_url, use_npm=True).ensure([SPEC])
    assert leftovers(cache_root) == []


def test_nothing_reachable_says_what_to_do(closed_port_url: str, no_npm: None, cache_root: Path):
    with pytest.raises(PackageUnavailableError) as info:
        _cache(cache_root, closed_port_url, use_npm=True).ensure([SPEC, "other.fake#2.0.0"])

    err = info.value
    assert err.exit_code == ExitCode.PACKAGE_UNAVAILABLE
    assert SPEC in err.message and "other.fake#2.0.0" in err.message
    text = "\n".join(err.details)
    assert f"{closed_port_url} is unreachable" in text
    assert "npm is not on PATH" in text
    assert f"evidence-publisher packages install {SPEC} other.fake#2.0.0" in text
    assert str(cache_root) in text
    assert "FHIR_PACKAGE_REGISTRY" in text
    assert f"npm pack {FAKE}@{FAKE_VERSION}" in text
    assert leftovers(cache_root) == []


def test_npm_not_found_reason_is_reported(closed_port_url: str, fake_npm: FakeNpm, cache_root: Path):
    with pytest.raises(PackageUnavailableError) as info:
        _cache(cache_root, closed_port_url, use_npm=True).ensure([SPEC])
    assert f"Not Found - {FAKE}@{FAKE_VERSION}" in "\n".join(info.value.details)


class _Boom(Exception):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_interrupted_extraction_leaves_no_half_package(
    registry: FakeRegistry, cache_root: Path, monkeypatch: pytest.MonkeyPatch, error: type
):
    files = package_files()
    for i in range(10):
        files[f"package/Basic-{i}.json"] = json.dumps({"resourceType": "Basic", "id": str(i)}).encode()
    registry.publish(FAKE, FAKE_VERSION, make_tarball(files))
    real_filter = archive._member_filter
    written: list[str] = []

    def failing_filter(label: str):
        accept = real_filter(label)

        def interrupting(member, dest: str):
            if member.isfile() and len(written) == 4:
                raise error("disk unplugged")
            if member.isfile():
                written.append(member.name)  # tarfile writes it as soon as the filter accepts it
            return accept(member, dest)

        return interrupting

    monkeypatch.setattr(archive, "_member_filter", failing_filter)

    with pytest.raises(error):
        _cache(cache_root, registry.url).ensure([SPEC])

    assert len(written) == 4  # extraction really was under way
    assert leftovers(cache_root) == []
    assert PackageCache(cache_root).get(FAKE, FAKE_VERSION) is None


def test_wrong_package_in_tarball_is_rejected(registry: FakeRegistry, cache_root: Path):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files(name="someone.else")))
    with pytest.raises(MalformedPackageError, match=r"someone\.else"):
        _cache(cache_root, registry.url).ensure([SPEC])
    assert leftovers(cache_root) == []


def test_cached_package_is_reused_without_network(registry: FakeRegistry, cache_root: Path, no_npm: None):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))
    _cache(cache_root, registry.url).ensure([SPEC])
    registry.server.clear()  # forget handlers and the request log

    messages: list[str] = []
    pkgs = _cache(cache_root, registry.url, use_npm=True).ensure([SPEC], progress=messages.append)

    assert [p.source for p in pkgs] == ["registry"]
    assert registry.requests() == []
    assert messages == []


def test_dependencies_are_installed_transitively(registry: FakeRegistry, cache_root: Path):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files(deps={"dep.one": "1.0.0"})))
    registry.publish(
        "dep.one", "1.0.0", make_tarball(package_files("dep.one", "1.0.0", deps={"dep.two": "2.0.0"}))
    )
    registry.publish("dep.two", "2.0.0", make_tarball(package_files("dep.two", "2.0.0")))

    pkgs = _cache(cache_root, registry.url).ensure([SPEC])

    assert [str(p.spec) for p in pkgs] == [SPEC, "dep.one#1.0.0", "dep.two#2.0.0"]
    assert PackageCache(cache_root).get("dep.two", "2.0.0") is not None


def test_missing_dependency_warns_and_is_not_retried_offline(
    registry: FakeRegistry, cache_root: Path, no_npm: None
):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files(deps={"gone.dep": "9.9.9"})))
    registry.server.expect_request("/gone.dep").respond_with_data("no", status=404)
    messages: list[str] = []

    pkgs = _cache(cache_root, registry.url).ensure([SPEC], progress=messages.append)

    assert [str(p.spec) for p in pkgs] == [SPEC]
    warning = [m for m in messages if m.startswith("warning:")]
    assert len(warning) == 1 and "gone.dep#9.9.9" in warning[0] and f"dependency of {SPEC}" in warning[0]
    assert "packages install gone.dep#9.9.9" in warning[0]

    registry.server.clear()
    messages.clear()
    again = _cache(cache_root, registry.url).ensure([SPEC], progress=messages.append)
    assert [str(p.spec) for p in again] == [SPEC]
    assert registry.requests() == [] and messages == []  # remembered: no network, no noise

    _cache(cache_root, registry.url).ensure([SPEC], retry_missing=True)
    assert registry.requests() == ["/gone.dep"]


def test_extensions_ballot_stands_in_for_the_missing_release(
    registry: FakeRegistry, cache_root: Path, no_npm: None, capsys: pytest.CaptureFixture
):
    """hl7.fhir.uv.extensions.r5#5.2.0 is not to be had: 5.3.0-ballot-tc1 is installed in its
    place, used offline afterwards, and `packages list` says which package it stands in for."""
    ext, ballot = EXTENSIONS_R5, EXTENSIONS_R5_BALLOT
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files(deps={ext.name: ext.version})))
    registry.server.expect_request(f"/{ext.name}").respond_with_json(
        {"versions": {ballot.version: {"dist": {}}}}
    )
    registry.publish(ballot.name, ballot.version, make_tarball(package_files(ballot.name, ballot.version)))
    messages: list[str] = []

    pkgs = _cache(cache_root, registry.url).ensure([SPEC], progress=messages.append)

    assert [str(p.spec) for p in pkgs] == [SPEC, str(ballot)]
    assert any(m.startswith("note:") and f"using {ballot} in its place" in m for m in messages)
    registry.server.clear()
    again = _cache(cache_root, registry.url).ensure([SPEC])
    assert [str(p.spec) for p in again] == [SPEC, str(ballot)]
    assert registry.requests() == []

    assert main(["packages", "list", "--cache", str(cache_root), "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[ext.name]["version"] == ballot.version
    assert rows[ext.name]["standsInFor"] == str(ext)
    assert rows[FAKE]["standsInFor"] is None


def test_a_core_package_no_source_has_is_replaced_by_its_stand_in(
    registry: FakeRegistry, cache_root: Path, no_npm: None, capsys: pytest.CaptureFixture
):
    """hl7.fhir.r4.core#4.0.1 is on no reachable source: the R4 examples package (the same official
    definitions) is installed in its place, used offline afterwards, and listed as standing in."""
    r4 = FHIR_VERSIONS["R4"]
    assert r4.core_stand_in is not None
    core, stand_in = PackageSpec(*r4.core), PackageSpec(*r4.core_stand_in)
    assert STAND_INS[core] == (stand_in,)
    registry.server.expect_request(f"/{core.name}").respond_with_data("no", status=404)
    registry.publish(
        stand_in.name, stand_in.version, make_tarball(package_files(*stand_in.dirname.split("#")))
    )
    messages: list[str] = []

    pkgs = _cache(cache_root, registry.url).ensure([core], progress=messages.append)

    assert [p.spec for p in pkgs] == [stand_in]
    assert any(
        m.startswith(f"note: {core} (required) is not available") and f"using {stand_in} in its place" in m
        for m in messages
    )
    registry.server.clear()
    again = _cache(cache_root, registry.url).ensure([core])
    assert [p.spec for p in again] == [stand_in]
    assert registry.requests() == []  # the miss is remembered: no network

    assert main(["packages", "list", "--cache", str(cache_root), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["standsInFor"]) == (stand_in.name, str(core))


def test_a_core_package_fails_when_its_stand_in_is_missing_too(
    registry: FakeRegistry, cache_root: Path, no_npm: None
):
    core = PackageSpec(*FHIR_VERSIONS["R4"].core)
    for spec in (core, *STAND_INS[core]):
        registry.server.expect_request(f"/{spec.name}").respond_with_data("no", status=404)
    with pytest.raises(PackageUnavailableError, match=rf"{re.escape(str(core))} is not in the cache"):
        _cache(cache_root, registry.url).ensure([core])
    with pytest.raises(PackageUnavailableError):  # also when the miss is remembered
        _cache(cache_root, registry.url).ensure([core])


def test_a_dependency_on_another_version_of_a_present_package_is_not_fetched(
    registry: FakeRegistry, cache_root: Path
):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files(deps={"dep.one": "1.0.0"})))
    registry.publish(
        "dep.one", "1.0.0", make_tarball(package_files("dep.one", "1.0.0", deps={FAKE: "0.9.0"}))
    )
    messages: list[str] = []

    pkgs = _cache(cache_root, registry.url).ensure([SPEC], progress=messages.append)

    assert [str(p.spec) for p in pkgs] == [SPEC, "dep.one#1.0.0"]
    assert not [m for m in messages if m.startswith("warning:")]


def test_broken_copy_in_cache_is_replaced(registry: FakeRegistry, cache_root: Path):
    broken = cache_root / f"{FAKE}#{FAKE_VERSION}" / "package"
    broken.mkdir(parents=True)
    (broken / "half-written.json").write_text("{")
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))

    pkg = _cache(cache_root, registry.url).ensure([SPEC])[0]

    assert (pkg.path / "package.json").is_file()
    assert not (pkg.path / "half-written.json").exists()
    assert leftovers(cache_root) == [f"{FAKE}#{FAKE_VERSION}"]


def test_registry_without_hash_installs_but_records_it(registry: FakeRegistry, cache_root: Path):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()), integrity=None, shasum=None)
    pkg = _cache(cache_root, registry.url).ensure([SPEC])[0]
    assert pkg.install_record["verified_with"].startswith("none")


def test_package_copied_in_by_hand_without_index_gets_one(cache_root: Path, no_npm: None):
    pkg_dir = cache_root / f"{FAKE}#{FAKE_VERSION}" / "package"
    pkg_dir.mkdir(parents=True)
    for path, data in package_files().items():
        (pkg_dir.parent / path).write_bytes(data)
    cache = PackageCache(cache_root, registry_url="off", use_npm=False)

    pkg = cache.ensure([SPEC])[0]

    assert pkg.source == "unknown"
    assert {e["resourceType"] for e in pkg.index} == {"StructureDefinition", "ValueSet"}
    assert (pkg_dir / ".index.json").is_file()


def test_installed_lists_packages_and_ignores_foreign_entries(registry: FakeRegistry, cache_root: Path):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))
    cache = _cache(cache_root, registry.url)
    cache.ensure([SPEC])
    (cache_root / "packages.ini").write_text("[cache]\n")
    (cache_root / "not-a-package").mkdir()
    (cache_root / "half#1.0.0").mkdir()

    assert [str(p.spec) for p in PackageCache(cache_root).installed()] == [SPEC]


def test_copy_installed_meanwhile_by_another_process_is_kept(
    registry: FakeRegistry, cache_root: Path, monkeypatch: pytest.MonkeyPatch
):
    registry.publish(FAKE, FAKE_VERSION, make_tarball(package_files()))
    cache = _cache(cache_root, registry.url)
    real_unpack = cache._unpack_and_commit

    def racing_unpack(spec, fetched, work):  # the other process finishes first
        other = cache_root / spec.dirname / "package"
        other.mkdir(parents=True)
        for path, data in package_files().items():
            (other.parent / path).write_bytes(data)
        (other / "marker-from-other-process").write_text("x")
        return real_unpack(spec, fetched, work)

    monkeypatch.setattr(cache, "_unpack_and_commit", racing_unpack)
    pkg = cache.ensure([SPEC])[0]

    assert (pkg.path / "marker-from-other-process").is_file()
    assert leftovers(cache_root) == [f"{FAKE}#{FAKE_VERSION}"]
