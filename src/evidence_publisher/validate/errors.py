"""Errors of the validate stage (one class per failure mode)."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class ValidationFailedError(EvidencePublisherError):
    """Generated resources failed a structural, reference or profile check; raised by the build
    (pipeline.py) before anything is written."""

    exit_code = ExitCode.INVALID_OUTPUT


class InputNotFoundError(EvidencePublisherError):
    """A path given to ``validate`` does not exist."""

    exit_code = ExitCode.USAGE


class NoResourcesError(EvidencePublisherError):
    """The paths given to ``validate`` hold no FHIR resources (the message says what they hold)."""

    exit_code = ExitCode.USAGE
