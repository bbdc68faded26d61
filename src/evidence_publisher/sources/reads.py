"""Recording what a step over one mapping file reads of the rest of the corpus.

Checking a publication, or compiling it, reads more than its own file: another publication (the
one it is reported in, the one a derived value's input belongs to), which publication is the
record of a document, the text of a source document. ``recording`` notes each such read with what
it found: the other file's parse key (``parsecache.parse_key``), the record publication's id, a
digest of the text. ``still_true`` asks the same questions of a corpus loaded later: when every
answer is the same, the step would read exactly what it read before, so its outcome (no issues;
the resources it made) holds again without running it. A read that cannot be asked again this way
(listing every publication) makes the step's outcome not worth keeping (``Reads.repeatable``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Protocol

import orjson

Read = tuple[str, str, "str | None"]  # (what was asked: pub, record or text; of which; the answer)


class LoadedCorpus(Protocol):
    """What is recorded of a ``loader.LoadedCorpus`` (which imports this module)."""

    publications: MutableMapping[str, Any]
    source_texts: dict[str, str]
    file_keys: dict[str, str]
    trace: list[Read] | None

    def record_id(self, source_id: str) -> str | None: ...

    def text_digests(self) -> dict[str, str]: ...


class Reads:
    """The reads made inside one ``recording``."""

    def __init__(self) -> None:
        self.seen: list[Read] = []
        self.repeatable = True

    def distinct(self) -> list[Read]:
        return sorted(set(self.seen), key=lambda r: (r[0], r[1]))


class _TracedMapping(Mapping[str, Any]):
    """``inner`` with each key asked for noted in ``reads`` with ``answers.get(key)``."""

    def __init__(self, inner: Mapping[str, Any], kind: str, answers: Mapping[str, str], reads: Reads) -> None:
        self.inner = inner
        self.kind = kind
        self.answers = answers
        self.reads = reads

    def __getitem__(self, key: str) -> Any:
        self.reads.seen.append((self.kind, key, self.answers.get(key)))
        return self.inner[key]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self.reads.seen.append((self.kind, key, self.answers.get(key)))
        return key in self.inner  # without reading the value (it may be on disk)

    def __iter__(self) -> Iterator[str]:
        self.reads.repeatable = False
        return iter(self.inner)

    def __len__(self) -> int:
        self.reads.repeatable = False
        return len(self.inner)


@contextmanager
def recording(corpus: LoadedCorpus) -> Iterator[Reads]:
    """Note the reads of ``corpus.publications``, ``corpus.source_texts`` and
    ``corpus.record_id`` made inside (the three ways into the rest of the corpus)."""
    corpus.record_id("")  # the record index is built now, not from inside the recording
    reads = Reads()
    publications, texts = corpus.publications, corpus.source_texts
    corpus.publications = _TracedMapping(publications, "pub", corpus.file_keys, reads)  # type: ignore[assignment]
    corpus.source_texts = _TracedMapping(texts, "text", corpus.text_digests(), reads)  # type: ignore[assignment]
    corpus.trace = reads.seen
    try:
        yield reads
    finally:
        corpus.publications, corpus.source_texts, corpus.trace = publications, texts, None


_UNKNOWN = object()  # the answer to a read of a kind this code does not make: equal to none


def answer(corpus: LoadedCorpus, kind: str, of: str) -> object:
    """What the read ``(kind, of)`` finds in ``corpus`` now."""
    if kind == "pub":
        return corpus.file_keys.get(of)
    if kind == "text":
        return corpus.text_digests().get(of)
    if kind == "record":
        return corpus.record_id(of)
    return _UNKNOWN


def still_true(corpus: LoadedCorpus, reads: list[Read]) -> bool:
    """Whether every read in ``reads`` finds what it found when recorded."""
    return all(answer(corpus, kind, of) == found for kind, of, found in reads)


def encode_reads(reads: list[Read]) -> bytes:
    """``reads`` as compact JSON, for the build cache."""
    return orjson.dumps(reads)


def decode_reads(value: object) -> list[Read] | None:
    """The reads ``encode_reads`` wrote (given as bytes, or already parsed), or None: none given,
    or not something this code wrote."""
    if value is None:
        return None
    try:
        found: Any = orjson.loads(value) if isinstance(value, bytes) else value
        return [(str(kind), str(of), None if answer is None else str(answer)) for kind, of, answer in found]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
