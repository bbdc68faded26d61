"""Reading resources to validate: JSON (a resource or a Bundle), NDJSON, directories, stdin (``-``).

Everything read here is untrusted: files are read within ``limits.JSON_FILE_BYTES`` and parsed
with ``jsonio.parse_untrusted`` (nesting within ``limits.NESTING_DEPTH``; duplicate keys are
reported, not silently resolved). A build output directory (recognised by its build report) is
read once: its ``resources/`` files, not the Bundles and NDJSON that repeat them.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from evidence_publisher import jsonio
from evidence_publisher.errors import InputLimitError
from evidence_publisher.limits import JSON_FILE_BYTES, current, read_at_most
from evidence_publisher.update_journal import refuse_interrupted
from evidence_publisher.validate.errors import InputNotFoundError, NoResourcesError
from evidence_publisher.validate.spill import Paths, Store, sort_key

SUFFIXES = (".json", ".ndjson", ".jsonl")
STDIN = "-"
STDIN_LABEL = "<stdin>"
BUILD_REPORT = "build-report.json"
# files of a build output that repeat what resources/ holds
_BUILD_COPIES = ("bundle-transaction.json", "bundle-collection.json", "ndjson", BUILD_REPORT)


@dataclass
class InputDocument:
    """One parsed JSON document (or the reason it could not be parsed)."""

    source: str  # "path" or "path:line" for NDJSON
    resource: Any = None
    error: str | None = None
    duplicate_keys: list[str] = field(default_factory=list)  # paths such as "entry[0].resource.id"


FileGroup = Paths | list[tuple[str, bool]]  # (file, named explicitly), in the order to read them


@dataclass
class InputPlan:
    """What to read: groups of files validated together (references resolve inside a group).

    The files of a large directory are kept in a temporary file (``spill.Paths``): ``close``
    deletes it.
    """

    groups: list[FileGroup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader decided, for the user
    store: Store = field(default_factory=Store)

    @property
    def files(self) -> list[tuple[Path, bool]]:
        return [(Path(f), explicit) for group in self.groups for f, explicit in group]

    def close(self) -> None:
        self.store.close()


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus every *.json / *.ndjson under named directories (sorted)."""
    plan = plan_inputs(paths)
    try:
        return [p for p, _explicit in plan.files]
    finally:
        plan.close()


def check_inputs(paths: Iterable[str | Path]) -> None:
    """Raise as ``plan_inputs`` does (a path missing, nothing to read), holding nothing."""
    plan_inputs(paths).close()


def plan_inputs(paths: Iterable[str | Path]) -> InputPlan:
    """Expand the paths given to ``validate``; raise when one is missing or none holds input."""
    plan = InputPlan()
    try:
        _plan(paths, plan)
    except BaseException:
        plan.close()
        raise
    return plan


def _plan(paths: Iterable[str | Path], plan: InputPlan) -> None:
    for raw in paths:
        p = Path(raw)
        if str(raw) == STDIN:
            plan.groups.append([(STDIN, True)])
        elif p.is_dir():
            _plan_directory(p, plan)
        elif p.exists():
            plan.groups.append([(str(p), True)])  # a regular file, or a pipe such as <(cat x.json)
        elif p.is_symlink():
            raise InputNotFoundError(
                f"{str(p)!r} is a symbolic link {_broken_link(p)}",
                details=["point the link at a JSON or NDJSON file, or give the file itself"],
            )
        else:
            raise InputNotFoundError(
                f"{str(p)!r} does not exist",
                details=["give JSON or NDJSON files, or directories containing them"],
            )
    if not plan.groups:
        raise NoResourcesError(
            "nothing to validate: " + "; ".join(_what_is_in(Path(r)) for r in paths),
            details=["give JSON (.json) or NDJSON (.ndjson, .jsonl) files, or directories containing them"],
        )


def is_build_output(directory: Path) -> bool:
    """True for a directory written by ``build`` (a build report listing resources, resources/)."""
    report_path = directory / BUILD_REPORT
    if not report_path.is_file() or not (directory / "resources").is_dir():
        return False
    try:
        report = jsonio.loads_untrusted(_read_limited(report_path), str(report_path))
    except (OSError, ValueError, InputLimitError):
        return False
    resources = report.get("resources") if isinstance(report, dict) else None
    return isinstance(resources, list) and all(isinstance(r, dict) and "id" in r for r in resources)


