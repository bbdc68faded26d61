"""Resources kept on disk as canonical compact JSON, read back one at a time.

A build of thousands of studies cannot hold its resources as dicts (about ten times their JSON
size): each resource is written to a temporary file as soon as it is final, and every later step
reads it back when it needs it. Only each resource's ``(type, id)`` and its place in the file stay
in memory. The bytes kept are ``jsonio.dumps(res, indent=None)``: reading them back with
``jsonio.loads`` gives a resource that serialises to the same bytes (decimals stay as written).

What the later passes of a build ask of every resource is recorded as it is stored, so that they
need not parse it again: its reference strings (``refs``, in memory) and the fields that key it in
a transaction Bundle (``key_fields``, in the file after its text). Its indented text
(``indented``), wanted twice when the output is written, is made once and kept in a second
temporary file.

The indented text written is that of the resource as read back, as it always was: made from the
dict in hand when reading back changes nothing (``_reread_differs``), else from the text read back.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from evidence_publisher.jsonio import dumps, loads
from evidence_publisher.reference_strings import compact_reference_values, reference_values

# Numbers that read back as another number: a float written with an exponent, a digit then e- or
# e+ (1e+16 or 1.5e-7 by jsonio's orjson, 1e+16 or 1.5e-07 by its simplejson: the exponent is
# always signed; 1e+16 reads back as the Decimal 1E+16), and a Decimal -0 (reads back as the
# integer 0). Strings that look alike only cost a parse.
_NEGATIVE_ZERO = re.compile(r"[:,\[]-0[,}\]]")
_KEYED_BY = ("url", "version")  # with the first identifier: what a transaction entry is keyed by


# (resourceType, id, compact text, key fields, reference strings, indented text or None)
StoredResource = tuple[str, str, str, dict, tuple[str, ...], "str | None"]


class SpilledResources(Sequence[dict]):
    """An append-only sequence of resources stored in an unnamed temporary file.

    Indexing and iterating parse the stored text again: each dict returned is a fresh copy, so
    changing it changes nothing stored. ``view`` gives the same resources in another order
    without copying them.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # closed (and gone) with this object
        self._end = 0
        # in the file, the compact text at offset (length bytes) then its pickled key fields
        self._offset = array("q")
        self._length = array("q")
        self._key_length = array("q")
        self.keys: list[tuple[str, str]] = []  # (resourceType, id), the order of the sequence
        self._refs: list[tuple[str, ...]] = []
        self._strings: dict[str, str] = {}  # one copy of each reference string, however often made
        self._indented_file: io.FileIO | None = None
        self._indented_end = 0
        # offset and length in the second file (-1: not made yet), 16 bytes a resource
        self._indented_at = array("q")
        self._indented_len = array("q")
        # when set, ``append`` adds what ``stored`` would give of each resource appended
        self.recorded: list[StoredResource] | None = None

    def append(self, res: dict) -> None:
        text = dumps(res, indent=None)
        data = text.encode("utf-8")
        fields = _key_fields(res)
        key_fields = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)  # JSON's encoder costs 20 µs
        os.pwrite(self._file.fileno(), data + key_fields, self._end)
        self._offset.append(self._end)
        self._length.append(len(data))
        self._key_length.append(len(key_fields))
        self._end += len(data) + len(key_fields)
        self.keys.append((res["resourceType"], res["id"]))
        strings = self._strings
        refs = tuple(sorted({strings.setdefault(r, r) for r in compact_reference_values(text)}))
        self._refs.append(refs)
        self._indented_at.append(-1)
        self._indented_len.append(0)
        indented = None
        if not _reread_differs(text):  # what reading back would give: saves a parse later
            indented = dumps(res)
            self._keep_indented(len(self._indented_at) - 1, indented)
        if self.recorded is not None:
            self.recorded.append((res["resourceType"], res["id"], text, fields, refs, indented))

    def append_stored(self, stored: Iterable[StoredResource]) -> None:
        """Append resources as ``recorded`` noted them (in this or an earlier build): the same
        state as ``append`` of each, without making their texts again (two writes in all)."""
        compact, indented_texts = bytearray(), bytearray()
        strings = self._strings
        for rtype, rid, text, fields, refs, indented in stored:
            data = text.encode("utf-8")
            key_fields = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
            self._offset.append(self._end + len(compact))
            self._length.append(len(data))
            self._key_length.append(len(key_fields))
            compact += data
            compact += key_fields
            self.keys.append((rtype, rid))
            self._refs.append(tuple(strings.setdefault(r, r) for r in refs))
            if indented is None:
                self._indented_at.append(-1)
                self._indented_len.append(0)
                continue
            text_bytes = indented.encode("utf-8")
            self._indented_at.append(self._indented_end + len(indented_texts))
            self._indented_len.append(len(text_bytes))
            indented_texts += text_bytes
        os.pwrite(self._file.fileno(), compact, self._end)
        self._end += len(compact)
        if indented_texts:
            if self._indented_file is None:
                self._indented_file = tempfile.TemporaryFile(buffering=0)
            os.pwrite(self._indented_file.fileno(), indented_texts, self._indented_end)
            self._indented_end += len(indented_texts)

    def refs(self, index: int) -> tuple[str, ...]:
        """The distinct ``Reference.reference`` strings of the resource at ``index``, sorted
        (``reference_values`` of the resource, as a set)."""
        return self._refs[index]

    def key_fields(self, index: int) -> dict:
        """A dict of the resource's ``resourceType``, ``id``, ``url``, ``version`` (those present)
        and its first ``identifier`` with a system and a value: what ``bundle.transaction``
        keys a resource by, read from it as from the resource itself."""
        rtype, rid = self.keys[index]
        at = self._offset[index] + self._length[index]
        stored = os.pread(self._file.fileno(), self._key_length[index], at)
        return {"resourceType": rtype, "id": rid, **pickle.loads(stored)}  # noqa: S301 (made by append)

    def indented(self, index: int) -> str:
        """``jsonio.dumps`` of the resource at ``index`` (indented, with its trailing newline),
        made the first time it is asked for and read back from disk afterwards."""
        offset = self._indented_at[index]
        if offset >= 0 and self._indented_file is not None:
            return os.pread(self._indented_file.fileno(), self._indented_len[index], offset).decode("utf-8")
        text = dumps(self[index])
        self._keep_indented(index, text)
        return text

    def indented_bytes(self, index: int) -> bytes:
        """``indented`` in UTF-8, as a file holds it (read back without decoding it)."""
        offset = self._indented_at[index]
        if offset >= 0 and self._indented_file is not None:
            return os.pread(self._indented_file.fileno(), self._indented_len[index], offset)
        return self.indented(index).encode("utf-8")

    def _keep_indented(self, index: int, text: str) -> None:
        if self._indented_file is None:
            self._indented_file = tempfile.TemporaryFile(buffering=0)
        data = text.encode("utf-8")
        os.pwrite(self._indented_file.fileno(), data, self._indented_end)
        self._indented_at[index] = self._indented_end
        self._indented_len[index] = len(data)
        self._indented_end += len(data)

    def text(self, index: int) -> bytes:
        """The stored canonical compact JSON of the resource at ``index`` (no newline)."""
        offset, length = self._offset[index], self._length[index]
        # pread moves no file position: forked processes sharing the file read it safely
        return os.pread(self._file.fileno(), length, offset)

    def sort(self) -> list[int]:
        """Order by (resourceType, id), as the compiler orders its resources; returns the old
        position of each resource in the new order (to put what lies beside them in step)."""
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        self._offset = array("q", map(self._offset.__getitem__, order))
        self._length = array("q", map(self._length.__getitem__, order))
        self._key_length = array("q", map(self._key_length.__getitem__, order))
        self.keys = [self.keys[i] for i in order]
        self._refs = [self._refs[i] for i in order]
        self._indented_at = array("q", map(self._indented_at.__getitem__, order))
        self._indented_len = array("q", map(self._indented_len.__getitem__, order))
        self._strings = {}  # the compiler is done: the tuples keep the strings, the index can go
        return order

    def view(self, indices: list[int]) -> ResourceView:
        return ResourceView(self, indices)

    def __len__(self) -> int:
        return len(self._offset)

    @overload
    def __getitem__(self, index: int) -> dict: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict]: ...
    def __getitem__(self, index: int | slice) -> dict | list[dict]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        return loads(self.text(index))

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]


