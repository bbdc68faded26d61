"""Errors of talking to a FHIR server, one class per failure mode (exit codes in ``errors.ExitCode``).

``publish`` and ``verify`` report them with these exit codes. The CDS service turns them into its
own: a knowledge server that cannot be read stops ``serve`` with exit 40, and a failed fetch from a
hook's ``fhirServer`` answers 412.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class FhirClientError(EvidencePublisherError):
    """Base of the errors of a request to a FHIR server (never raised itself). The publisher marks
    where in a chunk one happened: ``before_send`` (the pre-read failed, the chunk was not sent)
    or ``maybe_committed`` (the server got the transaction but its answer is unusable)."""

    before_send: bool = False
    maybe_committed: bool = False


class ClientConfigError(FhirClientError):
    """Bad client options: a base URL with credentials in it, an unreadable key or token file, a
    token that cannot be sent in a header."""

    exit_code = ExitCode.USAGE


class ServerUnreachableError(FhirClientError):
    """No usable answer: connection refused or dropped, timeouts, or 429/502/503/504 after every
    retry."""

    exit_code = ExitCode.SERVER_UNREACHABLE


class ServerUnsuitableError(FhirClientError):
    """The CapabilityStatement lacks FHIR 5.0.x, a resource type or an interaction we need."""

    exit_code = ExitCode.SERVER_UNSUITABLE


class RedirectRefusedError(ServerUnsuitableError):
    """The server answered with a redirect. Redirects are never followed: following one would
    re-send the request body (a whole transaction) and possibly credentials to another address."""


class InvalidServerResponseError(ServerUnsuitableError):
    """A 2xx answer whose body is not what FHIR promises (not JSON, not the expected resource)."""


class PagingRefusedError(ServerUnsuitableError):
    """A search's next-page link leaves the server's base URL (another origin, a look-alike host,
    another path); it is not followed, so credentials reach only the server given."""


class ResponseLimitError(FhirClientError):
    """A server answer is larger or deeper than the input limits allow (limits.py)."""

    exit_code = ExitCode.INPUT_LIMIT


class PageLimitError(ResponseLimitError):
    """A search has more pages than the page limit allows (limits.py)."""


class AuthFailedError(FhirClientError):
    """The server or the token endpoint refused our credentials (401/403, bad token response)."""

    exit_code = ExitCode.AUTH_FAILED


class RejectedByServerError(FhirClientError):
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
