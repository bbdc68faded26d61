"""evidence-publisher: compile published clinical evidence into validated FHIR R5 resources."""

__version__ = "0.1.0"
