"""validate stage: FHIR R5 validation driven by the official StructureDefinition snapshots.

from evidence_publisher.validate import Validator
report = Validator.from_cache().validate(resources)
"""

from evidence_publisher.validate.errors import (
    InputNotFoundError,
    NoResourcesError,
    ValidationFailedError,
)
from evidence_publisher.validate.outcome import Issue, ValidationReport, operation_outcome
from evidence_publisher.validate.problems import error_lines, structural_problems
from evidence_publisher.validate.validator import Validator

__all__ = [
    "InputNotFoundError",
    "Issue",
    "NoResourcesError",
    "ValidationFailedError",
    "ValidationReport",
    "Validator",
    "error_lines",
    "operation_outcome",
    "structural_problems",
]
