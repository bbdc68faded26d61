"""Writing the site without ever deleting anything the site command did not create.

``--out SITE`` is written as a whole: the files go to a temporary directory beside SITE, which then
replaces SITE. So SITE must be new, empty, or hold exactly a previous site: a ``site.json`` marker
listing the files it wrote, and nothing else. A file, a checkout, the build output the site is made
from (or a directory inside or around it), the current directory and the home directory are refused
before anything is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from evidence_publisher import jsonio
from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.site.render import MARKER_FILE, SITE_FORMAT_VERSION, SITE_KIND

_SHOWN = 6


class SiteWriteError(EvidencePublisherError):
    """The file system refused the write; the previous site is intact."""

    exit_code = ExitCode.WRITE_FAILED


class UnsafeSiteOutput(EvidencePublisherError):
    """``--out`` names a place that replacing would lose files the site command did not create."""

    exit_code = ExitCode.WRITE_FAILED


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def protected_places(inputs: Iterable[Path]) -> list[tuple[str, Path, bool]]:
    """(label, path, also refuse anything inside it)."""
    found = [("the current directory", Path.cwd(), False)]
    try:
        found.append(("your home directory", Path.home(), False))
    except RuntimeError:  # no HOME and no passwd entry
        pass
    found += [("the build output the site is made from", p, True) for p in inputs]
    return found


def check_site_dir(out: Path, protected: Iterable[tuple[str, Path, bool]] = ()) -> Path:
    shown = str(out)
    if os.path.islink(out) and not out.exists():
        raise UnsafeSiteOutput(
            f"--out {shown!r} is a symbolic link to {os.readlink(out)!r}, which does not exist"
        )
    target = _real(out)
    for label, path, inside_too in protected:
        place = _real(path)
        if target == place:
            problem = f"is {label}"
        elif place.is_relative_to(target):
            problem = f"contains {label} ({place})"
        elif inside_too and target.is_relative_to(place):
            problem = f"is inside {label} ({place})"
        else:
            continue
        raise UnsafeSiteOutput(
            f"--out {shown!r} {problem}; the site replaces its output directory as a whole",
            details=["choose a new directory, e.g. --out site"],
        )
    if not target.exists():
        return target
    if not target.is_dir():
        raise UnsafeSiteOutput(
            f"--out {shown!r} is a file; the site is a directory and never replaces a file"
        )
    _check_previous_site(shown, target)
    return target


def _check_previous_site(shown: str, target: Path) -> None:
    entries = sorted(
        p.relative_to(target).as_posix() for p in target.rglob("*") if not p.is_dir() or p.is_symlink()
    )
    if not entries:
        return
    marker = target / MARKER_FILE
    listed: set[str] = set()
    problem = None
    if not marker.is_file() or marker.is_symlink():
        problem = f"it has no {MARKER_FILE} marker"
    else:
        try:
            doc = jsonio.parse_untrusted(marker.read_bytes(), str(marker), max_bytes=16 * 1024 * 1024).value
        except (OSError, ValueError, EvidencePublisherError):
            doc = None
        if not isinstance(doc, dict) or doc.get("kind") != SITE_KIND:
            problem = f'its {MARKER_FILE} has no "kind": "{SITE_KIND}" marker'
        elif doc.get("format_version") != SITE_FORMAT_VERSION:
            problem = f"its {MARKER_FILE} has format_version {doc.get('format_version')!r}"
        else:
            listed = {f for f in doc.get("files", []) if isinstance(f, str)}
    strangers = [e for e in entries if e not in listed or (target / e).is_symlink()]
    if problem is None and not strangers:
        return
    if problem is None:
        listed_text = ", ".join(strangers[:_SHOWN]) + (
            f" and {len(strangers) - _SHOWN} more" if len(strangers) > _SHOWN else ""
        )
        problem = f"it holds files a site did not write: {listed_text}"
    raise UnsafeSiteOutput(
        f"--out {shown!r} is not a new or empty directory nor a previous site: {problem}",
        details=["choose a new or empty directory, or move those files away"],
    )


def write_site(out: Path, files: dict[str, str], protected: Iterable[tuple[str, Path, bool]] = ()) -> Path:
    """Write ``files`` as the directory ``out`` (replacing a previous site), or raise and change nothing."""
    target = check_site_dir(out, protected)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o777 & ~_umask())
        for rel, text in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            target.rename(old)
        tmp.rename(target)
        tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise SiteWriteError(f"could not write the site to {target}: {exc}") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
