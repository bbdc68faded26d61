"""The errors of ``site``."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class SiteInputError(EvidencePublisherError):
    """The build output or server resources given to ``site`` are missing or cannot be used."""

    exit_code = ExitCode.INVALID_OUTPUT
