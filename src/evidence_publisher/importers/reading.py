"""Reading export files: within the size limit, problems as issues naming the file and a fix."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from evidence_publisher.errors import InputLimitError
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.limits import RECORD_FILE_BYTES, current, read_at_most


class UnreadableExportError(Exception):
    """An export file (or part of it) cannot be read as records; ``issues`` say where and why."""

    def __init__(self, issue: RecordIssue, *more: RecordIssue) -> None:
        super().__init__(str(issue))
        self.issues = [issue, *more]


def read_export(path: Path, display: str) -> bytes:
    """The file's bytes; raises ``UnreadableExportError`` or ``InputLimitError`` (over the size limit)."""
    limit = current(RECORD_FILE_BYTES)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UnreadableExportError(
                RecordIssue(display, 0, None, None, "", f"the export file is {kind}", "give export files")
            )
        if info.st_size > limit:
            raise InputLimitError(display, RECORD_FILE_BYTES, f"{info.st_size:,} bytes", limit)
        with path.open("rb") as fh:
            data = read_at_most(fh, limit, info.st_size)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            problem, fix = "the export file does not exist", "correct the path"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            problem, fix = "the export file cannot be read: permission denied", "make it readable"
        else:
            problem, fix = f"the export file cannot be read: {exc.strerror or exc}", "check the file"
        raise UnreadableExportError(RecordIssue(display, 0, None, None, "", problem, fix)) from None
    if len(data) > limit:
        raise InputLimitError(display, RECORD_FILE_BYTES, f"more than {limit:,} bytes", limit)
    return data


def decode_text(data: bytes, display: str, what: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); a byte that is not UTF-8 is an issue at its line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableExportError(
            RecordIssue(display, 0, 1, None, "", f"the {what} file is UTF-16 encoded", "save it as UTF-8")
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                line,
                None,
                "",
                f"byte 0x{data[exc.start]:02X} is not valid UTF-8",
                "save the export as UTF-8 (for example `iconv -f latin1 -t utf-8`)",
            )
        ) from None


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def load_json(data: bytes, display: str, what: str) -> object:
    """JSON from an export file, within the size and depth limits; duplicate keys are refused."""
    from evidence_publisher.jsonio import DuplicateKeyError, loads_untrusted

    text = decode_text(data, display, what)
    try:
        return loads_untrusted(text, display, max_bytes=current(RECORD_FILE_BYTES))
    except DuplicateKeyError as exc:
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                None,
                None,
                ", ".join(exc.paths[:5]),
                "a JSON object names the same key twice (a JSON reader would silently keep the last)",
                "remove the duplicate keys",
            )
        ) from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        reason = getattr(exc, "msg", str(exc))
        at = f" at column {column}" if column else ""
        raise UnreadableExportError(
            RecordIssue(
                display,
                0,
                line,
                None,
                "",
                f"not valid JSON{at}: {reason}",
                f"give the {what} file as exported (a file that was cut short or edited by hand is often "
                "the cause)",
            )
        ) from None
