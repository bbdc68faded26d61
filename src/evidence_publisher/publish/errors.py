"""Errors of the publish stage, one class per failure mode (exit codes in ``errors.ExitCode``).

A partial publish (``PARTIAL_SUCCESS``) and differences found by ``verify`` (``VERIFY_DIFFERENCES``)
are outcomes, not exceptions: ``PublishResult.exit_code`` reports them beside the per-resource table.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class PublishError(EvidencePublisherError):
    """Base of the publish-stage errors. The publisher marks where in a chunk one happened:
    ``before_send`` (the pre-read failed, the chunk was not sent) or ``maybe_committed`` (the
    server got the transaction but its answer is unusable)."""

    exit_code = ExitCode.REJECTED_BY_SERVER
    before_send: bool = False
    maybe_committed: bool = False


class InvalidPublishInputError(PublishError):
    """The resources to publish are missing or fail validation; nothing was sent."""

    exit_code = ExitCode.INVALID_OUTPUT


class PublishSourceError(PublishError):
    """The path given to publish/verify is missing or holds neither a build nor mapping files."""

    exit_code = ExitCode.USAGE


class PublishConfigError(PublishError):
    """Bad options: a server URL with credentials in it, an unreadable key or token file."""

    exit_code = ExitCode.USAGE


class ServerUnreachableError(PublishError):
    """No usable answer: connection refused or dropped, timeouts, or 429/502/503/504 after every
    retry."""

    exit_code = ExitCode.SERVER_UNREACHABLE


class ServerUnsuitableError(PublishError):
    """The CapabilityStatement lacks FHIR 5.0.x, a resource type or an interaction we need."""

    exit_code = ExitCode.SERVER_UNSUITABLE


class RedirectRefusedError(ServerUnsuitableError):
    """The server answered with a redirect. Redirects are never followed: following one would
    re-send the request body (a whole transaction) and possibly credentials to another address."""


class InvalidServerResponseError(ServerUnsuitableError):
    """A 2xx answer whose body is not what FHIR promises (not JSON, not the expected resource)."""


class ResponseLimitError(PublishError):
    """A server answer is larger or deeper than the input limits allow (limits.py)."""

    exit_code = ExitCode.INPUT_LIMIT


class AuthFailedError(PublishError):
    """The server or the token endpoint refused our credentials (401/403, bad token response)."""

    exit_code = ExitCode.AUTH_FAILED


class RejectedByServerError(PublishError):
    """The server answered a request with an error. For a transaction nothing of it was written.

    ``status`` is the HTTP status, ``hapi_code`` the ``HAPI-NNNN`` code when the diagnostics
    carry one, ``resources`` the local ``Type/id`` of the resources the error names.
    """

    exit_code = ExitCode.REJECTED_BY_SERVER

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        hapi_code: str | None = None,
        diagnostics: str = "",
        resources: list[str] | None = None,
        outcome: dict | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.outcome = outcome
        self.status = status
        self.hapi_code = hapi_code
        self.diagnostics = diagnostics
        self.resources = resources or []
