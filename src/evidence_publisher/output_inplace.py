"""Updating a previous build in place: only the files whose bytes change are written.

Replacing the whole directory rewrote every file and then deleted the old tree: at 10,000 studies
350,000 files, with room for two builds on disk. An update writes the files that differ from what
the output holds (and the aggregates: the Bundles, NDJSON and report change whenever any resource
does) to a staging directory beside it, then moves them in through a journal
(``update_journal.py``) with signals held. Until the journal is written the output is as it was;
after that, the update is finished even if the process dies: the next build completes the journal.

Only a directory that ``output.check_out_dir`` accepted as a previous build is updated, so every
entry in it is one a build writes; entries this build does not write are deleted.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from evidence_publisher.errors import WriteError
from evidence_publisher.interrupts import SignalGuard
from evidence_publisher.update_journal import (
    JOURNAL,
    Journal,
    JournalError,
    apply_journal,
    read_journal,
    staging_prefix,
    write_journal,
)


@dataclass(frozen=True)
class UpdateCounts:
    """What an update changed: files written (new or changed), left as they were, and deleted."""

    written: int
    unchanged: int
    deleted: int


def update_in_place(
    target: Path,
    files: Iterable[tuple[str, str | bytes | Iterable[str]]],
    guard: SignalGuard,
    write_file: Callable[[Path, str | bytes | Iterable[str]], None],
) -> UpdateCounts:
    """Make ``target`` (a previous build) hold exactly ``files``; see the module docstring."""
    with _locked(target):
        with guard.held():
            _finish_interrupted(target)
        staged: Path | None = None
        try:
            with guard.held():
                staged = Path(tempfile.mkdtemp(prefix=staging_prefix(target), dir=target.parent))
            moves: list[str] = []
            written: set[str] = set()
            made = {staged}
            for rel, text in files:
                written.add(rel)
                if isinstance(text, str | bytes):
                    data = text if isinstance(text, bytes) else text.encode("utf-8")
                    if _holds(f"{target}/{rel}", data):
                        continue
                    write_file(_staged_path(staged, rel, made), data)
                elif not _write_if_changed(target / rel, _staged_path(staged, rel, made), text):
                    continue
                moves.append(rel)
            stale = sorted(set(_build_files(target)) - written)
            with guard.held():
                if moves or stale:
                    journal = Journal(staged.name, moves, stale)
                    write_journal(target, journal)
                    staged = None  # from here on the journal owns it: apply_journal removes it
                    apply_journal(target, journal)
                else:
                    shutil.rmtree(staged, ignore_errors=True)
                    staged = None
        finally:
            if staged is not None:
                with guard.held():
                    shutil.rmtree(staged, ignore_errors=True)
    return UpdateCounts(len(moves), len(written) - len(moves), len(stale))


def _staged_path(staged: Path, rel: str, made: set[Path]) -> Path:
    """Where ``rel`` is staged, its folder made (each folder once): only changed files get one."""
    path = staged / rel
    if path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        made.add(path.parent)
    return path


def _holds(path: str, data: bytes) -> bool:
    """Whether ``path`` holds exactly ``data``, read no further than that (unbuffered: a build
    asks this of every resource file, 330,000 at 10,000 studies)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    except OSError:
        return False
    finally:
        os.close(fd)


def _write_if_changed(old_path: Path, new_path: Path, pieces: Iterable[str]) -> bool:
    """Write ``pieces`` to ``new_path`` unless ``old_path`` holds exactly them; whether it wrote.

    The pieces are compared with the old file as they are made; at the first difference the new
    file starts with the old file's matching bytes (copied by the kernel) and the rest is written.
    """
    out = None
    matched = 0
    try:
        old = open(old_path, "rb")  # closed below, on every path
    except OSError:
        old = None
    try:
        for piece in pieces:
            data = piece.encode("utf-8")
            if out is None and old is not None and old.read(len(data)) == data:
                matched += len(data)
                continue
            if out is None:
                out = _start_copy(old, new_path, matched)
            out.write(data)
        if out is None:
            if old is not None and old.read(1) == b"":
                return False
            out = _start_copy(old, new_path, matched)
        return True
    finally:
        if old is not None:
            old.close()
        if out is not None:
            out.close()


def _start_copy(old: BinaryIO | None, new_path: Path, length: int) -> BinaryIO:
    """``new_path`` opened for writing, holding the first ``length`` bytes of ``old``."""
    out = open(new_path, "wb")  # the caller closes it
    if length and old is not None:
        copied = 0
        while copied < length:
            step = os.copy_file_range(old.fileno(), out.fileno(), length - copied, copied, copied)
            if step == 0:
                raise OSError(f"{old.name} shrank while it was compared")
            copied += step
        out.seek(length)
    return out


def _build_files(target: Path) -> Iterable[str]:
    """The files of the previous build, as relative paths (the journal, if any, is not one)."""
    with os.scandir(target) as entries:
        top = [e.name for e in entries if e.is_file(follow_symlinks=False) and e.name != JOURNAL]
    yield from top
    for folder in ("resources", "ndjson"):
        try:
            with os.scandir(target / folder) as entries:
                names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            continue
        yield from (f"{folder}/{name}" for name in names)


def _finish_interrupted(target: Path) -> None:
    """Complete the journal of an update that was interrupted, so that this one starts from one build."""
    try:
        journal = read_journal(target)
    except JournalError as exc:
        raise WriteError(
            f"--out {str(target)!r} holds an update journal this build cannot finish: {exc}",
            details=[
                f"if it is only build output, delete it yourself (rm -r {target}) or choose another --out"
            ],
        ) from None
    if journal is not None:
        apply_journal(target, journal)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the output directory: two builds never update one output at once."""
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriteError(
                f"another build is writing to --out {str(target)!r}",
                details=["wait for it to finish, or write this build to another --out"],
            ) from None
        yield
    finally:
        os.close(fd)
