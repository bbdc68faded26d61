"""Rows of the build report (one per resource, one per quote) kept on disk, read back in order.

The report of a build of thousands of studies has hundreds of thousands of small dicts (a row per
resource, an entry per quote), about 1 KB each in memory. ``SpilledRows`` writes each row to an
unnamed temporary file as its ``jsonio.dumps`` text as soon as it is made and keeps only its place.

It is a ``list`` subclass whose own list storage stays empty, so that the report stays a plain
dict of lists for its readers: the JSON encoder (simplejson iterates a list, in its C encoder too),
``len``, indexing, iteration and ``==`` all read the rows from the file. Each row read is a fresh
copy (changing it changes nothing stored). Pickling or copying gives a plain list.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, SupportsIndex

from evidence_publisher.jsonio import dumps, loads


class SpilledRows(list):
    def __init__(self, rows: Iterable[dict] = ()) -> None:
        super().__init__()
        self._file = tempfile.TemporaryFile(buffering=0)  # closed (and gone) with this object
        self._end = 0
        self._spans: list[tuple[int, int]] = []  # (offset, length) in the file, in row order
        for row in rows:
            self.append(row)

    def append(self, row: dict) -> None:
        data = dumps(row).encode("utf-8")  # indented: the report's text of the row, re-indented
        os.pwrite(self._file.fileno(), data, self._end)
        self._spans.append((self._end, len(data)))
        self._end += len(data)

    def append_texts(self, texts: Iterable[str]) -> None:
        """Append rows given as ``stored_texts`` gave them (each row's ``jsonio.dumps`` text), in
        one write."""
        block = bytearray()
        for text in texts:
            data = text.encode("utf-8")
            self._spans.append((self._end + len(block), len(data)))
            block += data
        os.pwrite(self._file.fileno(), block, self._end)
        self._end += len(block)

    def stored_texts(self, start: int = 0) -> list[str]:
        """The stored text of each row from ``start`` on (``jsonio.dumps`` of the row)."""
        return [os.pread(self._file.fileno(), n, at).decode("utf-8") for at, n in self._spans[start:]]

    def _row(self, span: tuple[int, int]) -> dict:
        offset, length = span
        row: dict = loads(os.pread(self._file.fileno(), length, offset))
        return row

    def item_texts(self) -> Iterator[str]:
        """``jsonio.dumps`` of each row without its trailing newline, as stored (no parse): what
        ``jsonio.iter_dumps_pieces`` writes the rows from."""
        for offset, length in self._spans:
            yield os.pread(self._file.fileno(), length - 1, offset).decode("utf-8")

    def reorder(self, order: list[int]) -> None:
        """Put the rows in ``order`` (each item the position of a row now), without reading them."""
        self._spans = [self._spans[n] for n in order]

    def sort_and_keep(self, key: Callable[[dict], Any], keep: Callable[[dict], bool]) -> None:
        """Drop the rows ``keep`` refuses and sort the rest by ``key`` (stably, as ``sorted``)."""
        keyed = []
        for n, span in enumerate(self._spans):
            row = self._row(span)
            if keep(row):
                keyed.append((key(row), n))
        keyed.sort()  # n breaks ties: rows with equal keys keep their order
        self._spans = [self._spans[n] for _, n in keyed]

    def __len__(self) -> int:
        return len(self._spans)

    def __bool__(self) -> bool:
        return bool(self._spans)

    def __iter__(self) -> Iterator[dict]:
        for span in self._spans:
            yield self._row(span)

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice):
            return [self._row(span) for span in self._spans[index]]
        return self._row(self._spans[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    def __repr__(self) -> str:
        return f"<SpilledRows: {len(self)} rows>"

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple:
        return (list, (list(self),))
