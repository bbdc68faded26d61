"""The errors of ``import`` and ``new``: records that cannot be imported, a write refused, no corpus."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.importers.issues import RecordIssue


class RecordImportError(EvidencePublisherError):
    """Records that cannot be imported; nothing was written."""

    exit_code = ExitCode.INVALID_RECORD

    def __init__(self, issues: list[RecordIssue]) -> None:
        noun = "problem" if len(issues) == 1 else "problems"
        super().__init__(
            f"{len(issues)} {noun} in the records to import; nothing was written",
            details=[str(i) for i in issues],
        )
        self.issues = issues


class ImportRefusedError(EvidencePublisherError):
    """Writing the import would overwrite or corrupt something; nothing was written."""

    exit_code = ExitCode.WRITE_FAILED


class CorpusNotFoundError(EvidencePublisherError):
    """``--corpus`` names no corpus directory, or the arguments do not fit together."""

    exit_code = ExitCode.USAGE
