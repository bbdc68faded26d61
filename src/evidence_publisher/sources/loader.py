"""Load a corpus of mapping files into a checked model, collecting every problem first."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from evidence_publisher import jsonio
from evidence_publisher.errors import SourceLocation
from evidence_publisher.limits import MAPPING_FILE_BYTES, current
from evidence_publisher.sources.derivation import counts_matching_percentage
from evidence_publisher.sources.errors import MappingError
from evidence_publisher.sources.issues import (
    CorpusFileMissing,
    DanglingReference,
    DerivationMismatch,
    DuplicateId,
    InvalidValue,
    Issue,
    NumberNotInQuote,
    Placeholder,
    QuoteNotFound,
    SourceFileMissing,
    UnreadableFile,
    cap_per_file,
    field_name,
)
from evidence_publisher.sources.model import (
    CitationSpec,
    Corpus,
    MappingFile,
    Publication,
    Recommendation,
    Result,
    SourceDocument,
)
from evidence_publisher.sources.offheap import LoadedStore
from evidence_publisher.sources.parsecache import ParseStore, decode, encode, parse_key
from evidence_publisher.sources.quotes import (
    FormulaError,
    agrees_at_precision,
    evaluate_formula,
    number_occurs,
    quote_occurs,
    written_differently,
)
from evidence_publisher.sources.reads import decode_reads, encode_reads, recording, still_true
from evidence_publisher.sources.schema_errors import issues_from_validation
from evidence_publisher.sources.textfile import TextFileError, read_text
from evidence_publisher.sources.yamlload import LocatedDocument, load_located, load_located_bytes

_ADAPTER: TypeAdapter = TypeAdapter(MappingFile)
CORPUS_FILE = "corpus.yaml"


@dataclass
class Loaded:
    """A mapping file after schema validation."""

    doc: LocatedDocument
    model: Corpus | Publication | Recommendation


@dataclass(frozen=True)
class LoadProgress:
    """Where loading stands: handed to the ``progress`` callback of ``load_corpus``.

    ``bytes_done`` is estimated inside a file from the characters parsed so far.
    """

    file: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass
class _Broken:
    """A mapping file that could not be read or validated, and the references into it."""

    file: str
    references: list[str] = field(default_factory=list)


@dataclass
class LoadedCorpus:
    corpus: Corpus
    corpus_doc: LocatedDocument
    source_texts: dict[str, str]
    # a LoadedStore (on disk) for a large corpus
    publications: MutableMapping[str, Loaded] = field(default_factory=dict)
    recommendations: MutableMapping[str, Loaded] = field(default_factory=dict)
    # ids of files that exist but failed to parse or validate: references to them are not
    # reported as dangling (the file's own errors explain the problem); they are listed as
    # consequences under that file's first error instead
    broken_ids: dict[str, _Broken] = field(default_factory=dict)
    _result_index: dict[str, tuple[Publication, dict[str, Result]]] = field(default_factory=dict, repr=False)
    # built on first use: compiling asks once per result, so a scan each time is quadratic
    _source_index: dict[str, SourceDocument] | None = field(default=None, repr=False)
    _record_index: dict[str, str] | None = field(default=None, repr=False)  # source id -> publication id
    # the parse key (``parsecache.parse_key``: name, bytes, limits) of each publication's file and
    # of the corpus file, when the build has a parse store; the compiler keys its reuse by them
    file_keys: dict[str, str] = field(default_factory=dict, repr=False)
    corpus_key: str | None = field(default=None, repr=False)
    # when set, ``record_id`` notes each question and answer here (``reads.recording``)
    trace: list[tuple[str, str, str | None]] | None = field(default=None, repr=False)
    _text_digests: dict[str, str] | None = field(default=None, repr=False)

    def missing_publication(self, pub_id: str | None, at: SourceLocation, fld: str) -> bool:
        """True when ``pub_id`` names no publication (a reference into a broken file is noted)."""
        if pub_id in self.publications:
            return False
        return not self.into_broken(str(pub_id), at, fld)

    def into_broken(self, ref: str, at: SourceLocation, fld: str) -> bool:
        """True (and noted) when ``ref`` ('pub' or 'pub/result') points into a broken file."""
        broken = self.broken_ids.get(ref.partition("/")[0])
        if broken is None:
            return False
        broken.references.append(f"{at}: {fld}: {ref!r} is not checked until this file loads")
        return True

    @property
    def file_count(self) -> int:
        return 1 + len(self.publications) + len(self.recommendations)

    def with_changes(self, **changes: Any) -> LoadedCorpus:
        """A copy with ``changes`` applied and the lookup indexes left to be built again."""
        return dataclasses.replace(
            self, **changes, _result_index={}, _source_index=None, _record_index=None, _text_digests=None
        )

    def text_digests(self) -> dict[str, str]:
        """Source id -> SHA-256 of its document's text (UTF-8), made on first use."""
        if self._text_digests is None:
            self._text_digests = {
                sid: hashlib.sha256(text.encode("utf-8")).hexdigest()
                for sid, text in self.source_texts.items()
            }
        return self._text_digests

    def source(self, source_id: str) -> SourceDocument:
        if self._source_index is None:
            self._source_index = {}
            for src in self.corpus.sources:
                self._source_index.setdefault(src.id, src)
        return self._source_index[source_id]

    def record_claims(self) -> Iterator[tuple[str, str]]:
        """``(publication id, document id)`` of each publication that is the record of a corpus
        document (it has a citation and is in the corpus), in load order; files kept on disk
        are not read for it (their ``record_claim`` was noted when they were stored)."""
        pubs = self.publications
        if isinstance(pubs, LoadedStore) and pubs.summarise is record_claim:
            claims = ((pub_id, pubs.summary(pub_id)) for pub_id in pubs)
        else:
            claims = ((pub_id, record_claim(item)) for pub_id, item in pubs.items())
        for pub_id, source in claims:
            if source is not None:
                yield pub_id, source

    def record_id(self, source_id: str) -> str | None:
        """The id of the publication whose record document ``source_id`` is; the first one in
        load order if several claim it (a load error says so)."""
        if self._record_index is None:
            self._record_index = {}
            for pub_id, source in self.record_claims():
                self._record_index.setdefault(source, pub_id)
        found = self._record_index.get(source_id)
        if self.trace is not None:
            self.trace.append(("record", source_id, found))
        return found

    def result(self, ref: str) -> tuple[Publication, Result] | None:
        pub_id, _, result_id = ref.partition("/")
        loaded = self.publications.get(pub_id)
        if loaded is None:
            return None
        pub = loaded.model
        assert isinstance(pub, Publication)
        kept = self._result_index.get(pub_id)
        # built once per publication read: derived results look inputs up often. A publication
        # read back from disk again is another object: its results are indexed anew
        if kept is None or kept[0] is not pub:
            if len(self._result_index) >= _RESULT_INDEXES and not isinstance(self.publications, dict):
                self._result_index.clear()  # a large corpus keeps the indexes of a few only
            index: dict[str, Result] = {}
            for res in pub.results:
                index.setdefault(res.id, res)
            kept = self._result_index[pub_id] = (pub, index)
        found = kept[1].get(result_id)
        return (pub, found) if found is not None else None


