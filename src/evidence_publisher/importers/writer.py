"""The mapping file written for one imported record: a ``kind: publication`` file holding only the
citation, every value copied from the record, the record's place named above each value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evidence_publisher.importers.record import FORMATS, Record
from evidence_publisher.importers.yamltext import block, comment, schema_line


@dataclass(frozen=True)
class Origin:
    """Where the record came from: the export file's name and SHA-256, and the record's position."""

    file: str
    sha256: str

    def ref(self, rec: Record) -> dict:
        return {"file": self.file, "format": rec.format, "record": rec.index, "sha256": self.sha256}


def citation_data(rec: Record) -> dict[str, Any]:
    """The citation block's values, in the order of the mapping format (only what the record holds)."""
    out: dict[str, Any] = {"style": "journal-article", "title": rec.title}
    journal: dict[str, Any] = {"title": rec.journal}
    if rec.journal_abbreviation:
        journal["abbreviation"] = rec.journal_abbreviation
    if rec.issn:
        journal["issn"] = [{"value": v, **({"type": t} if t else {})} for v, t in rec.issn]
    out["journal"] = journal
    for key in ("publisher", "year", "month", "day"):
        value = getattr(rec, key)
        if value is not None:
            out[key] = value
    if rec.published_online:
        out["published_date"] = rec.published_online
    for key in ("volume", "issue", "pages"):
        value = getattr(rec, key)
        if value is not None:
            out[key] = value
    if rec.identifiers:
        out["identifiers"] = [{"type": t, "value": v} for t, v in rec.identifiers]
    if rec.authors:
        out["authors"] = [_author(p.name, p.affiliations) for p in rec.authors]
    if rec.funding:
        out["funding"] = [
            {"funder": g.funder, **({"grants": g.numbers} if g.numbers else {})} for g in rec.funding
        ]
    for key in ("errata", "retractions"):
        notices = getattr(rec, key)
        if notices:
            out[key] = [_notice(n.citation, n.identifiers) for n in notices]
    if rec.keywords:
        out["keywords"] = list(rec.keywords)
    if rec.mesh:
        out["mesh_headings"] = [_heading(h) for h in rec.mesh]
    out["abstract"] = rec.abstract
    return out


def _author(name: str, affiliations: list[str]) -> dict:
    if not affiliations:
        return {"name": name}
    return {"name": name, "affiliation": affiliations[0] if len(affiliations) == 1 else list(affiliations)}


def _notice(citation: str, identifiers: list[tuple[str, str]]) -> dict:
    out: dict[str, Any] = {"citation": citation}
    if identifiers:
        out["identifiers"] = [{"type": t, "value": v} for t, v in identifiers]
    return out


def _heading(h: Any) -> dict:
    out: dict[str, Any] = {"descriptor": h.descriptor}
    if h.code:
        out["code"] = h.code
    if h.major:
        out["major_topic"] = True
    if h.qualifiers:
        out["qualifiers"] = [
            {
                "name": q.name,
                **({"code": q.code} if q.code else {}),
                **({"major_topic": True} if q.major else {}),
            }
            for q in h.qualifiers
        ]
    return out


# which record origin explains which citation key
_ORIGIN_OF = {
    "title": "title",
    "journal": "journal",
    "publisher": "publisher",
    "year": "year",
    "month": "month",
    "day": "day",
    "published_date": "published_date",
    "volume": "volume",
    "issue": "issue",
    "pages": "pages",
    "identifiers": "identifiers",
    "authors": "authors",
    "funding": "funding",
    "errata": "errata",
    "retractions": "retractions",
    "keywords": "keywords",
    "mesh_headings": "mesh_headings",
    "abstract": "abstract",
}


def mapping_document(
    rec: Record, *, mapping_id: str, label: str, date: str, source_id: str, source_file: str, origin: Origin
) -> tuple[str, dict]:
    """The mapping file's text and the data it must load as (for the caller's check)."""
    cit = citation_data(rec)
    imported = [k for k in cit if k not in ("style", "abstract")]
    cit["imported_from"] = {**origin.ref(rec), "fields": imported}
    data = {
        "kind": "publication",
        "id": mapping_id,
        "date": date,
        "source": source_id,
        "label": label,
        "citation": cit,
    }
    fmt = FORMATS[rec.format]
    named = f", {rec.key}" if rec.key else ""
    head = (
        f"Citation imported by `evidence-publisher import` from record {rec.index} of {origin.file} "
        f"({fmt}{named}). Every value comes from that record (names are written given name first, "
        "months as Jan ... Dec); the comment above each names where the record holds it. Nothing was "
        "added: an identifier, date or author the record lacks is absent here too.\n"
        f"The abstract is registered as source document {source_id} ({source_file}), byte for byte, so "
        "that quotes can be checked against it. Curate the study in a file of its own: "
        f"`evidence-publisher new study ID --from {mapping_id}`."
    )
    if rec.not_imported:
        head += "\nNot imported (no home in the mapping format): " + ", ".join(rec.not_imported) + "."
    text = schema_line("publication") + comment(head)
    for key in ("kind", "id", "date", "source", "label"):
        text += block(key, data[key])
    text += "citation:\n"
    said = ""
    for key, value in cit.items():
        where = rec.origins.get(_ORIGIN_OF.get(key, ""), "")
        if where == said and key not in ("abstract", "imported_from"):
            text += block(key, value, 2)  # the comment above covers it (year, month, day)
            continue
        said = where
        if key == "journal" and rec.issn and rec.origins.get("issn"):
            where = f"{where}; ISSN: {rec.origins['issn']}"
        if key == "abstract":
            text += comment(f"{fmt}: {where}; identical to the text of {source_file}", 2)
        elif key == "imported_from":
            text += comment("where the values above come from (checked by the build instead of quotes)", 2)
        elif where:
            text += comment(f"{fmt}: {where}", 2)
        text += block(key, value, 2)
    return text, data
