"""Reusing what an earlier build compiled from a publication whose inputs have not changed.

What compiling a publication makes (its resources, their report rows, its conflicts, derived
values and quote entries, and its line in the recommendation's list of studies) depends on its own
mapping file, the corpus file (settings and the source register), the base URL, the working
directory (report paths are relative) and whatever the compiler reads of the rest of the corpus
while compiling it: another publication (the citation it is reported in, a derived value's input),
which publication is the record of a document, a source document's text.

Those reads are recorded as they happen, with what they found (``sources/reads.py``), and kept
with the output in the build cache (``compiled`` entries, keyed by the first four). A later build
replays the output only when every recorded read finds the same again: the same file (by its
parse key) behind each publication read, the same record publication, the same document text. A
read that cannot be asked again (listing the publications) makes the output not worth keeping.

A replayed publication appends exactly what compiling it would append (``SpilledResources``,
``SpilledRows``), so a build that reuses writes the bytes a build without the cache writes.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from evidence_publisher.fhir.composition import StudyResults
from evidence_publisher.sources.loader import LoadedCorpus
from evidence_publisher.sources.reads import Read, decode_reads, recording, still_true
from evidence_publisher.spill import SpilledResources, StoredResource
from evidence_publisher.spilled_rows import SpilledRows

_FORMAT = 1
_LEVEL = 1  # zlib: the texts are JSON, nine tenths of which the fastest level takes off
_IN_FLIGHT = 8  # entries being compressed at most (each about 300 KB before)


class CompileStore(Protocol):
    """Somewhere to keep compiled publications between builds (``build_cache.BuildCache``)."""

    def get_compiled(self, key: str) -> bytes | None: ...

    def put_compiled(self, key: str, value: bytes) -> None: ...


class _Collected:
    """Where the compiler's output goes: the counts before a publication, to take what it added."""

    def __init__(
        self,
        resources: SpilledResources,
        rows: SpilledRows,
        quotes: SpilledRows,
        conflicts: list[dict],
        derived: list[dict],
        made: set[str],
    ) -> None:
        self.resources, self.rows, self.quotes = resources, rows, quotes
        self.conflicts, self.derived, self.made = conflicts, derived, made

    def marks(self) -> tuple[int, ...]:
        """Rows, quotes, conflicts and derived values so far (resources are taken as appended)."""
        return len(self.rows), len(self.quotes), len(self.conflicts), len(self.derived)


