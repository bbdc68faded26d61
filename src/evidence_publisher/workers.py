"""Per-item work in forked worker processes, with the results taken back in order.

Used where the work is per file or per chunk of resources (validation, parsing mapping files) and
a corpus is large enough for a pool to cost less than it saves.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from evidence_publisher.errors import EvidencePublisherError

IN_FLIGHT = 4  # chunks per worker handed out ahead of the results taken back


def pool_map(
    jobs: int, fn: Callable[[Any], Any], chunks: Iterable[Sequence[Any]], count: int
) -> Iterator[list]:
    """The results of each chunk, in order. At most ``IN_FLIGHT`` chunks per worker are handed
    out ahead of the one awaited, so results never pile up when this process falls behind."""
    window = threading.Semaphore(IN_FLIGHT * jobs)
    stop = threading.Event()

    def handed_out() -> Iterator[Sequence[Any]]:  # iterated by the pool's task thread
        for chunk in chunks:
            while not window.acquire(timeout=0.1):
                if stop.is_set():
                    return
            yield chunk

    context = multiprocessing.get_context("fork")
    # what exists now (the definitions, above all) is left out of the workers' garbage
    # collections, which would otherwise walk it and copy every page it touches
    gc.freeze()
    try:
        pool = context.Pool(min(jobs, count or 1), initializer=_worker_signals)
    finally:
        gc.unfreeze()
    with pool:
        try:
            for result in pool.imap(functools.partial(_chunk, fn), handed_out()):
                window.release()
                yield result
        finally:
            stop.set()


def _worker_signals() -> None:
    """Workers end when the pool ends them (SIGTERM), and leave Ctrl-C to the main process: the
    CLI's own handlers, inherited through fork, would turn SIGTERM into an exception that a worker
    waiting for work may never get to raise."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


FAILED = None  # what a worker says for an item it could not do (the same after pickling)


def _chunk(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """In a worker: ``fn`` of each item; an input error is left for the main process to raise."""
    out = []
    for item in items:
        try:
            out.append(fn(item))
        except EvidencePublisherError:
            out.append(FAILED)
    return out
