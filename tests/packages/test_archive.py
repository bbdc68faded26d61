"""Tarball safety and layout normalisation."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from evidence_publisher.errors import ExitCode
from evidence_publisher.packages import PackageCache, UnsafeArchiveError
from evidence_publisher.packages.archive import extract_tarball, normalise_layout

from .conftest import FAKE, FAKE_VERSION, FakeRegistry, leftovers, make_tarball, package_files

SPEC = f"{FAKE}#{FAKE_VERSION}"


def _add(tf: tarfile.TarFile, name: str, data: bytes = b"{}", **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if info.isfile() else None)


@pytest.mark.parametrize(
    ("member", "attrs", "reason"),
    [
        ("package/../../escaped.json", {}, "path traversal"),
        ("../escaped.json", {}, "path traversal"),
        ("/tmp/escaped.json", {}, "absolute path"),
        ("package/link.json", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "is a link"),
        ("package/hard.json", {"type": tarfile.LNKTYPE, "linkname": "package/package.json"}, "is a link"),
        ("package/fifo", {"type": tarfile.FIFOTYPE}, "not a regular file"),
    ],
)
def test_unsafe_members_are_rejected(
    registry: FakeRegistry, cache_root: Path, tmp_path: Path, member: str, attrs: dict, reason: str
):
    tarball = make_tarball(package_files(), extra=lambda tf: _add(tf, member, **attrs))
    registry.publish(FAKE, FAKE_VERSION, tarball)
    cache = PackageCache(cache_root, registry_url=registry.url, use_npm=False)

    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        cache.ensure([SPEC])

    assert info.value.exit_code == ExitCode.PACKAGE_INTEGRITY
    assert member in info.value.message
    assert leftovers(cache_root) == []
    assert not (tmp_path / "escaped.json").exists()
    assert not (cache_root.parent / "escaped.json").exists()


def test_extract_counts_files_and_keeps_content(tmp_path: Path):
    tar = tmp_path / "p.tgz"
    tar.write_bytes(make_tarball(package_files()))
    dest = tmp_path / "out"
    dest.mkdir()
    assert extract_tarball(tar, dest) == 3
    assert json.loads((dest / "package" / "package.json").read_text())["name"] == FAKE


def test_truncated_tarball_is_reported_as_damaged(tmp_path: Path):
    tar = tmp_path / "p.tgz"
    tar.write_bytes(make_tarball(package_files())[:60])
    dest = tmp_path / "out"
    dest.mkdir()
    from evidence_publisher.packages import MalformedPackageError

    with pytest.raises(MalformedPackageError):
        extract_tarball(tar, dest)


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_stray_top_level_folders_move_into_package(tmp_path: Path):
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "package.json").write_text("{}")
    (tmp_path / "example").mkdir()
    (tmp_path / "example" / "Patient-1.json").write_text("{}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "spec.internals").write_text("x")

    assert normalise_layout(tmp_path) == tmp_path / "package"
    assert _tree(tmp_path) == {
        "package/package.json",
        "package/example/Patient-1.json",
        "package/other/spec.internals",
    }


def test_files_at_top_level_move_into_package(tmp_path: Path):
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "ValueSet-x.json").write_text("{}")
    normalise_layout(tmp_path)
    assert _tree(tmp_path) == {"package/package.json", "package/ValueSet-x.json"}


def test_single_named_folder_becomes_package(tmp_path: Path):
    (tmp_path / "hl7.fhir.fake").mkdir()
    (tmp_path / "hl7.fhir.fake" / "package.json").write_text("{}")
    normalise_layout(tmp_path)
    assert _tree(tmp_path) == {"package/package.json"}


def test_package_without_package_folder_installs(registry: FakeRegistry, cache_root: Path):
    flat = {path.removeprefix("package/"): data for path, data in package_files().items()}
    registry.publish(FAKE, FAKE_VERSION, make_tarball(flat))
    pkg = PackageCache(cache_root, registry_url=registry.url, use_npm=False).ensure([SPEC])[0]
    assert (pkg.path / "package.json").is_file()
    assert len(pkg.index) == 2