def _reread_differs(text: str) -> bool:
    """Whether reading ``text`` back may give other numbers (see ``_NEGATIVE_ZERO``).

    Substring searches instead of the regular expressions where they can: one without a literal
    prefix scans the whole text, which cost more than the rest of storing a resource, and "e-"
    is common in words ("one-sided").
    """
    if "-0" in text and _NEGATIVE_ZERO.search(text) is not None:
        return True
    for mark in ("e-", "e+"):  # a digit then e- or e+, found by str.find
        at = text.find(mark, 1)
        while at > 0:
            if text[at - 1] in "0123456789":
                return True
            at = text.find(mark, at + 2)
    return False


def _key_fields(res: dict) -> dict:
    found = {name: res[name] for name in _KEYED_BY if name in res}
    idents = res.get("identifier") or []
    for ident in [idents] if isinstance(idents, dict) else idents:
        if ident.get("system") and ident.get("value"):  # as bundle.transaction picks it
            found["identifier"] = [{"system": ident["system"], "value": ident["value"]}]
            break
    return found


class ResourceView(Sequence[dict]):
    """Some of a ``SpilledResources``' resources, in a given order."""

    def __init__(self, store: SpilledResources, indices: list[int]) -> None:
        self.store = store
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, index: int) -> dict: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict]: ...
    def __getitem__(self, index: int | slice) -> dict | list[dict]:
        if isinstance(index, slice):
            return [self.store[i] for i in self.indices[index]]
        return self.store[self.indices[index]]

    def __iter__(self) -> Iterator[dict]:
        for i in self.indices:
            yield self.store[i]


def type_ids(resources: Sequence[dict]) -> Iterable[tuple[str, str]]:
    """``(resourceType, id)`` of each resource, in order: recorded when stored (no parse) for
    spilled resources and views of them, read from the dicts otherwise."""
    if isinstance(resources, SpilledResources):
        return resources.keys
    if isinstance(resources, ResourceView):
        return map(resources.store.keys.__getitem__, resources.indices)
    return ((r["resourceType"], r["id"]) for r in resources)


def reference_strings(resources: Sequence[dict]) -> Iterable[Iterable[str]]:
    """Each resource's ``reference_values``, in order (as a sorted set where recorded when
    stored: spilled resources and views of them)."""
    if isinstance(resources, SpilledResources):
        return map(resources.refs, range(len(resources)))
    if isinstance(resources, ResourceView):
        return map(resources.store.refs, resources.indices)
    return map(reference_values, resources)
