"""Safe extraction of package tarballs and normalisation to the ``package/`` layout."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO

from evidence_publisher.packages.errors import MalformedPackageError, UnsafeArchiveError

_CHUNK = 1 << 20


def _safe_relative(name: str, *, archive: str) -> PurePosixPath | None:
    """The member's path relative to the extraction root, or None for the root itself."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} has an absolute path; refusing to unpack",
            details=["a FHIR package holds only relative paths under package/"],
        )
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} contains '..' (path traversal); refusing to unpack",
            details=["a FHIR package holds only relative paths under package/"],
        )
    return PurePosixPath(*parts) if parts else None


def _write_member(src: IO[bytes], target: Path) -> None:
    with target.open("wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)


def extract_tarball(tar_path: Path, dest: Path) -> int:
    """Unpack a gzip (or plain) tarball into ``dest``; return the number of files written.

    Every member is checked before anything is written for it: absolute paths, ``..`` and
    links or devices are rejected with ``UnsafeArchiveError``. ``dest`` must be a scratch
    directory; the caller removes it on failure.
    """
    label = tar_path.name
    count = 0
    try:
        tf = tarfile.open(tar_path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise MalformedPackageError(
            f"{label}: not a readable tar archive ({exc})",
            details=["the download may be truncated; run the install again"],
        ) from exc
    with tf:
        try:
            for member in tf:
                rel = _safe_relative(member.name, archive=label)
                if rel is None:
                    continue
                if member.issym() or member.islnk():
                    raise UnsafeArchiveError(
                        f"{label}: member {member.name!r} is a link to {member.linkname!r}; "
                        "refusing to unpack",
                        details=["FHIR packages contain only regular files and folders"],
                    )
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise UnsafeArchiveError(
                        f"{label}: member {member.name!r} is not a regular file; refusing to unpack",
                        details=["FHIR packages contain only regular files and folders"],
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isfile() members always have data
                    continue
                with src:
                    _write_member(src, target)
                count += 1
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise MalformedPackageError(
                f"{label}: the archive is damaged ({exc})",
                details=["the download may be truncated; run the install again"],
            ) from exc
    return count


def normalise_layout(root: Path) -> Path:
    """Arrange an unpacked tarball as ``root/package/...`` and return the ``package`` dir.

    npm tarballs already have ``package/``; some registries put files at the top level, or
    put folders such as ``example/`` or ``other/`` beside ``package/``. Those move inside.
    """
    package = root / "package"
    entries = [p for p in root.iterdir() if p.name != "package"]
    if not package.is_dir():
        if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "package.json").is_file():
            entries[0].rename(package)
            return package
        package.mkdir()
    for entry in entries:
        target = package / entry.name
        if target.exists():
            if entry.is_dir() and target.is_dir():
                _merge_dirs(entry, target)
                continue
            raise MalformedPackageError(
                f"unpacked package has both {entry.name!r} and package/{entry.name!r}",
                details=["the tarball layout is ambiguous; it is not installed"],
            )
        entry.rename(target)
    return package


def _merge_dirs(src: Path, dst: Path) -> None:
    for child in src.iterdir():
        target = dst / child.name
        if target.exists():
            if child.is_dir() and target.is_dir():
                _merge_dirs(child, target)
                continue
            raise MalformedPackageError(
                f"unpacked package has {child.name!r} twice (in {src.name}/ and package/)",
                details=["the tarball layout is ambiguous; it is not installed"],
            )
        child.rename(target)
    src.rmdir()
