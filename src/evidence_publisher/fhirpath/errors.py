"""Errors of the FHIRPath package (one class per failure mode).

Callers turn them into their own reports: the validator into a ``processing`` issue for the
invariant, the CDS service into a ``RecommendationError`` (at load) or a
``ConditionEvaluationError`` (per call), the site into a condition shown without plain words.
None reaches the CLI on its own.
"""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError


class FhirPathError(EvidencePublisherError):
    """Base of the errors below: an expression could not be parsed or evaluated."""


class FhirPathSyntaxError(FhirPathError):
    """The expression is not valid FHIRPath; ``detail`` names the column and what was expected."""

    def __init__(self, expression: str, detail: str) -> None:
        super().__init__(f"FHIRPath {expression!r} does not parse: {detail}")
        self.expression = expression
        self.detail = detail


class FhirPathEvaluationError(FhirPathError):
    """fhirpathpy (the reference engine) raised on this input; the message is fhirpathpy's own."""
