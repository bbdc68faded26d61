"""convert stage: the R5 resources of ``fhir/`` rewritten for another FHIR version (R4B).

It runs after ``fhir/`` and before validation, and reads the mappers' output only as data.
"""

from evidence_publisher.convert.errors import UnmappedElementError, UnsupportedFhirVersionError
from evidence_publisher.convert.r4b import Conversion, R4BResult, to_r4b

__all__ = ["Conversion", "R4BResult", "UnmappedElementError", "UnsupportedFhirVersionError", "to_r4b"]
