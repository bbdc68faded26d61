"""bundle stage: transaction and collection Bundles, NDJSON."""

from evidence_publisher.bundle.collection import collection_bundle, ndjson_by_type
from evidence_publisher.bundle.errors import BundleError
from evidence_publisher.bundle.references import reference_targets, rewrite_references
from evidence_publisher.bundle.transaction import (
    conditional_url,
    dependency_order,
    entry_full_url,
    is_replayable,
    resource_key,
    transaction_bundle,
)

__all__ = [
    "BundleError",
    "collection_bundle",
    "conditional_url",
    "dependency_order",
    "entry_full_url",
    "is_replayable",
    "ndjson_by_type",
    "reference_targets",
    "resource_key",
    "rewrite_references",
    "transaction_bundle",
]
