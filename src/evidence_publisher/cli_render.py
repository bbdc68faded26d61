"""Terminal and pipe output for the CLI: tables and progress.

On a terminal, tables are drawn by rich at the terminal's width (long cells fold inside their column)
and progress is a transient bar. In a pipe or a file, a table is one line per row, columns separated
by TAB, with a header line and no box drawing or wrapping, so that ``grep``, ``cut`` and ``awk`` work
on it; progress is a line every few seconds during a long stage, and nothing for quick ones.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from evidence_publisher.jsonio import dumps

PIPE_PROGRESS_SECONDS = 5.0


class CliConsole(Console):
    """A rich console whose closed pipe raises ``BrokenPipeError`` for the CLI to map to its exit code.

    (rich's own reaction is ``SystemExit(1)``, which would read as an internal error.)
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(32, "the reader of the output closed the pipe")


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "left"  # "left" or "right"


Cell = str | tuple[str, str]  # plain text, or (text, rich style) for a coloured cell on a terminal


def print_table(
    console: Console, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, title: str | None = None
) -> None:
    """A table that fits the terminal, or compact tab-separated lines when ``console`` is not a terminal."""
    if not console.is_terminal:
        if title:
            _plain(console, f"# {title}")
        _plain(console, "\t".join(c.header for c in columns))
        for row in rows:
            _plain(console, "\t".join(_one_line(_text_of(cell)) for cell in row))
        return
    table = Table(title=Text(title) if title else None, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.header, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(Text(_text_of(cell), style=_style_of(cell)) for cell in row))
    console.print(table)


def _text_of(cell: Cell) -> str:
    return cell[0] if isinstance(cell, tuple) else cell


def _style_of(cell: Cell) -> str:
    return cell[1] if isinstance(cell, tuple) else ""


def _one_line(text: str) -> str:
    return " ".join(text.replace("\t", " ").split()) if any(c in text for c in "\t\r\n") else text


def _plain(console: Console, line: str) -> None:
    """One line exactly as given (rich would expand the tabs and could wrap)."""
    try:
        console.file.write(line + "\n")
    except BrokenPipeError:
        console.on_broken_pipe()
        raise


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------
# (stage label, done, total or None); shown as a percentage, so any unit (files, bytes) will do
ProgressCallback = Callable[[str, int, "int | None"], None]


@contextmanager
def progress_display(console: Console, enabled: bool = True) -> Iterator[tuple[ProgressCallback, Console]]:
    """A progress callback for long work, and the console to print other messages through meanwhile.

    On a terminal: a transient bar per stage. Elsewhere: a line every ``PIPE_PROGRESS_SECONDS`` while
    a stage runs longer than that.
    """
    if not enabled:
        yield (lambda _stage, _done, _total: None), console
        return
    if console.is_terminal:
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            console=console,
            transient=True,
        )
        tasks: dict[str, TaskID] = {}

        def on_terminal(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                for task in tasks.values():  # a new stage means the earlier ones are over
                    bar.update(task, visible=False)
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        with bar:
            yield on_terminal, bar.console
        return
    with _PipeTicker(console) as ticker:
        yield ticker.update, console


class _PipeTicker:
    """Prints the current stage every ``PIPE_PROGRESS_SECONDS`` while it runs, from a helper thread.

    Work that ends sooner prints nothing, so quick commands stay quiet in scripts.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.stage: str | None = None
        self.done, self.since = 0, 0.0
        self.total: int | None = None
        self.thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def update(self, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            if stage != self.stage:
                self.stage, self.since = stage, time.monotonic()
            self.done, self.total = done, total

    def _run(self) -> None:
        while not self.stop.wait(PIPE_PROGRESS_SECONDS):
            with self.lock:
                stage, done, total, since = self.stage, self.done, self.total, self.since
            elapsed = time.monotonic() - since
            if stage is None or elapsed < PIPE_PROGRESS_SECONDS:
                continue
            count = f"{100 * done // total}%, " if total else ""
            _plain(self.console, f"{stage}... ({count}{elapsed:.0f} s)")

    def __enter__(self) -> _PipeTicker:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


# --------------------------------------------------------------------------------------------
# a long JSON list, written once the rest of its document is known
# --------------------------------------------------------------------------------------------
class JsonListSpool:
    """The items of one list of a JSON document, kept in a temporary file until the other keys
    are known (counts, say), then written out: the same bytes ``jsonio.dumps`` gives for the whole
    document, without holding every item in memory."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.count = 0

    def __enter__(self) -> JsonListSpool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.file.close()

    def add(self, item: object) -> None:
        text = dumps(item).rstrip("\n").replace("\n", "\n    ")
        self.file.write((",\n    " if self.count else "    ") + text)
        self.count += 1

    def write_document(self, console: Console, head: dict) -> None:
        """``head`` and the list under ``key``, keys sorted, to ``console``'s file."""
        if not self.count:
            console.file.write(dumps({**head, self.key: []}))
            return
        marker = "\u0000spooled list\u0000"
        before, after = dumps({**head, self.key: marker}).split(dumps(marker).rstrip("\n"), 1)
        try:
            console.file.write(before + "[\n")
            self.file.seek(0)
            while block := self.file.read(1 << 20):
                console.file.write(block)
            console.file.write("\n  ]" + after)
        except BrokenPipeError:
            console.on_broken_pipe()
            raise