_RESULT_INDEXES = 8


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def collect_files(paths: list[Path]) -> tuple[list[Path], list[Issue]]:
    files: list[Path] = []
    issues: list[Issue] = []
    for p in paths:
        if p.is_dir():
            try:
                files.extend(sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml")))
            except OSError as exc:
                issues.append(
                    UnreadableFile(
                        SourceLocation(_display(p)),
                        "",
                        f"the mappings directory cannot be listed: {exc.strerror or exc}",
                        "make it readable",
                    )
                )
        elif p.exists() or p.is_symlink():
            files.append(p)  # reading it says what is wrong with a link or a non-file
        else:
            issues.append(
                CorpusFileMissing(
                    SourceLocation(_display(p)),
                    "",
                    f"{str(p)!r} does not exist",
                    "give a mappings directory (with corpus.yaml) or mapping files",
                )
            )
    if files and not any(f.name == CORPUS_FILE for f in files):
        # files given one by one: the corpus file sits beside them
        sibling = files[0].parent / CORPUS_FILE
        if sibling.is_file():
            files.insert(0, sibling)
    unique = sorted(set(files), key=lambda f: (f.name != CORPUS_FILE, str(f)))
    return unique, issues


_TOP_ID = re.compile(r"^id:[ \t]*[\"']?([a-z0-9][a-z0-9-]*)", re.MULTILINE)


def _guess_ids(path: Path) -> set[str]:
    """Ids a file that failed to parse probably defines: its top-level ``id:`` and its stem."""
    ids = {path.stem}
    try:
        if not path.is_file():
            return ids  # never open a FIFO or a device: it could block
        with path.open("rb") as fh:
            head = fh.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return ids
    ids.update(_TOP_ID.findall(head))
    return ids


def _file_sizes(files: list[Path]) -> list[int]:
    sizes = []
    for f in files:
        try:
            sizes.append(f.stat().st_size)
        except OSError:
            sizes.append(0)
    return sizes


def _read_keyed(path: Path, display: str, store: ParseStore | None) -> tuple[bytes, str] | None:
    """The file's bytes and parse key, if it can be looked up in ``store``: only a regular file
    within the size limit is (reading a FIFO would block and a huge file would be read whole;
    ``load_located`` refuses those, and a file that cannot be read, with a clear issue)."""
    if store is None:
        return None
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > current(MAPPING_FILE_BYTES):
            return None
        content = path.read_bytes()
    except OSError:
        return None
    if len(content) > current(MAPPING_FILE_BYTES):  # it grew after stat
        return None
    return content, parse_key(display, content)


def _parse(
    path: Path,
    display: str,
    on_chars: Callable[[int, int], None] | None,
    store: ParseStore | None,
    keyed: tuple[bytes, str] | None,
) -> tuple[LocatedDocument | None, list[Issue], str | None]:
    """``load_located``, or the same result from ``store`` for a file parsed before; with the
    file's parse key when it was looked up in ``store`` (``keyed``: the bytes parsed and their key)."""
    if store is None or keyed is None:
        return (*load_located(path, display, on_chars), None)
    content, key = keyed
    kept = store.get_parsed(key)
    if kept is not None:
        return decode(display, kept), [], key
    # parsed from the bytes the key was made of: the file may change in between
    doc, issues = load_located_bytes(content, display, on_chars)
    if doc is not None and not issues:  # only a clean parse is worth keeping
        store.put_parsed(key, encode(doc))
    return doc, issues, key


def _thaw(display: str, parsed: bytes) -> Loaded:
    """A publication file known to validate, from its stored parse (``LoadedStore.put_source``)."""
    doc = decode(display, parsed)
    return Loaded(doc, _ADAPTER.validate_python(doc.data))


def _known_publication(
    display: str, key: str, store: ParseStore, publications: LoadedStore[Loaded], seen_ids: dict[str, str]
) -> str | None:
    """File a publication that an earlier build found valid and free of placeholders, without
    building its model (``LoadedStore.put_source``): its id, or None if it is not one of those."""
    known = store.get_loaded(key)
    parsed = store.get_parsed(key) if known is not None else None
    if known is None or parsed is None:
        return None
    try:
        summary = jsonio.loads(known)
        pub_id, claim = summary["id"], summary["record_of"]
    except (ValueError, KeyError, TypeError):
        return None  # damaged: the file is read as if new
    if not isinstance(pub_id, str) or not (claim is None or isinstance(claim, str)) or pub_id in seen_ids:
        return None  # a duplicate id is reported where the file is read in full
    publications.put_source(pub_id, display, parsed, claim)
    return pub_id


def _within_file(
    progress: Callable[[LoadProgress], None], at: LoadProgress, size: int
) -> Callable[[int, int], None]:
    """Turn the parser's characters-done into bytes-done of the whole load (an estimate)."""

    def on_chars(chars: int, of: int) -> None:
        progress(dataclasses.replace(at, bytes_done=at.bytes_done + size * chars // max(of, 1)))

    return on_chars


# a corpus of more mapping files than this keeps them on disk (``offheap.py``) once checked
OFF_HEAP_FILES = 200


def record_claim(item: Loaded) -> str | None:
    """The corpus document whose record the publication of ``item`` is: its ``source`` when it has a
    citation and is in the corpus, else None."""
    pub = item.model
    if isinstance(pub, Publication) and pub.citation is not None and pub.in_corpus:
        return pub.source
    return None


def _new_mapping(
    file_count: int,
    summarise: Callable[[Loaded], Any] | None = None,
    thaw: Callable[[str, bytes], Loaded] | None = None,
) -> MutableMapping[str, Loaded]:
    return LoadedStore[Loaded](summarise=summarise, thaw=thaw) if file_count > OFF_HEAP_FILES else {}


def load_corpus(
    paths: list[Path],
    progress: Callable[[LoadProgress], None] | None = None,
    store: ParseStore | None = None,
) -> LoadedCorpus:
    """Parse, validate and cross-check mapping files; raise MappingError listing every problem.

    ``progress`` (optional) is called before each file, now and then inside a large file, and
    once at the end. ``store`` (optional) holds the parses of files read before: a file whose
    bytes are unchanged is not parsed again (schema and cross-file checks always run).
    """
    files, issues = collect_files(paths)
    corpora: list[Loaded] = []
    publications: MutableMapping[str, Loaded] = _new_mapping(len(files), record_claim, _thaw)
    recommendations: MutableMapping[str, Loaded] = _new_mapping(len(files))
    seen_ids: dict[str, str] = {}  # id -> the file that defines it
    duplicates: list[Issue] = []
    broken: dict[str, _Broken] = {}
    file_keys: dict[str, str] = {}  # publication id -> its file's parse key
    corpus_keys: list[str | None] = []
    sizes = _file_sizes(files)
    total = sum(sizes)
    done = 0
    for n, (path, size) in enumerate(zip(files, sizes, strict=True)):
        display = _display(path)
        on_chars = None
        if progress is not None:
            progress(LoadProgress(display, n, len(files), done, total))
            on_chars = _within_file(progress, LoadProgress(display, n, len(files), done, total), size)
        keyed = _read_keyed(path, display, store)
        if keyed is not None and store is not None and isinstance(publications, LoadedStore):
            known = _known_publication(display, keyed[1], store, publications, seen_ids)
            if known is not None:
                seen_ids[known] = display
                file_keys[known] = keyed[1]
                done += size
                continue
        doc, parse_issues, key = _parse(path, display, on_chars, store, keyed)
        done += size
        issues.extend(parse_issues)
        if doc is None:
            for ident in _guess_ids(path):
                broken.setdefault(ident, _Broken(display))
            continue
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        try:
            model = _ADAPTER.validate_python(doc.data)
        except ValidationError as exc:
            issues.extend(issues_from_validation(doc, str(kind), exc))
            if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                broken.setdefault(doc.data["id"], _Broken(display))
            continue
        placeholders = _placeholders(doc)
        issues.extend(placeholders)
        if key is not None and store is not None and isinstance(model, Publication) and not placeholders:
            # what a later build needs to file it unread (``_known_publication``)
            summary = {"id": model.id, "record_of": record_claim(Loaded(doc, model))}
            store.put_loaded(key, jsonio.dumps(summary, indent=None).encode("utf-8"))
        # filed (for a large corpus: written to disk) now, so that no more than one file's
        # parse is held at a time while loading
        if isinstance(model, Corpus):
            corpora.append(Loaded(doc, model))
            corpus_keys.append(key)
        elif model.id in seen_ids:
            duplicates.append(
                DuplicateId(
                    doc.locate(("id",)),
                    "id",
                    f"id {model.id!r} is already used by {seen_ids[model.id]}",
                    "give every publication and recommendation a unique id",
                )
            )
        else:
            seen_ids[model.id] = doc.file
            target = publications if isinstance(model, Publication) else recommendations
            target[model.id] = Loaded(doc, model)
            if key is not None and isinstance(model, Publication):
                file_keys[model.id] = key
    if progress is not None:
        progress(LoadProgress("", len(files), len(files), total, total))

    if not corpora:
        if not any(i.location.file.endswith(CORPUS_FILE) for i in issues):
            where = _display(files[0].parent) if files else "the mappings directory"
            issues.append(
                CorpusFileMissing(
                    SourceLocation(where),
                    "",
                    "no corpus file (kind: corpus) was given",
                    f"add {CORPUS_FILE} with base_url, version and the source register",
                )
            )
        raise MappingError(cap_per_file(issues))
    for extra in corpora[1:]:
        issues.append(
            DuplicateId(
                extra.doc.locate(("kind",)),
                "kind",
                f"a second corpus file (the first is {corpora[0].doc.file})",
                "keep one corpus file per build",
            )
        )
    corpus_loaded = corpora[0]
    corpus = corpus_loaded.model
    assert isinstance(corpus, Corpus)
    texts = _load_sources(corpus, corpus_loaded.doc, Path(files[0]).parent, issues)
    result = LoadedCorpus(
        corpus,
        corpus_loaded.doc,
        texts,
        publications,
        recommendations,
        broken_ids=broken,
        file_keys=file_keys,
        corpus_key=corpus_keys[0],
    )
    issues += duplicates

    passed: list[tuple[str, bytes]] = []
    issues += cross_check(result, store, passed)
    if issues:
        raise MappingError(cap_per_file(_fold_consequences(issues, broken)))
    if store is not None:
        for key, reads in passed:
            store.put_checked(key, reads)
    return result


PLACEHOLDER = re.compile(r"^TODO\b")


def _placeholders(doc: LocatedDocument) -> list[Issue]:
    """Text that a skeleton of ``evidence-publisher new`` left to fill in (it starts with TODO)."""
    found: list[Issue] = []
    stack: list[tuple[object, tuple]] = [(doc.data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
        elif isinstance(node, str) and PLACEHOLDER.match(node):
            found.append(
                Placeholder(
                    doc.locate(path),
                    field_name(path),
                    f"{_short(node)!r} is a placeholder of the skeleton",
                    "replace it with the real value (from the source document, with its quote, "
                    "where one applies)",
                )
            )
    return sorted(found, key=lambda i: i.location)


def cross_check(
    corpus: LoadedCorpus, store: ParseStore | None = None, passed: list[tuple[str, bytes]] | None = None
) -> list[Issue]:
    """The checks that need the whole corpus: titles and quotes in their source documents, numbers
    in their quotes, derivations, references between files, unique ids.

    With ``store``, a publication whose checks passed in an earlier build, and whose reads of the
    rest of the corpus (``reads.py``) find the same now, is not checked again; ``passed`` receives
    the entries to store for those checked now without an issue (to be stored only if the whole
    load has none: a reference into a file that failed to load is not reported)."""
    issues: list[Issue] = []
    _check_titles(corpus, issues)
    _check_document_citations(corpus, issues)
    for pub_id in list(corpus.publications):
        key = _check_key(corpus, pub_id) if store is not None else None
        if key is None or store is None:
            _check_publication(corpus, corpus.publications[pub_id], issues)
            continue
        kept = decode_reads(store.get_checked(key))
        if kept is not None and still_true(corpus, kept):
            continue
        item = corpus.publications[pub_id]
        before = len(issues)
        with recording(corpus) as reads:
            _check_publication(corpus, item, issues)
        if passed is not None and reads.repeatable and len(issues) == before:
            passed.append((key, encode_reads(reads.distinct())))
    for item in corpus.recommendations.values():
        _check_recommendation(corpus, item, issues)
    return issues


_CHECK_FORMAT = 1


def _check_key(corpus: LoadedCorpus, pub_id: str) -> str | None:
    """What a publication's checks depend on besides their reads: its file and the corpus file."""
    file_key = corpus.file_keys.get(pub_id)
    if file_key is None or corpus.corpus_key is None:
        return None
    return hashlib.sha256(f"{_CHECK_FORMAT}\0{corpus.corpus_key}\0{file_key}".encode()).hexdigest()


def _fold_consequences(issues: list[Issue], broken: dict[str, _Broken]) -> list[Issue]:
    """Attach the references into each broken file to that file's first (root-cause) issue."""
    by_file: dict[str, list[str]] = {}
    for b in broken.values():
        by_file.setdefault(b.file, []).extend(b.references)
    out = list(issues)
    for file, refs in by_file.items():
        if not refs:
            continue
        own = [i for i, issue in enumerate(out) if issue.location.file == file]
        if not own:
            continue
        first = min(own, key=lambda i: (not out[i].root_cause, out[i].location, out[i].field))
        out[first] = dataclasses.replace(out[first], consequences=(*out[first].consequences, *sorted(refs)))
    return out


def _check_document_citations(corpus: LoadedCorpus, issues: list[Issue]) -> None:
    """At most one publication with a citation may stand for each corpus document, or Evidence
    read from that document would cite an arbitrary one of them."""
    seen: dict[str, str] = {}
    for pub_id, source in corpus.record_claims():
        if source in seen:
            issues.append(
                DuplicateId(
                    corpus.publications[pub_id].doc.locate(("source",)),
                    "source",
                    f"{pub_id!r} and {seen[source]!r} both claim to be the record of document {source!r}",
                    "set 'in_corpus: false' on the publication that the document only names or reports on",
                )
            )
        else:
            seen[source] = pub_id


def _load_sources(corpus: Corpus, doc: LocatedDocument, base: Path, issues: list[Issue]) -> dict[str, str]:
    texts: dict[str, str] = {}
    src_dir = (base / corpus.sources_dir).resolve()
    seen: set[str] = set()
    for i, src in enumerate(corpus.sources):
        if src.id in seen:
            issues.append(
                DuplicateId(
                    doc.locate(("sources", i, "id")),
                    f"sources[{i}].id",
                    f"source id {src.id!r} is registered twice",
                    "give each source a unique id",
                )
            )
            continue
        seen.add(src.id)
        path = src_dir / src.file
        if not path.exists() and not path.is_symlink():
            issues.append(
                SourceFileMissing(
                    doc.locate(("sources", i, "file")),
                    f"sources[{i}].file",
                    f"source document {str(path)!r} does not exist",
                    "copy the document into the sources directory or correct 'file'",
                )
            )
            continue
        try:
            text = read_text(path, _display(path), "source document")
        except TextFileError as problem:
            issues.append(problem.issue)
            continue
        texts[src.id] = text
    return texts


def _check_titles(corpus: LoadedCorpus, issues: list[Issue]) -> None:
    """Each registered title (as printed: ``title_quote``) occurs in its document."""
    for i, src in enumerate(corpus.corpus.sources):
        text = corpus.source_texts.get(src.id)
        title_text = src.title_quote or src.title
        # an imported abstract does not contain its article's title: that comes from the record
        if text is not None and src.imported_from is None and not quote_occurs(title_text, text):
            issues.append(
                QuoteNotFound(
                    corpus.corpus_doc.locate(("sources", i, "title")),
                    f"sources[{i}].title",
                    f"title {title_text!r} does not occur in {src.file}",
                    "copy the title verbatim from the document",
                )
            )


class _Checker:
    """Cross-reference and fidelity checks of one mapping file."""

    def __init__(self, corpus: LoadedCorpus, item: Loaded, issues: list[Issue]) -> None:
        self.corpus = corpus
        self.doc = item.doc
        self.model = item.model
        self.issues = issues

    def at(self, *path: str | int) -> SourceLocation:
        return self.doc.locate(path)

    def source_known(self, source_id: str | None, path: tuple) -> bool:
        if source_id is None:
            return True
        if source_id not in self.corpus.source_texts:
            registered = [s.id for s in self.corpus.corpus.sources]
            if source_id in registered:
                return False  # registered, but its file is missing: reported once, at the register
            known = ", ".join(registered)
            self.issues.append(
                DanglingReference(
                    self.at(*path),
                    field_name(path),
                    f"source {source_id!r} is not in the register",
                    f"use one of: {known}",
                )
            )
            return False
        return True

    def quotes(self, quotes: str | list[str] | None, source_id: str, path: tuple) -> str:
        """Check every quote occurs in the source; return the quotes joined (for number checks)."""
        if quotes is None:
            return ""
        items = [quotes] if isinstance(quotes, str) else list(quotes)
        text = self.corpus.source_texts.get(source_id)
        if text is None:
            return " ".join(items)
        for i, q in enumerate(items):
            if PLACEHOLDER.match(q):
                continue  # reported as a placeholder
            if not quote_occurs(q, text):
                qpath = path if isinstance(quotes, str) else (*path, i)
                self.issues.append(
                    QuoteNotFound(
                        self.at(*qpath),
                        field_name(qpath),
                        f"quote {_short(q)!r} does not occur in {self.corpus.source(source_id).file}",
                        "copy the sentence verbatim from the source document (only whitespace may "
                        "differ), or name the right 'source'",
                    )
                )
        return "\n".join(items)

    def block(self, quotes: str | list[str] | None, source_id: str, base: tuple) -> str:
        """Check a block's ``source`` is registered and its ``quote`` occurs there; return the quote
        text for number checks ("" when the source is unknown, so nothing more is checked)."""
        if not self.source_known(source_id, (*base, "source")):
            return ""
        return self.quotes(quotes, source_id, (*base, "quote"))

    def number(self, value: Decimal | int | None, quote_text: str, path: tuple, what: str) -> None:
        if value is None or not quote_text:
            return
        if not number_occurs(value, quote_text):
            written = written_differently(value, quote_text)
            if written is not None:
                problem = f"{what} {value} is written {written!r} in the quote (other digits)"
                fix = f"write the number exactly as the source does: {written}"
            else:
                problem = f"{what} {value} does not occur in the quote"
                fix = (
                    "quote the sentence that states this number, or mark the value as derived "
                    "with its formula"
                )
            self.issues.append(NumberNotInQuote(self.at(*path), field_name(path), problem, fix))

    def text_in(self, value: str | None, quote_text: str, path: tuple, what: str) -> None:
        if value is None or not quote_text:
            return
        if not quote_occurs(value, quote_text, ignore_case=True):
            self.issues.append(
                NumberNotInQuote(
                    self.at(*path),
                    field_name(path),
                    f"{what} {value!r} does not occur in the quotes of this block",
                    "quote the text that states it, or list the field under 'external' with the "
                    "status and URL where it was found",
                )
            )


def _some(ids: object, n: int = 12) -> str:
    """Sorted ids, at most ``n`` of them (a fix line must stay readable)."""
    names = sorted(ids)  # type: ignore[call-overload]
    more = f" (and {len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _check_publication(corpus: LoadedCorpus, item: Loaded, issues: list[Issue]) -> None:
    pub = item.model
    assert isinstance(pub, Publication)
    ck = _Checker(corpus, item, issues)
    if not ck.source_known(pub.source, ("source",)):
        return
    if pub.citation is not None:
        _check_citation(ck, pub)
    elif pub.citation_in is not None:
        _check_citation_in(ck, pub)
    elif corpus.missing_publication(pub.reported_in, ck.at("reported_in"), "reported_in"):
        issues.append(
            DanglingReference(
                ck.at("reported_in"),
                "reported_in",
                f"publication {pub.reported_in!r} is not defined by any mapping file",
                f"use one of: {_some(corpus.publications)}",
            )
        )
    if pub.study is not None:
        _check_study(ck, pub)
    outcome_ids = _unique_ids(ck, [o.id for o in pub.outcomes], ("outcomes",), "outcome")
    result_ids = _unique_ids(ck, [r.id for r in pub.results], ("results",), "result")
    population_ids = {pub.study.population.id} if pub.study else set()
    for i, res in enumerate(pub.results):
        _check_result(ck, pub, i, res, outcome_ids, population_ids)
    _unique_ids(ck, [c.id for c in pub.certainty], ("certainty",), "certainty")
    for i, cert in enumerate(pub.certainty):
        for j, rid in enumerate(cert.results):
            if rid not in result_ids:
                issues.append(
                    DanglingReference(
                        ck.at("certainty", i, "results", j),
                        f"certainty[{i}].results[{j}]",
                        f"result {rid!r} is not defined in this file",
                        f"use one of: {_some(result_ids)}",
                    )
                )
        ck.block(cert.quote, cert.source or pub.source, ("certainty", i))
    for i, note in enumerate(pub.notes):
        ck.block(note.quote, note.source or pub.source, ("notes", i))


def _unique_ids(ck: _Checker, ids: list[str], path: tuple, what: str) -> set[str]:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            ck.issues.append(
                DuplicateId(
                    ck.at(*path, i, "id"),
                    field_name((*path, i, "id")),
                    f"{what} id {ident!r} is used twice in this file",
                    f"give each {what} a unique id",
                )
            )
        seen.add(ident)
    return seen


_CITATION_TEXT_FIELDS = ("title", "volume", "issue", "pages", "publisher", "website", "month")


def _check_citation_in(ck: _Checker, pub: Publication) -> None:
    target = ck.corpus.publications.get(pub.citation_in or "")
    if target is None:
        if ck.corpus.missing_publication(pub.citation_in, ck.at("citation_in"), "citation_in"):
            ck.issues.append(
                DanglingReference(
                    ck.at("citation_in"),
                    "citation_in",
                    f"publication {pub.citation_in!r} is not defined by any mapping file",
                    f"use one of: {_some(ck.corpus.publications)}",
                )
            )
        return
    assert isinstance(target.model, Publication)
    if target.model.citation is None:
        ck.issues.append(
            DanglingReference(
                ck.at("citation_in"),
                "citation_in",
                f"publication {pub.citation_in!r} has no 'citation' block",
                "name the publication mapping that holds the study's citation (e.g. one written by import)",
            )
        )


def _check_imported_fields(ck: _Checker, pub: Publication) -> set[str]:
    """The citation fields read from an imported record (they are not quoted from a document)."""
    cit = pub.citation
    assert cit is not None
    if cit.imported_from is None:
        return set()
    for j, fname in enumerate(cit.imported_from.fields):
        if fname not in type(cit).model_fields or fname in _NEVER_IMPORTED:
            ck.issues.append(
                InvalidValue(
                    ck.at("citation", "imported_from", "fields", j),
                    f"citation.imported_from.fields[{j}]",
                    f"{fname!r} is not a citation field that a record can supply",
                    f"use citation field names such as {', '.join(_CITATION_TEXT_FIELDS)}, authors, "
                    "identifiers, journal, funding, errata, retractions, keywords, mesh_headings",
                )
            )
    return set(cit.imported_from.fields)


# the abstract is always checked against the source document; the others are not bibliographic values
_NEVER_IMPORTED = {"abstract", "quote", "source", "external", "imported_from", "relations", "style"}


def _check_citation(ck: _Checker, pub: Publication) -> None:
    cit = pub.citation
    assert cit is not None
    src = cit.source or pub.source
    if not ck.source_known(src, ("citation", "source")):
        return
    qtext = ck.quotes(cit.quote, src, ("citation", "quote"))
    ck.quotes(cit.abstract, src, ("citation", "abstract"))
    covered = {f for ext in cit.external for f in ext.fields} | _check_imported_fields(ck, pub)
    _check_relations(ck, cit)
    _check_external_fields(ck, cit)
    if not qtext:
        return
    for name in _CITATION_TEXT_FIELDS:
        if name not in covered:
            ck.text_in(getattr(cit, name), qtext, ("citation", name), name)
    for name in ("year", "day"):
        if name not in covered:
            ck.number(getattr(cit, name), qtext, ("citation", name), name)
    if "journal" not in covered and cit.journal is not None:
        ck.text_in(cit.journal.title, qtext, ("citation", "journal", "title"), "journal title")
        for i, issn in enumerate(cit.journal.issn):
            ck.text_in(issn.value, qtext, ("citation", "journal", "issn", i, "value"), "ISSN")
    if "keywords" not in covered:
        for i, keyword in enumerate(cit.keywords):
            ck.text_in(keyword, qtext, ("citation", "keywords", i), "keyword")
    if "mesh_headings" not in covered:
        for i, heading in enumerate(cit.mesh_headings):
            ck.text_in(heading.descriptor, qtext, ("citation", "mesh_headings", i, "descriptor"), "MeSH")
            for j, qual in enumerate(heading.qualifiers):
                path = ("citation", "mesh_headings", i, "qualifiers", j, "name")
                ck.text_in(qual.name, qtext, path, "MeSH qualifier")
    if "identifiers" not in covered:
        for i, ident in enumerate(cit.identifiers):
            ck.text_in(ident.value, qtext, ("citation", "identifiers", i, "value"), ident.type)
    if "authors" not in covered:
        for i, author in enumerate(cit.authors):
            ck.text_in(author.name, qtext, ("citation", "authors", i, "name"), "author")
    if "author_statement" not in covered:
        ck.text_in(cit.author_statement, qtext, ("citation", "author_statement"), "author statement")
    if "funding" not in covered:
        for i, fund in enumerate(cit.funding):
            ck.text_in(fund.funder, qtext, ("citation", "funding", i, "funder"), "funder")
            for j, grant in enumerate(fund.grants):
                ck.text_in(grant, qtext, ("citation", "funding", i, "grants", j), "grant number")
    for name, what in (("errata", "erratum"), ("retractions", "retraction")):
        if name not in covered:
            for i, notice in enumerate(getattr(cit, name)):
                ck.text_in(notice.citation, qtext, ("citation", name, i, "citation"), what)
                for j, ident in enumerate(notice.identifiers):
                    path = ("citation", name, i, "identifiers", j, "value")
                    ck.text_in(ident.value, qtext, path, f"{what} {ident.type}")


def _check_relations(ck: _Checker, cit: CitationSpec) -> None:
    for i, rel in enumerate(cit.relations):
        at = ck.at("citation", "relations", i, "target")
        if ck.corpus.missing_publication(rel.target, at, f"citation.relations[{i}].target"):
            ck.issues.append(
                DanglingReference(
                    ck.at("citation", "relations", i, "target"),
                    f"citation.relations[{i}].target",
                    f"publication {rel.target!r} is not defined by any mapping file",
                    f"use one of: {_some(ck.corpus.publications)}",
                )
            )


def _check_external_fields(ck: _Checker, cit: CitationSpec) -> None:
    for i, ext in enumerate(cit.external):
        for j, fname in enumerate(ext.fields):
            if fname not in type(cit).model_fields:
                ck.issues.append(
                    InvalidValue(
                        ck.at("citation", "external", i, "fields", j),
                        f"citation.external[{i}].fields[{j}]",
                        f"{fname!r} is not a citation field",
                        f"use field names such as {', '.join(_CITATION_TEXT_FIELDS)}, authors, "
                        "identifiers, funding, errata, year",
                    )
                )


def _check_study(ck: _Checker, pub: Publication) -> None:
    study = pub.study
    assert study is not None
    ck.block(study.quote, study.source or pub.source, ("study",))
    pop = study.population
    psrc = pop.source or pub.source
    qtext = ck.block(pop.quote, psrc, ("study", "population"))
    if "count" not in {f for e in pop.external for f in e.fields}:
        ck.number(pop.count, qtext, ("study", "population", "count"), "population count")
    agents = [(("study", "intervention"), study.intervention)] + [
        (("study", "co_interventions", i), a) for i, a in enumerate(study.co_interventions)
    ]
    for base, agent in agents:
        qtext = ck.block(agent.quote, agent.source or pub.source, base)
        if "dose" not in {f for e in agent.external for f in e.fields}:
            ck.text_in(agent.dose, qtext, (*base, "dose"), "dose")
        if agent.starts is not None:
            ck.number(agent.starts.value, qtext, (*base, "starts", "value"), "start")
    if study.enrolment is not None:
        ck.block(study.enrolment.quote, study.enrolment.source or pub.source, ("study", "enrolment"))
    for i, note in enumerate(study.notes):
        ck.block(note.quote, note.source or pub.source, ("study", "notes", i))
    if study.follow_up is not None:
        fu = study.follow_up
        qtext = ck.block(fu.quote, fu.source or pub.source, ("study", "follow_up"))
        ck.number(fu.mean, qtext, ("study", "follow_up", "mean"), "mean follow-up")
        if fu.beyond is not None:
            ck.number(fu.beyond.count, qtext, ("study", "follow_up", "beyond", "count"), "count")
            ck.number(fu.beyond.value, qtext, ("study", "follow_up", "beyond", "value"), "duration")
        if fu.dispersion is not None:
            ck.number(
                fu.dispersion.value,
                qtext,
                ("study", "follow_up", "dispersion", "value"),
                "follow-up dispersion",
            )


def _check_result(
    ck: _Checker,
    pub: Publication,
    i: int,
    res: Result,
    outcome_ids: set[str],
    population_ids: set[str],
) -> None:
    base = ("results", i)
    if res.outcome not in outcome_ids:
        ck.issues.append(
            DanglingReference(
                ck.at(*base, "outcome"),
                f"results[{i}].outcome",
                f"outcome {res.outcome!r} is not defined in this file",
                f"define it under 'outcomes' or use one of: {_some(outcome_ids)}",
            )
        )
    if res.population is not None and res.population not in population_ids:
        ck.issues.append(
            DanglingReference(
                ck.at(*base, "population"),
                f"results[{i}].population",
                f"population {res.population!r} is not this study's population",
                f"use {_some(population_ids)} or leave it out",
            )
        )
    src = res.source or pub.source
    if not ck.source_known(src, (*base, "source")):
        return
    qtext = ck.quotes(res.quote, src, (*base, "quote"))
    if res.derived is None:
        ck.number(res.value, qtext, (*base, "value"), "value")
    else:
        _check_derivation(ck, pub, i, res)
    ck.number(res.participants, qtext, (*base, "participants"), "participants")
    if not res.timepoint.baseline:
        ck.number(res.timepoint.value, qtext, (*base, "timepoint", "value"), "timepoint")
    if res.dispersion is not None:
        for name in ("value", "low", "high"):
            ck.number(
                getattr(res.dispersion, name),
                qtext,
                (*base, "dispersion", name),
                f"{res.dispersion.kind} {name}",
            )
    if res.p_value is not None:
        ck.number(res.p_value.value, qtext, (*base, "p_value", "value"), "p-value")
    if res.counts is not None:
        if res.counts.derived == "from-percentage":
            _check_count_from_percentage(ck, i, res)
        else:
            ck.number(res.counts.affected, qtext, (*base, "counts", "affected"), "count")
        ck.number(res.counts.denominator, qtext, (*base, "counts", "denominator"), "denominator")
    for j, conflict in enumerate(res.conflicts):
        cbase = (*base, "conflicts", j)
        ctext = ck.block(conflict.quote, conflict.source, cbase)
        if not isinstance(conflict.value, str):
            ck.number(conflict.value, ctext, (*cbase, "value"), "conflicting value")
    for j, note in enumerate(res.notes):
        ck.block(note.quote, note.source or src, (*base, "notes", j))


def _check_count_from_percentage(ck: _Checker, i: int, res: Result) -> None:
    counts = res.counts
    assert counts is not None and counts.denominator is not None and res.value is not None
    matches = counts_matching_percentage(res.value, counts.denominator)
    if matches != [counts.affected]:
        of = f"{res.value}% of {counts.denominator}"
        if not matches:
            problem = f"no whole number of {counts.denominator} gives {res.value}%"
        elif len(matches) == 1:
            problem = f"{of} is {matches[0]}, not {counts.affected}"
        else:
            problem = f"{of} does not pin one count: {', '.join(map(str, matches))} all give it"
        ck.issues.append(
            DerivationMismatch(
                ck.at("results", i, "counts", "affected"),
                f"results[{i}].counts.affected",
                problem,
                "derive a count only where exactly one whole number gives the reported percentage",
            )
        )


def _check_derivation(ck: _Checker, pub: Publication, i: int, res: Result) -> None:
    derived = res.derived
    assert derived is not None
    base = ("results", i, "derived")
    values: dict[str, Decimal] = {}
    for name, ref in derived.inputs.items():
        full = ref if "/" in ref else f"{pub.id}/{ref}"
        found = ck.corpus.result(full)
        if found is None and ck.corpus.into_broken(
            full, ck.at(*base, "inputs", name), f"results[{i}].derived.inputs.{name}"
        ):
            return
        if found is None or found[1].value is None:
            ck.issues.append(
                DanglingReference(
                    ck.at(*base, "inputs", name),
                    f"results[{i}].derived.inputs.{name}",
                    f"input {ref!r} is not a result with a value",
                    "name a result id of this file, or 'publication/result'",
                )
            )
            return
        values[name] = Decimal(found[1].value)
    if res.value is None:
        return
    try:
        computed = evaluate_formula(derived.formula, values)
    except FormulaError as exc:
        ck.issues.append(
            DerivationMismatch(
                ck.at(*base, "formula"),
                f"results[{i}].derived.formula",
                str(exc),
                "write arithmetic (+ - * /) over the input names",
            )
        )
        return
    if not agrees_at_precision(computed, res.value):
        ck.issues.append(
            DerivationMismatch(
                ck.at("results", i, "value"),
                f"results[{i}].value",
                f"the formula {derived.formula!r} gives {computed.normalize()}, not {res.value}",
                "correct the value or the formula; a derived value must follow from its inputs",
            )
        )


def _check_recommendation(corpus: LoadedCorpus, item: Loaded, issues: list[Issue]) -> None:
    rec = item.model
    assert isinstance(rec, Recommendation)
    ck = _Checker(corpus, item, issues)
    if not ck.source_known(rec.source, ("source",)):
        return
    if corpus.missing_publication(rec.stated_in, ck.at("stated_in"), "stated_in"):
        issues.append(
            DanglingReference(
                ck.at("stated_in"),
                "stated_in",
                f"publication {rec.stated_in!r} is not defined by any mapping file",
                f"use one of: {_some(corpus.publications)}",
            )
        )
    ck.quotes(rec.quote, rec.source, ("quote",))
    for name in ("strength", "direction"):
        rating = getattr(rec, name)
        if rating is not None:
            qtext = ck.block(rating.quote, rating.source or rec.source, (name,))
            ck.text_in(rating.value, qtext, (name, "value"), name)
    psrc = rec.population.source or rec.source
    ck.block(rec.population.quote, psrc, ("population",))
    for i, crit in enumerate(rec.population.criteria):
        ck.block(crit.quote, crit.source or psrc, ("population", "criteria", i))
    ck.block(rec.action.quote, rec.action.source or rec.source, ("action",))
    for i, ref in enumerate(rec.evidence):
        if corpus.result(ref) is None and not corpus.into_broken(ref, ck.at("evidence", i), f"evidence[{i}]"):
            issues.append(
                DanglingReference(
                    ck.at("evidence", i),
                    f"evidence[{i}]",
                    f"{ref!r} names no result of any publication mapping",
                    "write 'publication-id/result-id' of an existing result",
                )
            )
    for i, cons in enumerate(rec.considerations):
        ck.block(cons.quote, cons.source or rec.source, ("considerations", i))
    for i, claim in enumerate(rec.claims):
        at = ck.at("claims", i, "publication")
        if corpus.missing_publication(claim.publication, at, f"claims[{i}].publication"):
            issues.append(
                DanglingReference(
                    ck.at("claims", i, "publication"),
                    f"claims[{i}].publication",
                    f"publication {claim.publication!r} is not defined by any mapping file",
                    f"use one of: {_some(corpus.publications)}",
                )
            )
        ck.block(claim.quote, claim.source or rec.source, ("claims", i))
