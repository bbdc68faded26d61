"""Resources kept on disk as canonical compact JSON, read back one at a time.

A build of thousands of studies cannot hold its resources as dicts (about ten times their JSON
size): each resource is written to a temporary file as soon as it is final, and every later step
reads it back when it needs it. Only each resource's ``(type, id)`` and its place in the file stay
in memory. The bytes kept are ``jsonio.dumps(res, indent=None)``: reading them back with
``jsonio.loads`` gives a resource that serialises to the same bytes (decimals stay as written).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import overload

from evidence_publisher.jsonio import dumps, loads


class SpilledResources(Sequence[dict]):
    """An append-only sequence of resources stored in an unnamed temporary file.

    Indexing and iterating parse the stored text again: each dict returned is a fresh copy, so
    changing it changes nothing stored. ``view`` gives the same resources in another order
    without copying them.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # closed (and gone) with this object
        self._end = 0
        self._spans: list[tuple[int, int]] = []  # (offset, length) in the file
        self.keys: list[tuple[str, str]] = []  # (resourceType, id), the order of the sequence

    def append(self, res: dict) -> None:
        data = dumps(res, indent=None).encode("utf-8")
        os.pwrite(self._file.fileno(), data, self._end)
        self._spans.append((self._end, len(data)))
        self._end += len(data)
        self.keys.append((res["resourceType"], res["id"]))

    def text(self, index: int) -> bytes:
        """The stored canonical compact JSON of the resource at ``index`` (no newline)."""
        offset, length = self._spans[index]
        # pread moves no file position: forked processes sharing the file read it safely
        return os.pread(self._file.fileno(), length, offset)

    def sort(self) -> None:
        """Order by (resourceType, id), as the compiler orders its resources."""
        order = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        self._spans = [self._spans[i] for i in order]
        self.keys = [self.keys[i] for i in order]

    def view(self, indices: list[int]) -> ResourceView:
        return ResourceView(self, indices)

    def __len__(self) -> int:
        return len(self._spans)

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
