"""Checked mapping files kept on disk, read back by id when a check or the compiler needs one.

A ``Loaded`` (the parsed document with every value's location, and its pydantic model) takes
about 170 KB of memory per publication: held for a whole corpus of thousands of studies it is
most of a build's memory. ``LoadedStore`` pickles each one into an unnamed temporary file as soon
as its own checks are done and keeps only its place in the file; reading it back gives an equal
(not the same) object. The last few read are cached, since the checks and the compiler look at
the same file several times in a row (a publication, then the one it is reported in). A small
``summary`` of each value, made when it is stored, stays in memory for the passes over every file
that need only that.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

T = TypeVar("T")  # a loader.Loaded (not imported: loader imports this module)

_CACHED = 32  # read-back cache, in mapping files


class LoadedStore(MutableMapping[str, T]):
    """Mapping file id -> ``Loaded``, with the values in an unnamed temporary file.

    Ids keep the order they were added in, like a dict's keys.
    """

    def __init__(
        self,
        cached: int | None = None,
        summarise: Callable[[T], Any] | None = None,
        thaw: Callable[[str, bytes], T] | None = None,
    ) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # closed (and gone) with this object
        self._end = 0
        # id -> (offset, length) in the file, and for a value kept as its source: its name
        self._spans: dict[str, tuple[int, int, str | None]] = {}
        self._cache: OrderedDict[str, T] = OrderedDict()
        self._cached = _CACHED if cached is None else cached
        self.summarise = summarise
        self.thaw = thaw
        self._summaries: dict[str, Any] = {}

    def __setitem__(self, key: str, value: T) -> None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self._write(key, data, None)
        if self.summarise is not None:
            self._summaries[key] = self.summarise(value)

    def put_source(self, key: str, name: str, data: bytes, summary: Any) -> None:
        """Keep the value at ``key`` as ``data``, which ``thaw(name, data)`` makes it from when it
        is read (a value that may well never be read costs no more than its bytes), with its
        ``summary``."""
        if self.thaw is None:
            raise TypeError("this store has no thaw function")
        self._write(key, data, name)
        self._summaries[key] = summary

    def _write(self, key: str, data: bytes, name: str | None) -> None:
        os.pwrite(self._file.fileno(), data, self._end)
        self._spans[key] = (self._end, len(data), name)
        self._end += len(data)
        self._cache.pop(key, None)

    def summary(self, key: str) -> Any:
        """``summarise(value)`` of the value stored at ``key``, made when it was stored (no read)."""
        return self._summaries[key]

    def __getitem__(self, key: str) -> T:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        offset, length, name = self._spans[key]
        data = os.pread(self._file.fileno(), length, offset)
        if name is not None and self.thaw is not None:
            loaded: T = self.thaw(name, data)
        else:  # the bytes are our own, written above into a file no other process can name
            loaded = pickle.loads(data)  # noqa: S301
        self._cache[key] = loaded
        if len(self._cache) > self._cached:
            self._cache.popitem(last=False)
        return loaded

    def __delitem__(self, key: str) -> None:
        del self._spans[key]  # its bytes stay in the file until the store is gone
        self._cache.pop(key, None)
        self._summaries.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._spans

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)
