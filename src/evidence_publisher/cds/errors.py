"""Errors of the cds stage, one class per failure mode.

``CdsRequestError`` subclasses carry the HTTP status and OperationOutcome issue code the service
answers with; the others are configuration or knowledge-loading failures reported by the CLI.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class CdsConfigError(EvidencePublisherError):
    """The service configuration (file, flags or environment) is invalid."""

    exit_code = ExitCode.CDS_CONFIG


class KnowledgeLoadError(EvidencePublisherError):
    """The PlanDefinitions or the resources they point to could not be loaded."""

    exit_code = ExitCode.CDS_CONFIG


class RecommendationError(EvidencePublisherError):
    """A PlanDefinition cannot be turned into an executable recommendation."""

    exit_code = ExitCode.CDS_CONFIG


class PatientDataError(EvidencePublisherError):
    """The patient file given to ``apply`` is not a Patient or a Bundle of patient data."""

    exit_code = ExitCode.USAGE


class CdsStartError(EvidencePublisherError):
    """``serve`` could not start serving: the address is in use, not available or not allowed."""

    exit_code = ExitCode.CDS_START


class CdsRequestError(EvidencePublisherError):
    """A request the service refuses; rendered as an OperationOutcome with ``status``. Raised from
    the CLI (``apply``) it is a usage error: the plan or the patient data given is wrong."""

    exit_code = ExitCode.USAGE
    status: int = 400
    issue_code: str = "invalid"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)


class InvalidRequestError(CdsRequestError):
    status = 400
    issue_code = "invalid"


class UnknownServiceError(CdsRequestError):
    status = 404
    issue_code = "not-found"


class PlanNotFoundError(UnknownServiceError):
    """``$apply`` or ``apply --plan`` names a PlanDefinition that is not loaded (404; exit 2 in the CLI)."""

    exit_code = ExitCode.USAGE


class AuthenticationError(CdsRequestError):
    status = 401
    issue_code = "login"


class ReplayStoreUnavailableError(CdsRequestError):
    """The shared jti store (Redis) did not answer or refused: the token cannot be checked for
    replay, so the request is refused (fail closed), never accepted."""

    status = 503
    issue_code = "transient"


class ForbiddenOriginError(CdsRequestError):
    status = 403
    issue_code = "forbidden"


class BodyTooLargeError(CdsRequestError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaTypeError(CdsRequestError):
    status = 415
    issue_code = "not-supported"


class MissingDataError(CdsRequestError):
    """Required data is neither prefetched nor fetchable (CDS Hooks: SHALL answer 412)."""

    status = 412
    issue_code = "incomplete"


class ConditionEvaluationError(EvidencePublisherError):
    """A published applicability condition failed to evaluate on well-typed data: a bug. The
    message names the condition, so it goes to the server log only; the client gets a bare 500
    with a reference (and malformed data is answered 400 before this is raised)."""

    exit_code = ExitCode.INTERNAL_ERROR
