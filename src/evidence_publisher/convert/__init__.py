"""convert stage: the R5 resources of ``fhir/`` rewritten for another FHIR version.

``r4``: the recommendation's PlanDefinition and ActivityDefinition for an R4 clinical-reasoning
engine (``evidence-publisher convert r4``).
"""
