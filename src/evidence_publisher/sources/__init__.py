"""sources stage: mapping files -> checked, typed model with file:line provenance."""

from evidence_publisher.sources.issues import Issue, MappingErrors
from evidence_publisher.sources.loader import LoadedCorpus, load_corpus
from evidence_publisher.sources.schema import json_schema

__all__ = ["Issue", "LoadedCorpus", "MappingErrors", "json_schema", "load_corpus"]
