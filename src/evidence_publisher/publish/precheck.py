"""Validation before sending: nothing invalid is ever published.

The official-definition validator is used by default; with ``official=False`` (``--no-validate``)
each resource is only parsed with fhir.resources (structure only).
"""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.bundle import collection_bundle
from evidence_publisher.publish.errors import InvalidPublishInputError
from evidence_publisher.validate import Validator, error_lines, structural_problems


def validation_problems(
    resources: list[dict], *, official: bool = True, log: Callable[[str], None] | None = None
) -> list[str]:
    """``Type/id expression: message`` for every error (empty when valid)."""
    if not official:
        return structural_problems(resources)
    validator = Validator.from_cache(progress=log)
    report = validator.validate(resources, bundle=collection_bundle(resources, "https://publish.invalid"))
    return error_lines(report)


def validate_for_publish(
    resources: list[dict], *, official: bool = True, log: Callable[[str], None] | None = None
) -> None:
    problems = validation_problems(resources, official=official, log=log)
    if problems:
        raise InvalidPublishInputError(
            f"{len(problems)} validation error(s); nothing was sent to the server",
            details=problems,
        )
