"""Safe extraction of package tarballs and normalisation to the ``package/`` layout."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

from evidence_publisher.packages.errors import MalformedPackageError, UnsafeArchiveError

_SAFE = "a FHIR package holds only regular files and folders, with relative paths under package/"


def _unsafe(label: str, member: tarfile.TarInfo, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{label}: member {member.name!r} {why}; refusing to unpack", details=[_SAFE])


def _member_filter(label: str) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo]:
    """tarfile's ``data`` extraction filter, stricter where a FHIR package allows less: no link of
    any kind and no absolute path (``data`` would accept links that stay inside ``dest`` and strip a
    leading ``/``)."""

    def accept(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        if member.issym() or member.islnk():
            raise _unsafe(label, member, f"is a link to {member.linkname!r}")
        name = member.name.replace("\\", "/")
        if name.startswith("/") or name[1:2] == ":":
            raise _unsafe(label, member, "has an absolute path")
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.OutsideDestinationError:
            raise _unsafe(label, member, "contains '..' that leaves the package (path traversal)") from None
        except tarfile.SpecialFileError:
            raise _unsafe(label, member, "is not a regular file") from None
        except tarfile.FilterError as exc:
            raise _unsafe(label, member, f"is refused by the data filter ({exc})") from None

    return accept


def extract_tarball(tar_path: Path, dest: Path) -> int:
    """Unpack a gzip (or plain) tarball into ``dest``; return the number of files written.

    Every member passes the extraction filter before anything is written for it: links, devices,
    absolute paths and paths leaving ``dest`` raise ``UnsafeArchiveError``. ``dest`` must be a
    scratch directory; the caller removes it on failure.
    """
    label = tar_path.name
    try:
        tf = tarfile.open(tar_path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise MalformedPackageError(
            f"{label}: not a readable tar archive ({exc})",
            details=["the download may be truncated; run the install again"],
        ) from exc
    with tf:
        try:
            members = tf.getmembers()
            # every member passes _member_filter: tarfile's data filter, made stricter
            tf.extractall(dest, members=members, filter=_member_filter(label))  # noqa: S202
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise MalformedPackageError(
                f"{label}: the archive is damaged ({exc})",
                details=["the download may be truncated; run the install again"],
            ) from exc
    return sum(1 for m in members if m.isfile())


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
