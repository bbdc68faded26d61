"""JSON Schema of the mapping format, for editors (``evidence-publisher schema``)."""

from __future__ import annotations

from pydantic import TypeAdapter

from evidence_publisher.sources.model import Corpus, MappingFile, Publication, Recommendation

_KINDS: dict[str, type[Corpus | Publication | Recommendation]] = {
    "corpus": Corpus,
    "publication": Publication,
    "recommendation": Recommendation,
}


def json_schema(kind: str = "any") -> dict:
    model = _KINDS.get(kind)
    schema = model.model_json_schema() if model is not None else TypeAdapter(MappingFile).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "evidence-publisher mapping file")
    return schema
