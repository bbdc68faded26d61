"""Reading mapping files and source documents: bounded, UTF-8 only, problems located at file:line.

Everything here turns an OS or encoding failure into an ``Issue`` naming the file (and the line and
column where that makes sense) with a fix, so a broken symlink or a Latin-1 byte never surfaces as
a traceback.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from evidence_publisher.errors import SourceLocation
from evidence_publisher.limits import MAPPING_FILE_BYTES, current, read_at_most
from evidence_publisher.sources.issues import ControlCharacter, InputLimit, Issue, NotUtf8, UnreadableFile

# YAML's own line breaks (PyYAML and libyaml count all of them), so our line numbers match theirs
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# C0 controls other than tab, LF and CR; DEL; C1 controls; the non-characters U+FFFE/U+FFFF;
# lone surrogates (only reachable through a "\uD800" escape). None of them belongs in a mapping.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL", 0x85: "NEL"}
MAX_CONTROL_REPORTS = 10


class TextFileError(Exception):
    """A file could not be read as text; ``issue`` says why, where and how to fix it."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks the way YAML does."""
    line, start = 1, 0
    for m in _BREAK.finditer(text, 0, index):
        line, start = line + 1, m.end()
    return line, index - start + 1


def describe_char(ch: str) -> str:
    code = ord(ch)
    name = _CONTROL_NAMES.get(code)
    if 0xD800 <= code <= 0xDFFF:
        name = "a lone surrogate"
    return f"U+{code:04X}" + (f" ({name})" if name else "")


def read_text(path: Path, display: str, what: str = "mapping file") -> str:
    """The file's text, read within the size limit and decoded as strict UTF-8.

    Raises ``TextFileError`` for a file that is missing, a dangling or looping symlink, not a
    regular file, unreadable, over ``limits.MAPPING_FILE_BYTES`` or not UTF-8.
    """
    where = SourceLocation(display)
    limit = current(MAPPING_FILE_BYTES)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise TextFileError(
                UnreadableFile(where, "", f"the {what} is {kind}", f"give a {what} (a regular file) here")
            )
        if info.st_size > limit:
            raise TextFileError(_too_big(where, what, info.st_size, limit))
        with path.open("rb") as fh:
            data = read_at_most(fh, limit, info.st_size)
    except OSError as exc:
        raise TextFileError(_os_issue(path, where, what, exc)) from None
    if len(data) > limit:  # the file grew after stat
        raise TextFileError(_too_big(where, what, len(data), limit))
    return decode_text(data, display, what)


def decode_text(data: bytes, display: str, what: str = "mapping file") -> str:
    """``data`` decoded as strict UTF-8; ``TextFileError`` naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextFileError(_not_utf8(data, exc, display, what)) from None


def control_characters(text: str, display: str) -> list[Issue]:
    """One issue per control character written in ``text`` (at most ``MAX_CONTROL_REPORTS``)."""
    issues: list[Issue] = []
    matches = CONTROL.finditer(text)
    for count, m in enumerate(matches):
        if count == MAX_CONTROL_REPORTS:
            rest = 1 + sum(1 for _ in matches)
            issues.append(
                ControlCharacter(
                    SourceLocation(display, *line_col(text, m.start())),
                    "",
                    f"and {rest} more control characters from here on",
                    "delete them all (`grep -nP '[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]' FILE` lists them)",
                )
            )
            break
        issues.append(control_issue(SourceLocation(display, *line_col(text, m.start())), "", m.group()))
    return issues


def control_issue(location: SourceLocation, field: str, ch: str, *, escaped: bool = False) -> Issue:
    if escaped:
        return ControlCharacter(
            location,
            field,
            f"this string writes control character {describe_char(ch)} with an escape; it is not "
            "allowed in a mapping file",
            "remove the escape (such as \\0, \\x07 or \\u0000) from the double-quoted string",
        )
    return ControlCharacter(
        location,
        field,
        f"control character {describe_char(ch)} is not allowed in a mapping file",
        "delete it (it is invisible in most editors); write a space or a line break if one was meant",
    )


def _too_big(where: SourceLocation, what: str, size: int, limit: int) -> Issue:
    return InputLimit(
        where,
        "",
        f"the {what} is {size:,} bytes, over the {MAPPING_FILE_BYTES.name} limit of {limit:,} bytes",
        f"split it into several files, or if it is genuine raise the limit with "
        f"{MAPPING_FILE_BYTES.how_to_raise}",
    )


def _os_issue(path: Path, where: SourceLocation, what: str, exc: OSError) -> Issue:
    if exc.errno == errno.ELOOP:
        return UnreadableFile(
            where,
            "",
            f"the {what} is a symbolic link that loops (it leads back to itself)",
            "point the link at a real file, or remove it",
        )
    if exc.errno == errno.ENOENT and path.is_symlink():
        return UnreadableFile(
            where,
            "",
            f"the {what} is a symbolic link to {os.readlink(path)!r}, which does not exist",
            "restore the link's target, or remove the link",
        )
    if exc.errno == errno.ENOENT:
        return UnreadableFile(where, "", f"the {what} does not exist", "correct the path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UnreadableFile(
            where, "", f"the {what} cannot be read: permission denied", "make it readable (chmod u+r)"
        )
    return UnreadableFile(where, "", f"the {what} cannot be read: {exc.strerror or exc}", "check the file")


def _not_utf8(data: bytes, exc: UnicodeDecodeError, display: str, what: str) -> Issue:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return NotUtf8(
            SourceLocation(display, 1, 1),
            "",
            f"the {what} is UTF-16 encoded; only UTF-8 is read",
            "save the file as UTF-8",
        )
    start = exc.start
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    return NotUtf8(
        SourceLocation(display, line, column),
        "",
        f"byte 0x{data[start]:02X} is not valid UTF-8 (the {what} seems to be saved as Latin-1 or "
        "Windows-1252)",
        "save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)",
    )
