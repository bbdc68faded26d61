"""The validator's walk over a resource's JSON, cut by concern.

``walker`` drives one pass over the JSON against the compiled snapshots and hands each node, as a
``context.Node`` cursor, to the checks of its kind: ``primitives``, ``extensions``,
``references``, ``bindings`` (bound codes, fixed and pattern values) and ``invariants``;
``profiles`` walks again against claimed profiles and their slices.
"""

from evidence_publisher.validate.walk.context import BundleIndex, Node, ResourceContext
from evidence_publisher.validate.walk.walker import Walker

__all__ = ["BundleIndex", "Node", "ResourceContext", "Walker"]
