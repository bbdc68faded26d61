"""Which parser reads an export file: named with ``--input-format``, else told by the file's
extension, else by its first characters."""

from __future__ import annotations

from pathlib import Path

from evidence_publisher.importers import bibtex, crossref, csl, pubmed, ris
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError, load_json, read_export
from evidence_publisher.importers.record import FORMATS, Record

INPUT_FORMATS = ("auto", *FORMATS)
_EXTENSIONS = {".xml": "pubmed-xml", ".ris": "ris", ".bib": "bibtex", ".json": "json", ".csl": "json"}


def read_records(path: Path, display: str, input_format: str = "auto") -> list[Record]:
    """Every record of one export file; raises ``UnreadableExportError`` when the file cannot be read
    as records at all, ``InputLimitError`` when it is over a limit."""
    data = read_export(path, display)
    kind = input_format if input_format != "auto" else _guess(path, data, display)
    if kind == "pubmed-xml":
        return pubmed.parse(data, display)
    if kind == "ris":
        return ris.parse(data, display)
    if kind == "bibtex":
        return bibtex.parse(data, display)
    value = load_json(data, display, "JSON")
    if kind == "crossref-json" or (kind == "json" and crossref.is_crossref(value)):
        return crossref.parse(value, display)
    return csl.parse(value, display)


def _guess(path: Path, data: bytes, display: str) -> str:
    by_name = _EXTENSIONS.get(path.suffix.lower())
    if by_name:
        return by_name
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "pubmed-xml"
    if head.startswith(b"TY  -"):
        return "ris"
    if head.startswith((b"@", b"%")):
        return "bibtex"
    if head.startswith((b"[", b"{")):
        return "json"
    raise UnreadableExportError(
        RecordIssue(
            display,
            0,
            None,
            None,
            "",
            "the format cannot be told from the file name or its first characters",
            f"name it with --input-format ({', '.join(FORMATS)})",
        )
    )
