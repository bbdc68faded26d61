"""``new corpus ID``: the directory and ``corpus.yaml`` a curator starts from, before any import.

The file passes the schema as written. What only the curator can say (the title, the publisher)
is a ``TODO`` placeholder unless given, and the build refuses a placeholder, so a corpus is never
published with one. The register (``sources:``) is left out: ``import`` starts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from evidence_publisher.importers.errors import CorpusNotFoundError, ImportRefusedError
from evidence_publisher.importers.files import PlannedFile
from evidence_publisher.importers.plan import schema_files
from evidence_publisher.importers.scaffold import SLUG
from evidence_publisher.importers.yamltext import SCHEMA_DIR, block, comment, schema_line
from evidence_publisher.jsonio import dumps
from evidence_publisher.sources.loader import CORPUS_FILE
from evidence_publisher.sources.model import Corpus
from evidence_publisher.sources.schema import json_schema
from evidence_publisher.sources.yamlload import parse_located

SOURCES_DIR = "sources"


@dataclass
class NewCorpus:
    path: Path
    files: list[PlannedFile]
    placeholders: list[str]  # the fields left as TODO


def plan_new_corpus(
    corpus_id: str,
    corpus_dir: Path,
    *,
    base_url: str,
    date: str,
    title: str | None = None,
    publisher: str | None = None,
    version: str = "0.1.0",
) -> NewCorpus:
    """The files of a new corpus in ``corpus_dir``; raises when the directory already holds mappings
    (a corpus is never overwritten) or when a given value would not pass the schema."""
    if not SLUG.match(corpus_id):
        raise CorpusNotFoundError(
            f"{corpus_id!r} is not a corpus id",
            details=["fix: use lower-case letters, digits and '-', at most 52 characters (e.g. lupus-msc)"],
        )
    target = corpus_dir / CORPUS_FILE
    if corpus_dir.exists() and not corpus_dir.is_dir():
        raise ImportRefusedError(
            f"{corpus_dir} exists and is not a directory; nothing was written",
            details=["fix: choose another directory with --corpus DIR"],
        )
    existing = sorted(p.name for p in corpus_dir.glob("*.y*ml")) if corpus_dir.is_dir() else []
    if existing:
        raise ImportRefusedError(
            f"{corpus_dir} already holds mapping files ({', '.join(existing[:3])}"
            f"{', ...' if len(existing) > 3 else ''}); nothing was written",
            details=["fix: choose a new directory with --corpus DIR; a corpus is never replaced by `new`"],
        )
    placeholders = [name for name, value in (("title", title), ("publisher", publisher)) if value is None]
    values = {
        "kind": "corpus",
        "id": corpus_id,
        "title": title if title is not None else "TODO: the corpus title",
        "base_url": base_url,
        "version": version,
        "publisher": publisher if publisher is not None else "TODO: who publishes it (a guideline group)",
        "status": "draft",
        "date": date,
        "sources_dir": SOURCES_DIR,
    }
    text = schema_line("corpus") + comment(
        "A corpus: the mappings built together. `evidence-publisher import FILE... --corpus "
        f"{corpus_dir}` writes a citation mapping per record beside this file and adds its abstract to "
        f"the source register (sources:, below) and to {SOURCES_DIR}/. base_url is the canonical base "
        "of every resource's url: choose it once, it identifies the resources on every server."
    )
    text += "".join(block(key, value) for key, value in values.items())
    _check(text, target, corpus_dir)
    schema = PlannedFile(
        corpus_dir / SCHEMA_DIR / "corpus.schema.json", dumps(json_schema("corpus")).encode("utf-8")
    )
    files = [*schema_files(corpus_dir), schema, PlannedFile(target, text.encode("utf-8"))]
    return NewCorpus(target, files, placeholders)


def _check(text: str, target: Path, corpus_dir: Path) -> None:
    """A value given on the command line that the schema refuses is the user's mistake: say which."""
    doc, problems = parse_located(text, str(target))
    if doc is None or problems:  # a bug of this module: the text is made by yaml.dump
        raise RuntimeError(f"the corpus skeleton does not parse: {problems}")
    try:
        Corpus.model_validate(doc.data)
    except ValidationError as exc:
        details = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            details.append(f"--{field.replace('_', '-')}: {err['msg']}")
        raise CorpusNotFoundError(
            f"the corpus {corpus_dir} cannot be made from these values; nothing was written",
            details=[*details, "fix: correct the option(s) named above"],
        ) from None
