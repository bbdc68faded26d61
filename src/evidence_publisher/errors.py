"""Shared error base, the numbered exit-code registry, and the errors of the top-level modules.

Exit codes are never reused: when a code becomes obsolete, comment it out and leave it here.
Only ``cli.py`` turns these into process exit codes. The naming scheme and the whole hierarchy
are in docs/errors.md; each stage package keeps its errors in its own ``errors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, unique
from typing import Protocol


@unique
class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    # Input and build (10-19)
    INVALID_MAPPING = 10  # mapping files are malformed or inconsistent
    FIDELITY = 11  # a quote, a number or a derivation does not trace to its source
    INVALID_OUTPUT = 12  # generated or given FHIR resources fail validation
    WRITE_FAILED = 13  # output could not be written
    INPUT_LIMIT = 14  # an input exceeds a safety limit (size, nesting, aliases, string length)
    INVALID_RECORD = (
        15  # a bibliographic record given to `import` cannot be read or lacks what a mapping needs
    )
    # FHIR packages (20-29)
    PACKAGE_UNAVAILABLE = 20  # a needed FHIR package is not cached and cannot be fetched
    PACKAGE_INTEGRITY = 21  # a downloaded package failed its integrity check or is malformed
    # Publishing (30-39)
    SERVER_UNREACHABLE = 30
    SERVER_UNSUITABLE = 31  # wrong fhirVersion, missing resource type or interaction
    REJECTED_BY_SERVER = 32  # the server refused the transaction; nothing was written
    PARTIAL_SUCCESS = 33  # some chunks committed, later ones failed
    VERIFY_DIFFERENCES = 34  # read-back differs from the local build
    AUTH_FAILED = 35
    # CDS service (40-49)
    CDS_CONFIG = 40
    CDS_START = 41  # the service could not start serving (address in use, cannot bind)
    # Signals (128 + signal number, as shells report them)
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    BROKEN_PIPE = 141  # SIGPIPE: the reader of stdout closed it early (e.g. ``| head``)
    TERMINATED = 143  # SIGTERM


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a value came from: a file and a 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return self.file


class EvidencePublisherError(Exception):
    """Base of every error the CLI reports. ``exit_code`` picks the process exit status."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UsageError(EvidencePublisherError):
    """Arguments that argparse alone cannot check are inconsistent (cli.py)."""

    exit_code = ExitCode.USAGE


class WriteError(EvidencePublisherError):
    """The file system refused the write (permissions, disk full, ...); the previous output is intact
    (output.py)."""

    exit_code = ExitCode.WRITE_FAILED


class BuildCacheError(EvidencePublisherError):
    """The build cache cannot be opened or saved (not a cache, unreadable, locked too long)
    (build_cache.py)."""

    exit_code = ExitCode.WRITE_FAILED


class InterruptedUpdateError(EvidencePublisherError):
    """A build output whose in-place update did not finish (``update_journal.py``); it is read by
    nothing until the next build to it finishes the update."""

    exit_code = ExitCode.WRITE_FAILED


class UnsafeOutputError(EvidencePublisherError):
    """``--out`` names a place that replacing would lose files the build did not create (output.py)."""

    exit_code = ExitCode.WRITE_FAILED


class InvalidLimitError(EvidencePublisherError):
    """A limit was set to something that is not a positive whole number (limits.py)."""

    exit_code = ExitCode.USAGE


class LimitDescription(Protocol):
    """What a message needs to know about a limit (``limits.Limit`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def unit(self) -> str: ...

    @property
    def how_to_raise(self) -> str: ...


class InputLimitError(EvidencePublisherError):
    """An input exceeds a safety limit (limits.py); the message names the limit and how to raise it."""

    exit_code = ExitCode.INPUT_LIMIT

    def __init__(self, where: str, limit: LimitDescription, found: str, allowed: int) -> None:
        super().__init__(
            f"{where}: {found}, over the {limit.name} limit of {allowed:,} {limit.unit}",
            details=[f"if the input is genuine, raise the limit with {limit.how_to_raise}"],
        )
        self.where = where
        self.limit = limit
        self.allowed = allowed
