"""sources stage: mapping files -> checked, typed model with file:line provenance."""

from evidence_publisher.sources.errors import MappingError
from evidence_publisher.sources.issues import Issue
from evidence_publisher.sources.loader import LoadedCorpus, load_corpus
from evidence_publisher.sources.schema import json_schema

__all__ = ["Issue", "LoadedCorpus", "MappingError", "json_schema", "load_corpus"]
