"""Writing the site with the build's output rules (``evidence_publisher.output``): ``--out SITE`` is
replaced as a whole, so it must be new, empty, or hold exactly a previous site, recognised by its
``site.json`` marker listing the files it wrote. The current directory, the home directory and the
build output the site is made from (or a directory inside or around it) are refused before anything
is written; the temporary directory never survives a failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from evidence_publisher import jsonio
from evidence_publisher.errors import EvidencePublisherError, UnsafeOutputError
from evidence_publisher.output import OutputKind, Protected, check_out_dir, write_atomically
from evidence_publisher.site.render import MARKER_FILE, SITE_FORMAT_VERSION, SITE_KIND

_SHOWN = 6
_MARKER_MAX_BYTES = 16 * 1024 * 1024


def protected_places(inputs: Iterable[Path]) -> list[Protected]:
    """The current directory, home, and the build output(s) the site is made from."""
    found = [Protected("the current directory", Path.cwd())]
    try:
        found.append(Protected("your home directory", Path.home()))
    except RuntimeError:  # no HOME and no passwd entry
        pass
    found += [Protected("the build output the site is made from", p, inside_too=True) for p in inputs]
    return found


def _marker_problem(target: Path) -> tuple[str | None, set[str]]:
    marker = target / MARKER_FILE
    if not marker.is_file() or marker.is_symlink():
        return f"it has no {MARKER_FILE} marker", set()
    try:
        doc = jsonio.parse_untrusted(marker.read_bytes(), str(marker), max_bytes=_MARKER_MAX_BYTES).value
    except (OSError, ValueError, EvidencePublisherError):
        doc = None
    if not isinstance(doc, dict) or doc.get("kind") != SITE_KIND:
        return f'its {MARKER_FILE} has no "kind": "{SITE_KIND}" marker', set()
    if doc.get("format_version") != SITE_FORMAT_VERSION:
        return f"its {MARKER_FILE} has format_version {doc.get('format_version')!r}", set()
    return None, {f for f in doc.get("files", []) if isinstance(f, str)}


def _check_previous_site(shown: str, target: Path) -> None:
    """Accept an empty directory or exactly a previous site; refuse anything else, saying what is there."""
    entries = sorted(
        p.relative_to(target).as_posix() for p in target.rglob("*") if not p.is_dir() or p.is_symlink()
    )
    if not entries:
        return
    problem, listed = _marker_problem(target)
    strangers = [e for e in entries if e not in listed or (target / e).is_symlink()]
    if problem is None and not strangers:
        return
    if problem is None:
        more = len(strangers) - _SHOWN
        problem = f"it holds files a site did not write: {', '.join(strangers[:_SHOWN])}" + (
            f" and {more} more" if more > 0 else ""
        )
    raise UnsafeOutputError(
        f"--out {shown!r} is not a new or empty directory nor a previous site: {problem}",
        details=["choose a new or empty directory, or move those files away"],
    )


SITE = OutputKind("site", "--out site", "the build output", _check_previous_site)


def check_site_dir(out: Path, protected: Iterable[Protected] = ()) -> Path:
    return check_out_dir(out, protected, SITE)


def write_site(out: Path, files: dict[str, str], protected: Iterable[Protected] = ()) -> Path:
    """Write ``files`` as the directory ``out`` (replacing a previous site), or raise and change nothing."""
    return write_atomically(out, files, protected, kind=SITE)
