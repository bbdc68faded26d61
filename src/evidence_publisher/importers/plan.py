"""``import``: read every record, check everything, then write every file or none.

A record becomes a publication mapping ``<id>.yaml`` (citation only) and its abstract a source
document ``<id>-abstract.txt`` in the corpus's sources directory, registered in ``corpus.yaml``.
An existing mapping is replaced only with ``force`` and only by the same record (same DOI, PMID or
title); a mapping of another publication that happens to get the same id is never touched: the
new one takes the next free id (``smith-2020b``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evidence_publisher.errors import InputLimitError
from evidence_publisher.importers.errors import CorpusNotFoundError, ImportRefusedError, RecordImportError
from evidence_publisher.importers.files import PlannedFile, write_files
from evidence_publisher.importers.formats import read_records
from evidence_publisher.importers.issues import RecordIssue
from evidence_publisher.importers.reading import UnreadableExportError
from evidence_publisher.importers.record import FORMATS, Record
from evidence_publisher.importers.register import add_entries
from evidence_publisher.importers.writer import Origin, mapping_document
from evidence_publisher.importers.yamltext import SCHEMA_DIR
from evidence_publisher.jsonio import dumps
from evidence_publisher.limits import STRING_CHARS, current
from evidence_publisher.sources.errors import MappingError
from evidence_publisher.sources.loader import CORPUS_FILE
from evidence_publisher.sources.model import Corpus, Publication
from evidence_publisher.sources.schema import json_schema
from evidence_publisher.sources.schema_errors import issues_from_validation
from evidence_publisher.sources.textfile import CONTROL, TextFileError, read_text
from evidence_publisher.sources.yamlload import parse_located

_TOP_ID = re.compile(r"^id:[ \t]*[\"']?([a-z0-9][a-z0-9-]*)", re.MULTILINE)
_MAX_BASE = 40  # ids stay well inside the 52 characters a slug may have, suffixes included


@dataclass
class Imported:
    record: Record
    mapping_id: str
    mapping: Path
    source_id: str
    source: Path
    replaces: bool


@dataclass
class ImportPlan:
    corpus_dir: Path
    imported: list[Imported] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)


@dataclass
class CorpusState:
    """What the corpus holds before the import: its register, mapping ids and their files."""

    dir: Path
    file: Path
    text: str
    model: Corpus
    sources_dir: Path
    ids: dict[str, Path]

    @classmethod
    def read(cls, corpus_dir: Path) -> CorpusState:
        file = corpus_dir / CORPUS_FILE
        if not file.is_file():
            raise CorpusNotFoundError(
                f"{corpus_dir} holds no {CORPUS_FILE}",
                details=["fix: give the mappings directory of a corpus with --corpus (it holds corpus.yaml)"],
            )
        try:
            text = read_text(file, str(file))
        except TextFileError as problem:
            raise MappingError([problem.issue]) from None
        doc, issues = parse_located(text, str(file))
        if doc is None or issues:
            raise MappingError(issues)
        try:
            model = Corpus.model_validate(doc.data)
        except ValidationError as exc:
            raise MappingError(issues_from_validation(doc, "corpus", exc)) from None
        ids: dict[str, Path] = {}
        for path in sorted(corpus_dir.glob("*.y*ml")):
            if path.name == CORPUS_FILE or path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            with path.open("rb") as fh:
                head = fh.read(64 * 1024).decode("utf-8", "replace")
            for found in _TOP_ID.findall(head):
                ids.setdefault(found, path)
            ids.setdefault(path.stem, path)
        return cls(corpus_dir, file, text, model, (corpus_dir / model.sources_dir), ids)

    @property
    def register(self) -> dict[str, Any]:
        return {s.id: s for s in self.model.sources}


def plan_import(
    files: list[Path],
    corpus_dir: Path,
    *,
    input_format: str = "auto",
    force: bool = False,
    date: str | None = None,
    mapping_id: str | None = None,
) -> ImportPlan:
    """Read and check everything; raise (writing nothing) on the first kind of failure found."""
    corpus = CorpusState.read(corpus_dir)
    records: list[tuple[Record, Origin]] = []
    issues: list[RecordIssue] = []
    for path in files:
        display = str(path)
        try:
            found = read_records(path, display, input_format)
        except UnreadableExportError as exc:
            issues.extend(exc.issues)
            continue
        origin = Origin(path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for rec in found:
            _check(rec)
            issues.extend(rec.issues)
            records.append((rec, origin))
    _same_publication_twice(records)
    issues.extend(i for rec, _ in records for i in rec.issues if i not in issues)
    if mapping_id is not None and len(records) != 1:
        raise CorpusNotFoundError(
            f"--id names one mapping, but {len(records)} records were given",
            details=["fix: import that record's file on its own, or leave out --id"],
        )
    if issues:
        raise RecordImportError(issues)
    plan = ImportPlan(corpus_dir)
    refusals: list[str] = []
    taken: set[str] = set()
    new_entries: list[dict[str, Any]] = []
    replaced_entries: dict[str, dict[str, Any]] = {}
    for rec, origin in records:
        chosen = _choose_id(rec, corpus, taken, force, mapping_id, refusals)
        if chosen is None:
            continue
        ident, label, replaces = chosen
        taken.add(ident)
        item, mapping_text, entry = _plan_record(rec, origin, corpus, ident, label, date, replaces, issues)
        if item is None:
            continue
        plan.imported.append(item)
        plan.files.append(PlannedFile(item.source, rec.abstract.encode("utf-8")))  # type: ignore[union-attr]
        plan.files.append(PlannedFile(item.mapping, mapping_text.encode("utf-8")))
        if item.source_id in corpus.register:
            if corpus.register[item.source_id].model_dump(exclude_none=True) != entry:
                replaced_entries[item.source_id] = entry
        else:
            new_entries.append(entry)
    if issues:
        raise RecordImportError(issues)
    if refusals:
        raise ImportRefusedError(
            f"{len(refusals)} record{'s' if len(refusals) > 1 else ''} would overwrite existing files; "
            "nothing was written",
            details=refusals,
        )
    if new_entries or replaced_entries:
        text = add_entries(corpus.text, str(corpus.file), new_entries, replaced_entries)
        plan.files.append(PlannedFile(corpus.file, text.encode("utf-8")))
    plan.files[:0] = schema_files(corpus_dir)
    plan.files = [f for f in plan.files if not (f.path.is_file() and f.path.read_bytes() == f.content)]
    return plan


def schema_files(corpus_dir: Path) -> list[PlannedFile]:
    """The JSON Schema files the generated mappings' ``yaml-language-server`` lines point at,
    where they are missing or out of date."""
    out = []
    for kind in ("publication", "recommendation"):
        path = corpus_dir / SCHEMA_DIR / f"{kind}.schema.json"
        content = dumps(json_schema(kind)).encode("utf-8")
        if not path.is_file() or path.read_bytes() != content:
            out.append(PlannedFile(path, content))
    return out


def write_plan(plan: ImportPlan) -> None:
    write_files(plan.files)


# ---------------------------------------------------------------------------------------------
# checks of one record
# ---------------------------------------------------------------------------------------------
def _check(rec: Record) -> None:
    if rec.unsupported:
        return  # the parser already said what is wrong (not a journal article, unreadable)
    fix = "correct the record (or leave it out of the file)"
    if not rec.title:
        rec.problem(rec.origins.get("title", "title"), "the record has no title", fix)
    if not rec.journal:
        rec.problem(rec.origins.get("journal", "journal"), "the record names no journal", fix)
    if not rec.abstract and not any(i.field == "abstract" for i in rec.issues):
        rec.problem(
            rec.origins.get("abstract", "abstract"),
            "the record has no abstract, so curators would have nothing to quote from",
            "export the record with its abstract, or write the mapping by hand with the document "
            "you quote from (docs/mapping-format.md)",
        )
    limit = current(STRING_CHARS)
    for fld, value in _strings(rec):
        bad = CONTROL.search(value)
        if bad:
            rec.problem(
                fld,
                f"control character U+{ord(bad.group()):04X} at character {bad.start() + 1}; mapping files "
                "refuse it",
                "remove it from the record",
            )
        if len(value) > limit:
            raise InputLimitError(f"{rec.where}: {fld}", STRING_CHARS, f"{len(value):,} characters", limit)


def _strings(rec: Record) -> list[tuple[str, str]]:
    out = [
        (name, getattr(rec, name))
        for name in ("title", "journal", "journal_abbreviation", "publisher", "volume", "issue", "pages")
        if getattr(rec, name)
    ]
    if rec.abstract:
        out.append(("abstract", rec.abstract))
    out += [("authors", p.name) for p in rec.authors] + [
        ("authors", a) for p in rec.authors for a in p.affiliations
    ]
    out += [("keywords", k) for k in rec.keywords] + [("identifiers", v) for _, v in rec.identifiers]
    out += [("funding", g.funder) for g in rec.funding] + [
        ("funding", n) for g in rec.funding for n in g.numbers
    ]
    out += [(k, n.citation) for k in ("errata", "retractions") for n in getattr(rec, k)]
    out += [("mesh_headings", h.descriptor) for h in rec.mesh]
    return out


def _same_publication_twice(records: list[tuple[Record, Origin]]) -> None:
    """Two records of one publication (same DOI, PMID or PMCID) would give two citations of it."""
    seen: dict[tuple[str, str], Record] = {}
    for rec, _ in records:
        for ident in rec.identifiers:
            first = seen.setdefault(ident, rec)
            if first is not rec:
                rec.problem(
                    "identifiers",
                    f"the same publication as {first.where} ({ident[0].upper()} {ident[1]})",
                    "import each publication once: leave one of the two records out",
                )
                break


def _plan_record(
    rec: Record,
    origin: Origin,
    corpus: CorpusState,
    ident: str,
    label: str,
    date: str | None,
    replaces: bool,
    issues: list[RecordIssue],
) -> tuple[Imported | None, str, dict[str, Any]]:
    source_id = f"{ident}-abstract"
    source = corpus.sources_dir / f"{source_id}.txt"
    text, data = mapping_document(
        rec,
        mapping_id=ident,
        label=label,
        date=date or corpus.model.date,
        source_id=source_id,
        source_file=f"{corpus.model.sources_dir.rstrip('/')}/{source.name}",
        origin=origin,
    )
    doc, problems = parse_located(text, f"{ident}.yaml")
    try:
        if doc is None or problems:
            raise ValueError("; ".join(str(p) for p in problems))
        Publication.model_validate(doc.data)
        if doc.data != data:
            raise ValueError("the written YAML does not read back as the record's values")
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
            issues.append(
                RecordIssue(rec.file, rec.index, rec.line, rec.key, loc, err["msg"], "correct the record")
            )
        return None, "", {}
    except ValueError as exc:  # a bug of the writer: say so plainly rather than write a bad file
        issues.append(
            RecordIssue(rec.file, rec.index, rec.line, rec.key, "", str(exc), "report this as a bug")
        )
        return None, "", {}
    entry = {
        "id": source_id,
        "file": source.name,
        "kind": "primary-abstract",
        "title": rec.title,
        "description": f"Abstract of record {rec.index} of {origin.file} ({FORMATS[rec.format]}), "
        "imported by evidence-publisher import.",
        "imported_from": origin.ref(rec),
    }
    item = Imported(rec, ident, corpus.dir / f"{ident}.yaml", source_id, source, replaces)
    return item, text, entry


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------
def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_MAX_BASE].strip("-")


def _base(rec: Record) -> tuple[str, str]:
    """``liang-2010`` and ``Liang 2010``: the first author's family name and the year."""
    family = rec.authors[0].family if rec.authors and rec.authors[0].family else None
    words = family or next((w for w in (rec.title or "").split() if len(w) > 3), "record")
    year = str(rec.year) if rec.year else "nd"
    base = slug(f"{words} {year}") or f"record-{year}"
    return base, f"{words} {year}" if rec.year else words


