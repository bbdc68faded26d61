"""convert stage: the R5 resources of ``fhir/`` rewritten for another FHIR version.

It runs after ``fhir/`` and before validation, and reads the mappers' output only as data.
``r4b``: the whole corpus as R4B (``build --fhir-version R4B``). ``r4``: the recommendation's
PlanDefinition and ActivityDefinition for an R4 clinical-reasoning engine
(``evidence-publisher convert r4``).
"""

from evidence_publisher.convert.errors import UnmappedElementError, UnsupportedFhirVersionError
from evidence_publisher.convert.r4b import Conversion, R4BResult, to_r4b

__all__ = ["Conversion", "R4BResult", "UnmappedElementError", "UnsupportedFhirVersionError", "to_r4b"]
