"""Validating files one resource at a time, in this process or in a pool of worker processes.

Memory does not grow with the input: each document is read, validated and handed on before the
next is read. What must be known about a whole group of files before its first resource is
validated (which documents cannot be read, and which ``Type/id`` each readable one has, for
references between them) comes from a first reading pass that keeps only that: the references
index (``RefIndex``) holds where each resource is (file, position) and its outline (type,
claimed profiles, category names: what the reference checks read); FHIRPath's ``resolve()``
reads the target again from its file.

The results come in the order the sequential validator always used: per group of files, first
the documents that could not be read, then the resources in file order, each followed by its
Bundle entries. With ``jobs > 1`` both passes run in worker processes forked after the
definitions are loaded (each worker holds them once), on chunks of files, and the results are
taken back in chunk order, so the output is the same whatever the number of jobs.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evidence_publisher.errors import EvidencePublisherError
from evidence_publisher.validate.errors import NoResourcesError
from evidence_publisher.validate.inputs import (
    STDIN,
    STDIN_LABEL,
    FileGroup,
    InputDocument,
    parse_document,
    plan_inputs,
    read_documents,
    read_texts,
)
from evidence_publisher.validate.outcome import Issue, ValidationReport, operation_outcome, resource_label
from evidence_publisher.validate.spill import BATCH, Paths, Store
from evidence_publisher.validate.walk.context import BundleIndex, type_id_key
from evidence_publisher.workers import FAILED, pool_map


class ResourceValidator(Protocol):
    """What this module needs of ``Validator`` (which uses this module to read files)."""

    def validate_into(
        self,
        res: dict,
        report: ValidationReport,
        index: BundleIndex | None,
        done: set[int],
        extra: dict[int, list[Issue]] | None = None,
    ) -> None: ...


# (stage, done, total): "reading files" counts files, "validating resources" counts documents
Progress = Callable[[str, int, int | None], None]
FileRef = tuple[str, bool]  # (path as given, named explicitly)

POOL_FROM_FILES = 200  # fewer files are validated in this process: a pool would cost more than it saves
CHUNK_FILES = 32
LOOKUP_CACHE = 1024  # places of resources looked up on disk, kept for the next look-up
TARGET_CACHE = 256  # resources read again for references, kept for the next reference to them
UNREADABLE = "(unreadable)"


@dataclass(frozen=True, slots=True)
class Checked:
    """One outcome: where it came from, what it is about, and the OperationOutcome."""

    source: str  # the file (or file:line for an NDJSON line that cannot be read)
    label: str  # Type/id, or the source of an unreadable document
    rtype: str  # the resourceType, or UNREADABLE
    outcome: dict
    entry: bool = False  # a Bundle entry's resource (its Bundle is the document read)
    resource: dict | None = None  # the resource itself, only when asked for (``keep_resources``)

    def __reduce__(self) -> tuple[type, tuple]:
        """Sent back from the workers as a plain tuple (a tenth of a dataclass' pickling cost)."""
        return Checked, (self.source, self.label, self.rtype, self.outcome, self.entry, self.resource)


Outline = tuple[str, tuple[str, ...] | None, tuple[str | None, ...] | None]


@dataclass(slots=True)
class _Doc:
    """What the first pass learns about one document: its position in its file and its fate."""

    ordinal: int  # position among the documents of its file
    key: str | None  # Type/id of a readable resource (None: no id, or not a resource)
    readable: bool  # a FHIR resource to validate in the second pass
    fatal: Checked | None = None  # the outcome of a document that cannot be read
    outline: Outline | None = None  # what references to it need (``outline()``)

    def __reduce__(self) -> tuple[type, tuple]:
        return _Doc, (self.ordinal, self.key, self.readable, self.fatal, self.outline)


@dataclass
class _Group:
    """A group of files validated together, as the first pass leaves it: the outcomes of what
    cannot be read, how many resources there are, and the references index."""

    files: FileGroup
    fatal: list[Checked] = field(default_factory=list)
    resources: int = 0
    index: RefIndex | None = None
    kept: list[InputDocument] | None = None  # stdin cannot be read twice: its documents


class RefIndex(BundleIndex):
    """References between the files of a group: where each ``Type/id`` is, and its outline.

    ``resolve`` answers with the outline (``outline()``: what the checks other than FHIRPath read
    of a target); ``resolve_full`` reads the whole target again from its file, for FHIRPath's
    ``resolve()``, keeping the last few read. Equal outlines are held once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, tuple[str, int, Outline | None]] = {}
        self._outlines: dict[Outline, Outline] = {}
        self._cache: OrderedDict[str, dict | None] = OrderedDict()

    def place(self, key: str, path: str, ordinal: int, outline: Outline | None) -> None:
        if key in self.where:
            return  # the first one wins, as in a Bundle
        if outline is not None:
            outline = self._outlines.setdefault(outline, outline)
        self.where[key] = (path, ordinal, outline)

    def seal(self) -> None:
        """Called when every resource is placed (the index on disk writes what it still holds)."""

    def lookup(self, key: str) -> tuple[str, int, Outline | None] | None:
        return self.where.get(key)

    def resolve(self, ref: str) -> dict | None:
        key = type_id_key(ref)
        found = self.lookup(key) if key is not None else None
        if found is None:
            return None
        if found[2] is None:
            return self.resolve_full(ref)
        rtype, profiles, names = found[2]
        target: dict = {"resourceType": rtype, "id": key.split("/", 1)[1] if key else None}
        if profiles is not None:
            target["meta"] = {"profile": list(profiles)}
        if names is not None:
            target["category"] = [{"name": n} for n in names]
        return target

    def resolve_full(self, ref: str) -> dict | None:
        key = type_id_key(ref)
        if key is None:
            return None
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        where = self.lookup(key)
        if where is None:
            return None
        path, ordinal, _outline = where
        found = None
        for n, doc in enumerate(read_documents(Path(path))):
            if n == ordinal:
                found = doc.resource if isinstance(doc.resource, dict) else None
                break
        self._cache[key] = found
        if len(self._cache) > TARGET_CACHE:
            self._cache.popitem(last=False)
        return found


class DiskRefIndex(RefIndex):
    """A ``RefIndex`` kept in a table of ``store`` (for groups of many files): the same answers,
    with memory that does not grow with the number of resources."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._table = store.new_table("key BLOB PRIMARY KEY, path BLOB, ordinal INTEGER, outline TEXT")
        self._pending: list[tuple[bytes, bytes, int, str | None]] = []
        self._recent: OrderedDict[str, tuple[str, int, Outline | None] | None] = OrderedDict()
        self._texts: dict[str, Outline] = {}

    def place(self, key: str, path: str, ordinal: int, outline: Outline | None) -> None:
        text = None if outline is None else json.dumps(outline, ensure_ascii=True)
        self._pending.append((_blob(key), os.fsencode(path), ordinal, text))
        if len(self._pending) >= BATCH:
            self.seal()

    def seal(self) -> None:
        if self._pending:  # the first one wins (OR IGNORE), as in a Bundle
            sql = f"INSERT OR IGNORE INTO {self._table} VALUES (?, ?, ?, ?)"  # noqa: S608
            self.store.connection().executemany(sql, self._pending)
            self._pending = []

    def lookup(self, key: str) -> tuple[str, int, Outline | None] | None:
        # a resource's references are looked up by more than one check: the last few are kept
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        sql = f"SELECT path, ordinal, outline FROM {self._table} WHERE key = ?"  # noqa: S608
        row = self.store.connection().execute(sql, (_blob(key),)).fetchone()
        found = None
        if row is not None:
            path, ordinal, text = row
            found = os.fsdecode(path), ordinal, None if text is None else self._outline(text)
        self._recent[key] = found
        if len(self._recent) > LOOKUP_CACHE:
            self._recent.popitem(last=False)
        return found

    def _outline(self, text: str) -> Outline:
        """Equal outlines are read once (a corpus has few distinct ones)."""
        hit = self._texts.get(text)
        if hit is None:
            if len(self._texts) >= LOOKUP_CACHE:
                self._texts.clear()
            hit = self._texts[text] = _outline_of(json.loads(text))
        return hit


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _outline_of(value: list) -> Outline:
    rtype, profiles, names = value
    return (
        rtype,
        None if profiles is None else tuple(profiles),
        None if names is None else tuple(names),
    )


def outline(res: dict) -> Outline | None:
    """What a reference check reads of its target: resourceType, ``meta.profile`` and the names
    of ``category`` (the EBM rules). None when a value is not plain text, so that the whole
    target is read (numbers read by two parsers need not print the same)."""
    profiles: tuple[str, ...] | None = None
    meta = res.get("meta")
    if isinstance(meta, dict) and "profile" in meta:
        listed = meta["profile"]
        if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
            return None
        profiles = tuple(sys.intern(p) for p in listed)
    names: tuple[str | None, ...] | None = None
    category = res.get("category")
    if isinstance(category, list):
        names = tuple(c.get("name") for c in category if isinstance(c, dict))
        if not all(n is None or isinstance(n, str) for n in names):
            return None
    return res["resourceType"], profiles, names


class FileValidation:
    """``validate`` over files and directories, as a stream of ``Checked`` outcomes.

    ``notes`` says how the inputs were read. Iterating raises ``NoResourcesError`` at the end
    when no FHIR resource was found, and ``InputLimitError`` when an input passes a limit.
    """

    def __init__(
        self,
        validator: ResourceValidator,
        paths: Iterable[str | Path],
        *,
        jobs: int = 1,
        keep_resources: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.validator = validator
        self._plan = plan = plan_inputs(paths)
        self.notes = [*plan.notes, *getattr(validator, "limits", ())]
        self.groups = [_Group(g) for g in plan.groups]
        self.jobs = max(1, jobs)
        self.keep_resources = keep_resources
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.file_count = sum(len(g.files) for g in self.groups)
        self.resource_count = 0  # known after the first pass
        self._samples: dict[str, str] = {}  # a file holding one resource, by resourceType

    def __iter__(self) -> Iterator[Checked]:
        pooled = self.jobs > 1 and self.file_count >= POOL_FROM_FILES and not self._reads_stdin()
        skipped: list[str] = []
        produced = 0
        try:
            self._first_pass(pooled, skipped)
            self.resource_count = sum(g.resources + len(g.fatal) for g in self.groups)
            for checked in self._second_pass(pooled):
                produced += 1
                yield checked
        finally:
            self.close()
        if not produced:
            found = f" (found only JSON without resourceType: {', '.join(skipped[:5])})" if skipped else ""
            raise NoResourcesError(
                f"no FHIR resources to validate{found}",
                details=["give FHIR R5 resources: JSON objects with a resourceType, as JSON or NDJSON"],
            )

    def close(self) -> None:
        """Delete what was kept on disk (done when the iteration ends: iterate once)."""
        self._plan.close()

    def report(self) -> ValidationReport:
        """Everything at once (for callers that want the resources and outcomes in memory)."""
        report = ValidationReport()
        report.notes.extend(self.notes)
        for checked in self:
            report.outcomes.append((checked.resource or {"source": checked.label}, checked.outcome))
            report.sources.append(checked.source)
        return report

    # ------------------------------------------------------------------ first pass: what is there
    def _reads_stdin(self) -> bool:
        return any(isinstance(g.files, list) and any(p == STDIN for p, _e in g.files) for g in self.groups)

    def _first_pass(self, pooled: bool, skipped: list[str]) -> None:
        """What cannot be read, and the references index of each group (kept only when a group
        has two resources or more: one resource has nothing else to point to)."""
        for group in self.groups:
            on_disk = isinstance(group.files, Paths) and group.files.spilled
            group.index = DiskRefIndex(self._plan.store) if on_disk else RefIndex()
        done = 0
        surveys = self._map(pooled, _survey_file, self._refs(), _survey_item)
        for (gi, path, _e), (docs, skips, kept) in surveys:
            group = self.groups[gi]
            assert group.index is not None
            for doc in docs:
                if doc.fatal is not None:
                    group.fatal.append(doc.fatal)
                elif doc.readable:
                    group.resources += 1
                    if doc.outline is not None and len(docs) == 1:
                        self._samples.setdefault(doc.outline[0], path)
                    if doc.key is not None:
                        group.index.place(doc.key, path, doc.ordinal, doc.outline)
            skipped.extend(skips)
            if path == STDIN:
                group.kept = kept or []
            done += 1
            self.progress("reading files", done, self.file_count)
        for group in self.groups:
            if group.index is not None:
                group.index.seal()
            if group.resources < 2:
                group.index = None

    # ------------------------------------------------------------------ second pass: validation
    def _second_pass(self, pooled: bool) -> Iterator[Checked]:
        _STATE.update(indexes={gi: g.index for gi, g in enumerate(self.groups)}, keep=self.keep_resources)
        if pooled:
            self._warm_up()
        results = self._map(pooled, _check_file, self._refs())
        try:
            done, current = 0, -1
            for (gi, _path, _explicit), file_result in results:
                group = self.groups[gi]
                if gi != current:  # a new group: first what could not be read
                    current = gi
                    done += len(group.fatal)
                    yield from group.fatal
                if group.kept is not None:  # stdin, read once
                    checked = _check_docs(self.validator, group.kept, STDIN, group.index, self.keep_resources)
                    file_results = list(checked)
                else:
                    file_results = file_result
                for item in file_results:
                    done += not item.entry
                    yield item
                self.progress("validating resources", done, self.resource_count)
        finally:
            results.close()  # ends the pool now, not when the generator is collected

    def _warm_up(self) -> None:
        """Validate one file of each resource type here, its outcomes unused, before the workers
        are forked: what the validator prepares on first use of a type (its definitions
        compiled, its invariants parsed) is then done once, not once in every worker."""
        _STATE["validator"] = self.validator
        for path in self._samples.values():
            try:
                _check_file((-1, path, True))
            except EvidencePublisherError:
                pass  # raised again, and reported, when the file's turn comes

    def _refs(self) -> Iterator[tuple[int, str, bool]]:
        """(group, file, named explicitly) of every file, read from disk for a large group."""
        return ((gi, path, explicit) for gi, g in enumerate(self.groups) for path, explicit in g.files)

    def _map(
        self,
        pooled: bool,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        arg: Callable[[Any], Any] = lambda item: item,
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, ``fn`` of ``arg(item)``) of each item (here, or in the pool, by chunks), in order.

        A worker cannot send back an input error (a limit passed, say): it says so, and the item
        is done again here, where the error is raised as usual.
        """
        _STATE["validator"] = self.validator
        if not pooled:
            for item in items:
                yield item, fn(arg(item))
            return
        chunks = _chunks(items, CHUNK_FILES)
        taken: deque[list[Any]] = deque()  # the chunks handed out, oldest first

        def args() -> Iterator[list[Any]]:
            for chunk in chunks:
                taken.append(chunk)
                yield [arg(item) for item in chunk]

        count = -(-self.file_count // CHUNK_FILES)
        for results in pool_map(self.jobs, fn, args(), count):
            chunk = taken.popleft()
            for item, result in zip(chunk, results, strict=True):
                yield item, fn(arg(item)) if result is FAILED else result


# ---------------------------------------------------------------------------------- the work
# What a worker needs, set before the pool is forked (so each worker inherits it once).
_STATE: dict[str, Any] = {}


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _survey_item(item: tuple[int, str, bool]) -> FileRef:
    return item[1], item[2]


def _survey_file(ref: FileRef) -> tuple[list[_Doc], list[str], list[InputDocument] | None]:
    return _survey(Path(ref[0]), ref[1])


def _survey(path: Path, explicit: bool) -> tuple[list[_Doc], list[str], list[InputDocument] | None]:
    """The documents of one file, as the first pass needs them (stdin's are kept, it cannot be
    read twice).

    A document that the standard library's C parser reads (without NaN or Infinity, which the
    validator's parser refuses) is what it seems; anything else goes through the validator's own
    parser, whose message the outcome gives.
    """
    docs: list[_Doc] = []
    skipped: list[str] = []
    kept: list[InputDocument] | None = [] if str(path) == STDIN else None
    for ordinal, (source, text, error) in enumerate(read_texts(path)):
        doc: InputDocument | None = None
        res: Any = None
        if text is None:
            doc = InputDocument(source, error=error)
        elif kept is not None:
            doc = parse_document(text, source)
            kept.append(doc)
        else:
            res = _quick_parse(text)
            if res is _UNREAD:
                doc = parse_document(text, source)
        if doc is not None:
            res = doc.resource if doc.error is None else None
        if not explicit and isinstance(res, dict) and "resourceType" not in res:
            skipped.append(source)
            docs.append(_Doc(ordinal, None, False))
        elif (doc is not None and doc.error is not None) or not isinstance(res, dict):
            why = (doc.error if doc is not None else None) or "a FHIR resource must be a JSON object"
            outcome = operation_outcome([Issue("fatal", "structure", "", why, "json")])
            docs.append(_Doc(ordinal, None, False, Checked(source, source, UNREADABLE, outcome)))
        else:
            rtype, rid = res.get("resourceType"), res.get("id")
            key = f"{rtype}/{rid}" if isinstance(rtype, str) and isinstance(rid, str) else None
            docs.append(_Doc(ordinal, key, True, outline=outline(res) if key is not None else None))
    return docs, skipped, kept


_UNREAD = object()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _quick_parse(text: bytes) -> Any:
    """The document, or ``_UNREAD`` when the validator's own parser must say what is wrong."""
    try:
        return json.loads(text.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return _UNREAD


def _check_file(work: tuple[int, str, bool]) -> list[Checked]:
    """The outcomes of one file (nothing for stdin, validated where it was read)."""
    gi, path, explicit = work
    if path == STDIN:
        return []
    validator, indexes, keep = _STATE["validator"], _STATE["indexes"], _STATE["keep"]
    return list(_check_docs(validator, read_documents(Path(path)), path, indexes.get(gi), keep, explicit))


def _check_docs(
    validator: ResourceValidator,
    docs: Iterable[InputDocument],
    path: str,
    index: BundleIndex | None,
    keep: bool,
    explicit: bool = True,
) -> Iterator[Checked]:
    """Validate the readable resources of one file (the others were reported by the first pass)."""
    source = STDIN_LABEL if path == STDIN else path
    for doc in docs:
        res = doc.resource
        if not isinstance(res, dict) or doc.error is not None:
            continue
        if not explicit and "resourceType" not in res:
            continue
        extra: dict[int, list[Issue]] = {}
        duplicate_key_issues(res, doc.duplicate_keys, extra)
        sub = ValidationReport()
        validator.validate_into(res, sub, index, set(), extra)
        for n, (checked_res, outcome) in enumerate(sub.outcomes):
            rtype = checked_res.get("resourceType")
            yield Checked(
                source,
                resource_label(checked_res),
                rtype if isinstance(rtype, str) else "?",
                outcome,
                n > 0,
                checked_res if keep else None,
            )


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_ENTRY_RESOURCE = re.compile(r"entry\[(\d+)\]\.resource\.(.+)")


def duplicate_key_issues(resource: dict, paths: list[str], into: dict[int, list[Issue]]) -> None:
    """One ``json-duplicate-key`` error per duplicated key, on the resource that holds it (a
    Bundle entry's resource gets its own), with the FHIRPath of the key."""
    for path in paths:
        target, rel = resource, path
        m = _ENTRY_RESOURCE.fullmatch(path)
        if m and resource.get("resourceType") == "Bundle":
            entries = resource.get("entry")
            i = int(m.group(1))
            if isinstance(entries, list) and i < len(entries) and isinstance(entries[i], dict):
                inner = entries[i].get("resource")
                if isinstance(inner, dict):
                    target, rel = inner, m.group(2)
        rtype = target.get("resourceType")
        expression = f"{rtype if isinstance(rtype, str) else 'Resource'}.{rel}"
        key = rel.rsplit(".", 1)[-1]
        into.setdefault(id(target), []).append(
            Issue(
                "error",
                "structure",
                expression,
                f"the JSON key {key!r} appears more than once in the same object; JSON readers keep "
                "one of the values (which one differs between readers)",
                "json-duplicate-key",
            )
        )
