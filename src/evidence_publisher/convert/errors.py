"""Errors of the convert stage (one class per failure mode)."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class R4ConversionError(EvidencePublisherError):
    """The build holds something the R4 conversion (``convert/r4.py``) has no rule for: an element,
    a condition's form, a resource type; nothing is written."""

    exit_code = ExitCode.INVALID_OUTPUT
