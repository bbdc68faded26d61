"""Writing a set of files all or nothing: every file goes to a temporary name beside its target
first; only when all are written are they renamed into place (with signals held back), and a
failed rename puts back what the earlier renames replaced."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evidence_publisher.importers.errors import ImportRefusedError
from evidence_publisher.interrupts import signal_guard


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    content: bytes


def write_files(files: list[PlannedFile]) -> None:
    temps: list[tuple[str, PlannedFile]] = []
    try:
        with signal_guard() as guard:
            try:
                for planned in files:
                    planned.path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(prefix=f".{planned.path.name}.tmp-", dir=planned.path.parent)
                    temps.append((tmp, planned))
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(planned.content)
                    os.chmod(tmp, 0o666 & ~_umask())
                with guard.held():
                    _rename_all(temps)
                    temps = []
            finally:
                with guard.held():
                    for tmp, _ in temps:
                        with contextlib.suppress(OSError):
                            os.unlink(tmp)
    except OSError as exc:
        raise ImportRefusedError(
            f"could not write {exc.filename or 'a file'}: {exc.strerror or exc}; nothing was written"
        ) from exc


def _rename_all(temps: list[tuple[str, PlannedFile]]) -> None:
    backups: list[tuple[Path, str | None]] = []  # (target, backup of what it held, or None if new)
    try:
        for n, (tmp, planned) in enumerate(temps):
            backup = None
            if planned.path.exists():
                backup = str(planned.path.with_name(f".{planned.path.name}.old-{os.getpid()}-{n}"))
                os.link(planned.path, backup)
            try:
                os.replace(tmp, planned.path)
            except OSError:
                if backup is not None:  # a second link to the untouched file: just drop it
                    with contextlib.suppress(OSError):
                        os.unlink(backup)
                raise
            backups.append((planned.path, backup))
    except OSError:
        for target, backup in reversed(backups):
            with contextlib.suppress(OSError):
                if backup is None:
                    target.unlink()
                else:
                    os.replace(backup, target)
        raise
    for _, backup in backups:
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
