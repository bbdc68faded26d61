"""publish stage: upsert a build into a FHIR R5 server in atomic, idempotent transactions.

from evidence_publisher.publish import FhirClient, publish, verify
with FhirClient("http://localhost:8080/fhir") as client:
    result = publish(resources, client)

The client, its auth methods and its errors belong to ``evidence_publisher.fhirclient`` (shared with
the CDS service) and are re-exported here.
"""

from evidence_publisher.fhirclient import (
    BasicAuth,
    BearerAuth,
    FhirClient,
    HttpOptions,
    SmartBackendAuth,
    auth_from_options,
    bundle_is_replayable,
)
from evidence_publisher.publish.capability import ServerInfo, check_capability
from evidence_publisher.publish.chunking import Chunk, chunk_resources, components
from evidence_publisher.publish.errors import (
    AuthFailedError,
    ClientConfigError,
    FhirClientError,
    InvalidPublishInputError,
    PublishError,
    RejectedByServerError,
    ServerUnreachableError,
    ServerUnsuitableError,
)
from evidence_publisher.publish.loading import load_dist, source_kind
from evidence_publisher.publish.precheck import validate_for_publish, validation_problems
from evidence_publisher.publish.publisher import (
    ProgressEvent,
    PublishOptions,
    PublishResult,
    ResourceResult,
    preview,
    publish,
    verify,
)

__all__ = [
    "AuthFailedError",
    "BasicAuth",
    "BearerAuth",
    "Chunk",
    "ClientConfigError",
    "FhirClient",
    "FhirClientError",
    "HttpOptions",
    "InvalidPublishInputError",
    "ProgressEvent",
    "PublishError",
    "PublishOptions",
    "PublishResult",
    "RejectedByServerError",
    "ResourceResult",
    "ServerInfo",
    "ServerUnreachableError",
    "ServerUnsuitableError",
    "SmartBackendAuth",
    "auth_from_options",
    "bundle_is_replayable",
    "check_capability",
    "chunk_resources",
    "components",
    "load_dist",
    "preview",
    "publish",
    "source_kind",
    "validate_for_publish",
    "validation_problems",
    "verify",
]
