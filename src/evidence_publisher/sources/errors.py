"""Errors of the sources stage.

Every problem found in the mapping files is an ``Issue`` (issues.py); they are collected and raised
together as one ``MappingError``.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.sources.issues import InputLimit, Issue


class MappingError(EvidencePublisherError):
    """One or more mapping files are invalid; nothing was written."""

    exit_code = ExitCode.INVALID_MAPPING

    def __init__(self, issues: list[Issue]) -> None:
        # files that could not be read at all come first: later problems may follow from them
        ordered = sorted(issues, key=lambda i: (not i.root_cause, i.location, i.field, i.code))
        noun = "problem" if len(ordered) == 1 else "problems"
        super().__init__(
            f"{len(ordered)} {noun} in the mapping files; nothing was written",
            details=[str(i) for i in ordered],
        )
        self.issues = ordered
        if any(isinstance(i, InputLimit) for i in ordered):
            self.exit_code = ExitCode.INPUT_LIMIT
        elif ordered and all(i.fidelity for i in ordered):
            self.exit_code = ExitCode.FIDELITY