def _plan_directory(directory: Path, plan: InputPlan) -> None:
    """Each file of ``directory`` on its own, or, for a build output, its resources/ files
    together (and the other files on their own, but the copies of resources/)."""
    refuse_interrupted(directory)
    together = Paths(plan.store)
    alone = Paths(plan.store)
    build = is_build_output(directory)
    for path, parts in _scan(directory):
        key = sort_key(parts)
        if not build:
            alone.add(path, False, key)
        elif parts[0] == "resources":
            together.add(path, False, key)
        elif parts[0] not in _BUILD_COPIES:
            alone.add(path, False, key)
    if together:
        plan.groups.append(together)
    plan.groups.extend([ref] for ref in alone)
    if build:
        plan.notes.append(
            f"{directory} is a build output ({BUILD_REPORT}): validating the {len(together)} files of "
            f"{directory / 'resources'} once each, with references resolved between them; "
            "bundle-transaction.json, bundle-collection.json and ndjson/ hold the same resources and "
            "are not read again (name them to validate them)"
        )


def _scan(directory: Path, parts: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...]]]:
    """JSON/NDJSON files under ``directory`` (links to directories are not followed, hidden
    names are skipped, unreadable directories are passed over, as ``os.walk`` does), with their
    path parts below it; in no particular order, one directory entry at a time."""
    here = directory.joinpath(*parts)
    prefix = str(here / "x")[:-1]  # the path as pathlib writes it, up to the name
    try:
        entries = os.scandir(here)
    except OSError:
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    yield from _scan(directory, (*parts, name))
            elif name.lower().endswith(SUFFIXES):
                yield prefix + name, (*parts, name)


def _what_is_in(p: Path) -> str:
    if str(p) == STDIN:
        return "stdin"
    if not p.is_dir():
        return f"{str(p)!r}"
    entries = sorted(e.name for e in p.iterdir())
    if not entries:
        return f"{str(p)!r} is empty"
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return f"{str(p)!r} holds no .json, .ndjson or .jsonl files (it holds {shown})"


def _broken_link(p: Path) -> str:
    try:
        p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "that loops (it leads back to itself)"
    return f"to {os.readlink(p)!r}, which does not exist"


def read_documents(path: Path) -> Iterator[InputDocument]:
    """The documents of one file (one, or one per NDJSON line); ``-`` reads stdin.

    Raises ``InputLimitError`` when the file or a document passes a limit.
    """
    for source, text, error in read_texts(path):
        yield InputDocument(source, error=error) if text is None else parse_document(text, source)


def read_texts(path: Path) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(source, text, why it cannot be read) of each document of one file, not parsed yet."""
    label = STDIN_LABEL if str(path) == STDIN else str(path)
    try:
        data = _read_stdin() if str(path) == STDIN else _read_limited(path)
    except OSError as exc:
        yield label, None, f"cannot read: {_os_reason(path, exc)}"
        return
    if _is_ndjson(path, data):
        for n, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            yield f"{label}:{n}", line, None
        return
    yield label, data, None


def _read_limited(path: Path) -> bytes:
    limit = current(JSON_FILE_BYTES)
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory")
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:
        raise InputLimitError(str(path), JSON_FILE_BYTES, f"{info.st_size:,} bytes", limit)
    with path.open("rb") as fh:
        return _bounded(fh, str(path), limit, info.st_size if stat.S_ISREG(info.st_mode) else None)


def _read_stdin() -> bytes:
    return _bounded(sys.stdin.buffer, STDIN_LABEL, current(JSON_FILE_BYTES))


def _bounded(fh: BinaryIO, where: str, limit: int, size: int | None = None) -> bytes:
    data = read_at_most(fh, limit, size)
    if len(data) > limit:
        raise InputLimitError(where, JSON_FILE_BYTES, f"more than {limit:,} bytes", limit)
    return data


def _is_ndjson(path: Path, data: bytes) -> bool:
    if str(path) != STDIN:
        return path.suffix.lower() in (".ndjson", ".jsonl")
    # stdin has no name: NDJSON when its first line is a whole JSON document and more follow
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        jsonio.loads(lines[0])
    except ValueError:
        return False
    return True


def _os_reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops (it leads back to itself)"
    if exc.errno == errno.ENOENT and path.is_symlink():
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    return exc.strerror or str(exc)


def parse_document(text: bytes, source: str) -> InputDocument:
    try:
        parsed = jsonio.parse_untrusted(text, source)
    except InputLimitError:
        raise
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        column = len(text[text.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        return InputDocument(
            source,
            error=f"not valid JSON: byte 0x{text[exc.start]:02X} at line {line}, column {column} is not "
            "UTF-8 (JSON must be UTF-8; the file seems to be Latin-1 or Windows-1252)",
        )
    except ValueError as exc:
        return InputDocument(source, error=f"not valid JSON: {exc}")
    return InputDocument(source, resource=parsed.value, duplicate_keys=parsed.duplicate_keys)
