"""Errors of the publish stage, one class per failure mode (exit codes in ``errors.ExitCode``).

The errors of the requests themselves (unreachable, unsuitable, rejected, authentication, limits)
belong to the shared FHIR client and are re-exported here, where publish's callers look for them.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.fhirclient.errors import (
    AuthFailed,
    ClientConfigError,
    FhirClientError,
    InvalidServerResponse,
    PageLimitError,
    PagingRefusedError,
    RedirectRefused,
    RejectedByServer,
    ResponseLimitExceeded,
    ServerUnreachable,
    ServerUnsuitable,
)

__all__ = [
    "AuthFailed",
    "ClientConfigError",
    "FhirClientError",
    "InvalidPublishInput",
    "InvalidServerResponse",
    "PageLimitError",
    "PagingRefusedError",
    "PartialPublish",
    "PublishError",
    "PublishSourceError",
    "RedirectRefused",
    "RejectedByServer",
    "ResponseLimitExceeded",
    "ServerUnreachable",
    "ServerUnsuitable",
    "VerifyDifferences",
]


class PublishError(EvidencePublisherError):
    """Base of the publish-stage errors that are not errors of a request."""

    exit_code = ExitCode.REJECTED_BY_SERVER


class InvalidPublishInput(PublishError):
    """The resources to publish are missing or fail validation; nothing was sent."""

    exit_code = ExitCode.INVALID_OUTPUT


class PublishSourceError(PublishError):
    """The path given to publish/verify is missing or holds neither a build nor mapping files."""

    exit_code = ExitCode.USAGE


class PartialPublish(PublishError):
    """Some chunks were committed before a later one failed; re-running is safe (idempotent)."""

    exit_code = ExitCode.PARTIAL_SUCCESS


class VerifyDifferences(PublishError):
    """Read-back differs from the local build (missing, duplicated or changed resources)."""

    exit_code = ExitCode.VERIFY_DIFFERENCES