class CompileMemo:
    """The ``compiled`` entries of ``store`` for the publications of ``corpus``."""

    def __init__(self, store: CompileStore, corpus: LoadedCorpus, base_url: str, out: _Collected) -> None:
        self.store = store
        self.corpus = corpus
        self.out = out
        self._prefix = f"{_FORMAT}\0{corpus.corpus_key}\0{base_url}\0{os.getcwd()}\0"
        self.reused = 0
        # zlib releases the GIL: entries are compressed on the core the compiler leaves idle
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compile-memo")
        self._compressing: deque[tuple[str, Future[bytes]]] = deque()

    @classmethod
    def make(
        cls,
        store: CompileStore | None,
        corpus: LoadedCorpus,
        base_url: str,
        resources: Any,
        rows: Any,
        quotes: Any,
        conflicts: list[dict],
        derived: list[dict],
        made: set[str],
    ) -> CompileMemo | None:
        """A memo, or None where none can serve: no store, no parse keys, output held as dicts."""
        spilled = isinstance(resources, SpilledResources) and isinstance(rows, SpilledRows)
        if store is None or corpus.corpus_key is None or not spilled or not isinstance(quotes, SpilledRows):
            return None
        return cls(store, corpus, base_url, _Collected(resources, rows, quotes, conflicts, derived, made))

    def _key(self, pub_id: str) -> str | None:
        file_key = self.corpus.file_keys.get(pub_id)
        return None if file_key is None else hashlib.sha256(f"{self._prefix}{file_key}".encode()).hexdigest()

    def replay(self, pub_id: str) -> tuple[bool, StudyResults | None]:
        """Append what compiling ``pub_id`` appended last time, if its reads find the same now:
        (whether it did, the publication's studies line)."""
        key = self._key(pub_id)
        raw = None if key is None else self.store.get_compiled(key)
        kept = None if raw is None else _decode(raw)
        if kept is None or not still_true(self.corpus, kept.reads):
            return False, None
        out = self.out
        out.resources.append_stored(kept.resources)
        out.made.update(f"{stored[0]}/{stored[1]}" for stored in kept.resources)
        out.rows.append_texts(kept.rows)
        out.quotes.append_texts(kept.quotes)
        out.conflicts.extend(kept.conflicts)
        out.derived.extend(kept.derived)
        self.reused += 1
        return True, kept.study

    @contextmanager
    def recording(self, pub_id: str) -> Iterator[list[StudyResults | None]]:
        """Record the reads of the compile run inside, and keep its output if they can be told
        again; the list given is for the publication's studies line."""
        key = self._key(pub_id)
        result: list[StudyResults | None] = []
        if key is None:
            yield result
            return
        marks = self.out.marks()
        made: list[StoredResource] = []
        self.out.resources.recorded = made
        try:
            with recording(self.corpus) as reads:
                yield result
        finally:
            self.out.resources.recorded = None
        if reads.repeatable:
            value = self._encode(reads.distinct(), marks, made, result[0] if result else None)
            if value is not None:
                self._compressing.append((key, self._pool.submit(zlib.compress, value, _LEVEL)))
                self._store_compressed(_IN_FLIGHT)

    def _store_compressed(self, keep: int) -> None:
        """Store the entries compressed in the background, oldest first, until ``keep`` remain."""
        while len(self._compressing) > keep:
            key, compressed = self._compressing.popleft()
            self.store.put_compiled(key, compressed.result())

    def close(self) -> None:
        """Store every entry still being compressed, and stop the compressing thread."""
        try:
            self._store_compressed(0)
        finally:
            self._pool.shutdown()

    def _encode(
        self,
        reads: list[Read],
        marks: tuple[int, ...],
        made: list[StoredResource],
        study: StudyResults | None,
    ) -> bytes | None:
        out = self.out
        n_rows, n_quotes, n_conflicts, n_derived = marks
        kept = {
            "reads": reads,
            "resources": made,
            "rows": out.rows.stored_texts(n_rows),
            "quotes": out.quotes.stored_texts(n_quotes),
            "conflicts": out.conflicts[n_conflicts:],
            "derived": out.derived[n_derived:],
            "study": None if study is None else [study.label, study.research_study, study.evidence],
        }
        try:
            return orjson.dumps(kept)
        except TypeError:
            return None  # a value JSON cannot carry as it is (a Decimal): compiled each time


@dataclass
class _Entry:
    reads: list[Read]
    resources: list[StoredResource]
    rows: list[str]
    quotes: list[str]
    conflicts: list[dict]
    derived: list[dict]
    study: StudyResults | None


def _decode(raw: bytes) -> _Entry | None:
    """The entry ``raw`` holds, or None if it is not one that this code wrote (damaged)."""
    try:
        kept = orjson.loads(zlib.decompress(raw))
        study = kept["study"]
        reads = decode_reads(kept["reads"])
        if reads is None:
            return None
        entry = _Entry(
            reads=reads,
            resources=[
                (
                    str(rtype),
                    str(rid),
                    str(text),
                    dict(fields),
                    tuple(map(str, refs)),
                    _text_or_none(indented),
                )
                for rtype, rid, text, fields, refs, indented in kept["resources"]
            ],
            rows=[str(text) for text in kept["rows"]],
            quotes=[str(text) for text in kept["quotes"]],
            conflicts=[dict(c) for c in kept["conflicts"]],
            derived=[dict(d) for d in kept["derived"]],
            study=None
            if study is None
            else StudyResults(
                str(study[0]), _text_or_none(study[1]), [(str(e), str(t)) for e, t in study[2]]
            ),
        )
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
        return None
    return entry


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
