"""Errors of the convert stage (one class per failure mode)."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class UnmappedElementError(EvidencePublisherError):
    """An R5 element of the build has no rule saying what it becomes in the target FHIR version;
    the build stops rather than drop it (a new rule goes in ``convert/r4b_rules.py``)."""

    exit_code = ExitCode.INVALID_OUTPUT


class UnsupportedFhirVersionError(EvidencePublisherError):
    """The build was asked for a FHIR version it cannot write (the table knows more versions than
    the converters do)."""

    exit_code = ExitCode.USAGE


class R4ConversionError(EvidencePublisherError):
    """The build holds something the R4 conversion (``convert/r4.py``) has no rule for: an element,
    a condition's form, a resource type; nothing is written."""

    exit_code = ExitCode.INVALID_OUTPUT
