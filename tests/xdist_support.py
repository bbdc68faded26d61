"""What the suite needs to run in two pytest-xdist workers (``-n 2``, the README command): work
units dealt out whole, a cross-process lock for set-ups that write one shared place (a Maven build,
an apt-get install), and end-of-run lines that a worker hands to the controlling process, which
alone prints the summary.

A work unit is a test module, so that a module-scoped fixture (the FHIRPath differential's walk
over every R5 example, a browser, the HL7 validator) is set up in one worker only, and all of
``tests/real_hapi`` (its two HAPI servers start once per run, not once per worker). xdist's own
``--dist loadgroup`` would do this with markers, but it renames ``item._nodeid``, which pytest 9.2
no longer reads, so the groups are silently lost.

Without xdist the lock is just as correct (one holder) and the lines are printed directly.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

LINES = pytest.StashKey[list[tuple[str, bool]]]()
WORKER_KEY = "session_lines"
SHARED_SERVER_DIRS = ("tests/real_hapi/",)


def work_unit(nodeid: str) -> str:
    """The unit ``nodeid`` is scheduled with: its module, or the directory of a shared server."""
    module = nodeid.split("::", 1)[0]
    for folder in SHARED_SERVER_DIRS:
        if module.startswith(folder):
            return folder.rstrip("/")
    return module


def work_unit_scheduling(config: pytest.Config, log: Any) -> Any:
    """xdist's load-by-scope scheduling with ``work_unit`` as the scope."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # ships no types

    class WorkUnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created when missing) while the block runs; the
    kernel releases it when the process dies, so a killed run never leaves it held."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_summary_line(config: pytest.Config, text: str, *, loud: bool = False) -> None:
    """A line for the end of the run (red and bold when ``loud``), from a worker or not."""
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints it
        workeroutput.setdefault(WORKER_KEY, []).append([text, loud])
    else:
        config.stash.setdefault(LINES, []).append((text, loud))


def lines_from_worker(config: pytest.Config, workeroutput: dict) -> None:
    for text, loud in workeroutput.get(WORKER_KEY, []):
        config.stash.setdefault(LINES, []).append((text, loud))


def write_summary_lines(config: pytest.Config, terminalreporter: pytest.TerminalReporter) -> None:
    for text, loud in config.stash.get(LINES, []):
        terminalreporter.write_line(text, red=loud, bold=loud)
