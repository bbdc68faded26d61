"""The FHIR REST client shared by ``publish``/``verify`` and the CDS service.

Layering: it sits below both (``bundle`` -> ``fhirclient`` -> ``publish``/``cds``) and imports
neither. ``transport`` is the HTTP discipline (timeouts, bounded answers, no redirects, retries of
what is safe to repeat), ``client`` the FHIR semantics (bodies, errors, auth, paging within the
base URL), ``auth`` the credentials, ``errors`` one class per failure mode.

    from evidence_publisher.fhirclient import FhirClient
    with FhirClient("http://localhost:8080/fhir") as client:
        for page in client.pages("PlanDefinition?type=eca-rule"):
            ...
"""

from evidence_publisher.fhirclient.auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    SmartBackendAuth,
    auth_from_options,
)
from evidence_publisher.fhirclient.client import (
    FhirClient,
    FhirResponse,
    bundle_is_replayable,
    check_base_url,
)
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
from evidence_publisher.fhirclient.transport import HttpOptions, HttpTransport, cookieless_session

__all__ = [
    "Auth",
    "AuthFailedError",
    "BasicAuth",
    "BearerAuth",
    "ClientConfigError",
    "FhirClient",
    "FhirClientError",
    "FhirResponse",
    "HttpOptions",
    "HttpTransport",
    "InvalidServerResponseError",
    "PageLimitError",
    "PagingRefusedError",
    "RedirectRefusedError",
    "RejectedByServerError",
    "ResponseLimitError",
    "ServerUnreachableError",
    "ServerUnsuitableError",
    "SmartBackendAuth",
    "auth_from_options",
    "bundle_is_replayable",
    "check_base_url",
    "cookieless_session",
]
