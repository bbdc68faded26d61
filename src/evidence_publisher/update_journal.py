"""The journal of an in-place update of a build output (``output_inplace.py`` writes it).

A rebuild over a previous build writes its changed files to a staging directory beside the output
(``.DIST.tmp-*``), then records in ``DIST/.update-journal`` which staged files move in and which old
files go, applies that, and removes the journal. A journal that is still there means the process
died while applying it: the output may mix two builds. Readers refuse such a directory
(``refuse_interrupted``); the next build finishes the journal and then compares every file anyway.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from evidence_publisher.errors import InterruptedUpdateError

JOURNAL = ".update-journal"
_KIND = "evidence-publisher-update"
# what a journal may name: the files a build writes, nothing above or beside the output
_BUILD_FILE = re.compile(
    r"build-report\.json|bundle-[A-Za-z0-9._-]+\.json|resources/[A-Za-z0-9._-]+\.json|ndjson/[A-Za-z0-9._-]+\.ndjson"
)
REPORT = "build-report.json"


class JournalError(ValueError):
    """A journal that cannot be recognised as one a build wrote (it is left for the user)."""


@dataclass(frozen=True)
class Journal:
    staged: str  # the staging directory's name, beside the output
    move: list[str]  # files moved from the staging directory into the output, in this order
    delete: list[str]  # files of the previous build that this one does not write

    def as_json(self) -> str:
        return json.dumps({"kind": _KIND, "staged": self.staged, "move": self.move, "delete": self.delete})


def refuse_interrupted(dist: Path) -> None:
    """Raise ``InterruptedUpdateError`` when ``dist`` holds an update that did not finish."""
    if (dist / JOURNAL).exists():
        raise InterruptedUpdateError(
            f"{str(dist)!r} holds a build update that was interrupted ({JOURNAL} is still there), so "
            "its files may come from two builds",
            details=[f"run the build with --out {str(dist)!r} again: it finishes the update first"],
        )


def is_build_file(rel: str) -> bool:
    """Whether ``rel`` (a path relative to the output, with ``/``) names a file a build writes."""
    return _BUILD_FILE.fullmatch(rel) is not None and ".." not in rel


def staging_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def read_journal(target: Path) -> Journal | None:
    """The journal in ``target``, or None; ``JournalError`` if it is not one a build wrote."""
    path = target / JOURNAL
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalError(f"{JOURNAL} cannot be read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise JournalError(f"{JOURNAL} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") != _KIND:
        raise JournalError(f'{JOURNAL} has no "kind": "{_KIND}"')
    staged, move, delete = doc.get("staged"), doc.get("move"), doc.get("delete")
    if not isinstance(staged, str) or not re.fullmatch(
        re.escape(staging_prefix(target)) + r"[A-Za-z0-9_]+", staged
    ):
        raise JournalError(f"{JOURNAL} names a staging directory that a build does not make: {staged!r}")
    for name, files in (("move", move), ("delete", delete)):
        if not isinstance(files, list) or not all(isinstance(f, str) and is_build_file(f) for f in files):
            raise JournalError(f"{JOURNAL} lists in {name!r} something other than the files a build writes")
    return Journal(staged, list(move), list(delete))  # type: ignore[arg-type]  # checked above


def write_journal(target: Path, journal: Journal) -> None:
    """Write the journal whole: first in the staging directory, then renamed into the output."""
    staged_copy = target.parent / journal.staged / JOURNAL
    with staged_copy.open("w", encoding="utf-8") as handle:
        handle.write(journal.as_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged_copy, target / JOURNAL)


def apply_journal(target: Path, journal: Journal) -> None:
    """Delete, then move in (the report last), then remove the staging directory and the journal.

    Safe to run again after an interruption: a file already moved is no longer staged and is skipped,
    and a file already deleted is skipped too.
    """
    staged = target.parent / journal.staged
    for rel in journal.delete:
        try:
            os.unlink(target / rel)
        except FileNotFoundError:
            pass
    for rel in sorted(journal.move, key=lambda r: r == REPORT):
        source = staged / rel
        if not source.exists():
            continue
        (target / rel).parent.mkdir(exist_ok=True)
        os.replace(source, target / rel)
    shutil.rmtree(staged, ignore_errors=True)
    os.unlink(target / JOURNAL)