def _choose_id(
    rec: Record,
    corpus: CorpusState,
    taken: set[str],
    force: bool,
    wanted: str | None,
    refusals: list[str],
) -> tuple[str, str, bool] | None:
    base, label = _base(rec)
    candidates = [wanted] if wanted else [base] + [f"{base}{c}" for c in "bcdefghijklmnopqrstuvwxyz"]
    for n, cand in enumerate(candidates):
        suffix = cand[len(base) :] if not wanted and n else ""
        if cand in taken:
            continue
        owner = corpus.ids.get(cand)
        register = corpus.register.get(f"{cand}-abstract")
        source_file = corpus.sources_dir / f"{cand}-abstract.txt"
        if owner is None and register is None and not source_file.exists():
            return cand, label + suffix, False
        if owner is not None and _same_record(owner, rec):
            if force:
                return cand, label + suffix, True
            refusals.append(
                f"{rec.where}: already imported as {owner}; fix: pass --force to replace it (and its "
                "abstract) with this record"
            )
            return None
        if wanted:
            used = owner or (f"register entry {cand}-abstract" if register else source_file)
            refusals.append(f"{rec.where}: id {cand!r} is already used by {used}; fix: choose another --id")
            return None
    refusals.append(f"{rec.where}: no free id from {base!r}; fix: import it with --id NEW-ID")
    return None


def _same_record(path: Path, rec: Record) -> bool:
    """Does the mapping at ``path`` hold the citation of this record (same DOI or PMID, or title)?"""
    try:
        doc, _ = parse_located(read_text(path, str(path)), str(path))
    except TextFileError:
        return False
    citation = doc.data.get("citation") if doc is not None and isinstance(doc.data, dict) else None
    if not isinstance(citation, dict):
        return False
    theirs = {
        (i.get("type"), i.get("value")) for i in citation.get("identifiers") or [] if isinstance(i, dict)
    }
    if theirs & set(rec.identifiers):
        return True
    title = citation.get("title")
    return isinstance(title, str) and _norm(title) == _norm(rec.title or "")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())
