"""Errors of the publish stage, one class per failure mode (exit codes in ``errors.ExitCode``).

The errors of the requests themselves (unreachable, unsuitable, rejected, authentication, limits)
belong to the shared FHIR client and are re-exported here, where publish's callers look for them.
A partial publish (``PARTIAL_SUCCESS``) and differences found by ``verify`` (``VERIFY_DIFFERENCES``)
are outcomes, not exceptions: ``PublishResult.exit_code`` reports them beside the per-resource table.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.fhirclient.errors import (
    AuthFailedError,
    ClientConfigError,
    FhirClientError,
    InvalidServerResponseError,
    PageLimitError,
    PagingRefusedError,
    RedirectRefusedError,
    RejectedByServerError,
    ResponseLimitError,
    ServerUnreachableError,
    ServerUnsuitableError,
)

__all__ = [
    "AuthFailedError",
    "ClientConfigError",
    "FhirClientError",
    "InvalidPublishInputError",
    "InvalidServerResponseError",
    "PageLimitError",
    "PagingRefusedError",
    "PublishError",
    "PublishSourceError",
    "RedirectRefusedError",
    "RejectedByServerError",
    "ResponseLimitError",
    "ServerUnreachableError",
    "ServerUnsuitableError",
]


class PublishError(EvidencePublisherError):
    """Base of the publish-stage errors that are not errors of a request."""

    exit_code = ExitCode.REJECTED_BY_SERVER


class InvalidPublishInputError(PublishError):
    """The resources to publish are missing or fail validation; nothing was sent."""

    exit_code = ExitCode.INVALID_OUTPUT


class PublishSourceError(PublishError):
    """The path given to publish/verify is missing or holds neither a build nor mapping files."""

    exit_code = ExitCode.USAGE
