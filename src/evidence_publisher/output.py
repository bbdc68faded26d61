"""Writing the build output without ever deleting anything the build did not create.

``--out DIR`` is written as a whole: the files go to a temporary directory beside DIR, which then
replaces DIR. So DIR must be new, empty, or hold exactly a previous build: the entries a build writes
and a ``build-report.json`` carrying the marker below. Anything else (a file, a checkout, a mapping
directory, a build with a user's file added) is refused before anything is written, as is a DIR that
is, contains or (for mapping and source directories) lies inside a directory the user needs.

The temporary directory never survives a failure, Ctrl-C or SIGTERM, and the written directory gets
the permissions the umask allows (``mkdtemp`` alone would make it 0700).

The same rules serve other whole-directory outputs (the static site, ``site/output.py``): an
``OutputKind`` names what is written and how a previous one is recognised.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evidence_publisher.errors import EvidencePublisherError, UnsafeOutputError, WriteError
from evidence_publisher.interrupts import SignalGuard, signal_guard
from evidence_publisher.jsonio import parse_untrusted
from evidence_publisher.output_inplace import UpdateCounts, update_in_place
from evidence_publisher.update_journal import JOURNAL

BUILD_KIND = "evidence-publisher-build"
FORMAT_VERSION = 1
REPORT_FILE = "build-report.json"
BUILD_LAYOUT = "resources/, ndjson/, bundle-*.json and build-report.json"
# A report up to this size is parsed whole; a larger one (a build of thousands of studies: about
# 36 MB per 1,000) is recognised by its top-level lines, read in blocks, so that replacing it needs
# neither its size in memory nor a limit it could outgrow.
_REPORT_PARSE_BYTES = 32 * 1024 * 1024
_REPORT_BLOCK = 1024 * 1024
_SHOWN_ENTRIES = 6


@dataclass(frozen=True)
class OutputKind:
    """What ``--out`` receives: its name in messages, an example, and the check that accepts an empty
    directory or a previous output of this kind (it raises ``UnsafeOutputError`` otherwise)."""

    noun: str
    example: str  # e.g. "--out dist"
    inputs: str  # what the output must stay out of, e.g. "the mappings and sources"
    check_previous: Callable[[str, Path], None]


@dataclass(frozen=True)
class Protected:
    """A directory the output must not be, contain, or (if ``inside_too``) lie inside."""

    label: str
    path: Path
    inside_too: bool = False


def build_marker() -> dict:
    """The keys that make a ``build-report.json`` recognisable as ours."""
    return {"kind": BUILD_KIND, "format_version": FORMAT_VERSION}


def protected_dirs(mapping_paths: Iterable[Path], sources_dir: Path | None = None) -> list[Protected]:
    """The current directory, home, and the mapping and source directories.

    A checkout or any other directory of the user's is protected by the content rule too: it holds
    entries that a build does not write.
    """
    cwd = Path.cwd()
    found = [Protected("the current directory", cwd)]
    try:
        found.append(Protected("your home directory", Path.home()))
    except RuntimeError:  # no HOME and no passwd entry
        pass
    for path in mapping_paths:
        if path.is_dir():
            found.append(Protected("a mapping directory", path, inside_too=True))
        else:  # a file named on its own: its folder may hold the output, never be replaced by it
            found.append(Protected("the directory of a mapping file", path.parent))
    if sources_dir is not None:
        found.append(Protected("the source documents directory", sources_dir, inside_too=True))
    return found


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_out_dir(out: Path, protected: Iterable[Protected] = (), kind: OutputKind | None = None) -> Path:
    """The real path to write the output to; ``UnsafeOutputError`` if replacing ``out`` could lose files."""
    kind = kind or BUILD
    shown = str(out)
    if os.path.islink(out) and not out.exists():
        raise UnsafeOutputError(
            f"--out {shown!r} is a symbolic link to {os.readlink(out)!r}, which does not exist",
            details=["give a directory, or remove the link"],
        )
    target = _real(out)
    _check_against(shown, target, protected, kind)
    if not target.exists():
        return target
    if not target.is_dir():
        what = "a file" if target.is_file() else "not a directory"
        raise UnsafeOutputError(
            f"--out {shown!r} is {what}; the {kind.noun} writes a directory and never replaces a file",
            details=[f"choose a directory name that is new, e.g. {kind.example}"],
        )
    kind.check_previous(shown, target)
    return target


def _check_against(shown: str, target: Path, protected: Iterable[Protected], kind: OutputKind) -> None:
    for item in protected:
        place = _real(item.path)
        if target == place:
            problem = f"is {item.label}"
        elif place.is_relative_to(target):
            problem = f"contains {item.label} ({place})"
        elif item.inside_too and target.is_relative_to(place):
            problem = f"is inside {item.label} ({place})"
        else:
            continue
        raise UnsafeOutputError(
            f"--out {shown!r} {problem}; the {kind.noun} replaces its output directory as a whole, "
            f"so it must be a new directory or a previous {kind.noun}",
            details=[f"choose a new directory outside {kind.inputs}, e.g. {kind.example}"],
        )


_TOP_LEVEL = re.compile(rb'^  "(kind|format_version)": (.*?),?$', re.MULTILINE)


def _marker_lines(report: Path) -> dict:
    """The marker keys of a large report as the build writes it (canonical JSON indented by two
    spaces: a top-level member is a line starting with exactly two spaces and a quote); raises
    ``ValueError`` when the file does not start as a JSON object."""
    found: dict = {}
    with report.open("rb") as handle:
        if handle.read(2) != b"{\n":
            raise ValueError("not a JSON object written by a build")
        rest = b""
        while block := handle.read(_REPORT_BLOCK):
            lines = rest + block
            cut = lines.rfind(b"\n") + 1
            lines, rest = lines[:cut], lines[cut:]
            for match in _TOP_LEVEL.finditer(lines):
                found.setdefault(match.group(1).decode(), json.loads(match.group(2)))
            if len(found) == 2:
                break
    return found


def _check_previous_build(shown: str, target: Path) -> None:
    """Accept an empty directory or exactly a previous build; refuse anything else, saying what is there."""
    entries = sorted(target.iterdir(), key=lambda p: p.name)
    if not entries:
        return
    strangers = [_label(p) for p in entries if not _is_build_entry(p)]
    for folder, suffix in (("resources", ".json"), ("ndjson", ".ndjson")):
        sub = target / folder
        if sub.is_dir() and not sub.is_symlink():
            # by name and d_type (no stat, no Path per entry): a large build has 350,000 files here
            with os.scandir(sub) as found:
                odd = sorted(
                    e.name
                    for e in found
                    if os.path.splitext(e.name)[1] != suffix or not e.is_file(follow_symlinks=False)
                )
            strangers += [f"{folder}/{_label(sub / name)}" for name in odd]
    if strangers:
        listed = ", ".join(strangers[:_SHOWN_ENTRIES])
        more = len(strangers) - _SHOWN_ENTRIES
        raise UnsafeOutputError(
            f"--out {shown!r} is a directory that does not hold only a previous build: it contains "
            f"{listed}{f' and {more} more' if more > 0 else ''}",
            details=[
                f"the build replaces only a directory holding exactly what a build writes ({BUILD_LAYOUT})",
                "choose a new or empty directory, or move those entries away",
            ],
        )
    problem = _report_problem(target / REPORT_FILE)
    if problem:
        raise UnsafeOutputError(
            f"--out {shown!r} looks like build output, but {problem}",
            details=[
                "it is left alone because it cannot be recognised as a build of this tool; "
                f"if it is only build output, delete it yourself (rm -r {shown}) or choose another --out",
            ],
        )


BUILD = OutputKind("build", "--out dist", "the mappings and sources", _check_previous_build)


def _label(path: Path) -> str:
    if path.is_symlink():
        return f"{path.name} (a symbolic link)"
    return f"{path.name}/" if path.is_dir() else path.name


def _is_file(path: Path, suffix: str) -> bool:
    return path.suffix == suffix and path.is_file() and not path.is_symlink()


def _is_build_entry(path: Path) -> bool:
    if path.is_symlink():
        return False
    if path.name in ("resources", "ndjson"):
        return path.is_dir()
    if path.name in (REPORT_FILE, JOURNAL):  # the journal of an interrupted update: the build finishes it
        return path.is_file()
    return path.name.startswith("bundle-") and _is_file(path, ".json")


def _report_problem(report: Path) -> str | None:
    """Why ``report`` is not the report of a build this version can replace, or None if it is."""
    if not report.is_file():
        return f"it has no {REPORT_FILE}"
    try:
        if report.stat().st_size > _REPORT_PARSE_BYTES:
            doc = _marker_lines(report)
        else:
            doc = parse_untrusted(report.read_bytes(), str(report), max_bytes=_REPORT_PARSE_BYTES).value
    except (OSError, ValueError, EvidencePublisherError):
        return f"its {REPORT_FILE} cannot be read as JSON"
    if not isinstance(doc, dict) or doc.get("kind") != BUILD_KIND:
        return (
            f'its {REPORT_FILE} has no "kind": "{BUILD_KIND}" marker '
            "(a build from an older evidence-publisher, or not a build)"
        )
    if doc.get("format_version") != FORMAT_VERSION:
        return (
            f"its {REPORT_FILE} has format_version {doc.get('format_version')!r}; "
            f"this version writes and replaces format_version {FORMAT_VERSION}"
        )
    return None


# relative path -> text, or (relative path, text, its UTF-8 bytes or text in pieces) pairs written
# in the order given
Files = Mapping[str, str] | Iterable[tuple[str, "str | bytes | Iterable[str]"]]


def write_atomically(
    out_dir: Path,
    files: Files,
    protected: Iterable[Protected] = (),
    on_file: Callable[[int], None] = lambda _done: None,
    kind: OutputKind | None = None,
) -> Path:
    """Write ``files`` as the directory ``out_dir``, or raise and change nothing.

    ``files`` maps relative paths to text (written in path order), or yields (relative path, text)
    pairs, the text possibly in pieces, so that a large output is made as it is written.

    Returns the real path written. SIGINT or SIGTERM during the write ends it (as ``KeyboardInterrupt``
    or ``Terminated``) with the temporary directory removed and ``out_dir`` as it was; the creation of
    the temporary directory, the final renames and the clean-up run with signals held back.
    """
    kind = kind or BUILD
    target = check_out_dir(out_dir, protected, kind)
    try:
        with signal_guard() as guard:
            _write(target, files, on_file, guard)
    except OSError as exc:
        raise WriteError(f"could not write the {kind.noun} to {target}: {exc}") from exc
    return target


def write_build(out_dir: Path, files: Files, protected: Iterable[Protected] = ()) -> UpdateCounts | None:
    """Write a build's output: as ``write_atomically`` into a new or empty directory, or as an update
    of the previous build there (``output_inplace.py``), whose counts are returned."""
    target = check_out_dir(out_dir, protected, BUILD)
    if not target.is_dir() or not any(target.iterdir()):
        write_atomically(out_dir, files, protected)
        return None
    pairs = sorted(files.items()) if isinstance(files, Mapping) else files
    try:
        with signal_guard() as guard:
            return update_in_place(target, pairs, guard, write_file)
    except OSError as exc:
        details = []
        if (target / JOURNAL).exists():
            details.append(
                "the update stopped after it started moving files in; "
                f"the next build to --out {str(out_dir)!r} finishes it"
            )
        raise WriteError(f"could not update the build in {target}: {exc}", details=details) from exc


def _write(target: Path, files: Files, on_file: Callable[[int], None], guard: SignalGuard) -> None:
    tmp: Path | None = None
    try:
        with guard.held():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
            tmp.chmod(0o777 & ~_umask())
        pairs = sorted(files.items()) if isinstance(files, Mapping) else files
        made = {tmp}  # folders made: resources/ holds a build's every resource
        for done, (rel, text) in enumerate(pairs, 1):
            path = tmp / rel
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            write_file(path, text)
            on_file(done)
        with guard.held():
            _replace(target, tmp)
            tmp = None
    finally:
        if tmp is not None:
            with guard.held():
                shutil.rmtree(tmp, ignore_errors=True)


def write_file(path: Path, text: str | bytes | Iterable[str]) -> None:
    """One output file, its folder made already (a module-level function so that tests can slow
    the write down)."""
    if isinstance(text, bytes):
        path.write_bytes(text)
        return
    with path.open("w", encoding="utf-8") as handle:
        if isinstance(text, str):
            handle.write(text)
        else:
            handle.writelines(text)


def _replace(target: Path, new: Path) -> None:
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{new.name.rsplit('-', 1)[-1]}")
        target.rename(old)
    try:
        new.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        remove_replaced(old)


_REMOVERS = 8  # threads unlinking: on ext4, 8 took a quarter of rmtree's time for 35,260 files


def remove_replaced(old: Path) -> None:
    """Delete a replaced output directory (errors ignored, as ``shutil.rmtree(ignore_errors=True)``).

    The files of its folders are unlinked by several threads first (the kernel's work, done with
    the GIL released): one by one, the 350,000 files of a 10,000-study build took about 50 s. A
    folder is opened without following a symbolic link, and only what is not a directory is
    unlinked in it; ``shutil.rmtree`` then removes whatever is left.
    """
    try:
        with ThreadPoolExecutor(_REMOVERS) as pool:
            for folder in (old / "resources", old / "ndjson", old):
                try:
                    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                except OSError:
                    continue  # gone, or not a folder: left to rmtree
                try:
                    with os.scandir(fd) as entries:
                        names = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
                    parts = [names[i::_REMOVERS] for i in range(_REMOVERS)]
                    list(pool.map(functools.partial(_unlink_all, fd), parts))
                finally:
                    os.close(fd)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _unlink_all(folder_fd: int, names: list[str]) -> None:
    for name in names:
        try:
            os.unlink(name, dir_fd=folder_fd)
        except OSError:
            pass  # left to rmtree, which ignores what it cannot remove


def _umask() -> int:
    mask = os.umask(0o077)  # reading the umask means setting it; restore at once
    os.umask(mask)
    return mask
