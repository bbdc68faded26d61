"""Errors of the bundle stage."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class BundleError(EvidencePublisherError):
    """Resources cannot be assembled into a valid Bundle (duplicate keys, missing identity)."""

    exit_code = ExitCode.INVALID_OUTPUT
