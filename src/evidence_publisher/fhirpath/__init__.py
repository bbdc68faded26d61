"""FHIRPath for the validator and the CDS service: one parser, two engines, one entry point.

``expression(text)`` / ``invariant(text)`` parse once (adapter.parse, whose error listener
raises) and return an ``Expression``. ``Expression.evaluate`` answers with closures compiled
from the parse tree (compiler/) and hands the cases they do not cover to fhirpathpy, the
reference engine (adapter.evaluate); each hand-over is counted and logged at debug
(fallbacks.py). FHIR's functions that need the caller's context, ``resolve()`` and
``memberOf()``, read it from ``Hooks``. Importing this package changes no global state.

This package sits below ``validate`` and ``cds`` and imports neither. Module map:
docs/validation.md, "The FHIRPath package".
"""

from evidence_publisher.fhirpath.errors import FhirPathError, FhirPathEvaluationError, FhirPathSyntaxError
from evidence_publisher.fhirpath.expressions import Expression, expression, invariant, quote_reserved
from evidence_publisher.fhirpath.hooks import NO_HOOKS, Hooks

__all__ = [
    "NO_HOOKS",
    "Expression",
    "FhirPathError",
    "FhirPathEvaluationError",
    "FhirPathSyntaxError",
    "Hooks",
    "expression",
    "invariant",
    "quote_reserved",
]
