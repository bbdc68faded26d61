"""Finding and rewriting the references one resource makes to others.

Only ``Reference.reference`` values of the form ``Type/id`` count as internal references;
canonicals (``url|version``) are left alone on purpose: a server would turn a canonical equal to a
``urn:uuid`` placeholder into a relative reference, which breaks canonical resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from evidence_publisher.reference_strings import RELATIVE_REF, reference_values

__all__ = ["RELATIVE_REF", "iter_references", "reference_targets", "reference_values", "rewrite_references"]


def iter_references(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Yield ``(fhirpath-ish path, reference dict)`` for every Reference-shaped dict under ``node``.

    A Reference is recognised as a dict with a string ``reference`` key; ``contained`` resources are
    walked too, since their references point into the same build. A CodeableReference holds its
    Reference under a ``reference`` key too (``ResearchStudy.focus``), so a dict there is walked.
    """
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield path, node
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                continue
            yield from iter_references(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from iter_references(item, f"{path}[{i}]")


def reference_targets(resource: dict) -> set[str]:
    """The relative ``Type/id`` references ``resource`` makes (its outgoing edges)."""
    return {ref for ref in reference_values(resource) if RELATIVE_REF.match(ref)}


def rewrite_references(resource: Any, mapping: Callable[[str], str | None]) -> Any:
    """Return a deep copy of ``resource`` with each Reference.reference replaced by ``mapping``.

    ``mapping`` returns the new value, or ``None`` to keep the old one.
    """
    if isinstance(resource, dict):
        out = {}
        for key, value in resource.items():
            if key == "reference" and isinstance(value, str):
                new = mapping(value)
                out[key] = value if new is None else new
            else:
                out[key] = rewrite_references(value, mapping)
        return out
    if isinstance(resource, list):
        return [rewrite_references(item, mapping) for item in resource]
    return resource
