"""SIGINT/SIGTERM as exceptions, and short sections that a signal must not cut in half.

Python turns SIGINT into ``KeyboardInterrupt``, so ``finally`` blocks run on Ctrl-C; SIGTERM by default
kills the process on the spot and leaves temporary files behind. ``terminate_as_exception`` turns
SIGTERM into ``Terminated`` (a ``KeyboardInterrupt``, so code that cleans up on Ctrl-C also cleans up on
SIGTERM). ``signal_guard`` does the same for both signals and offers ``held()`` sections (a few renames,
a clean-up) during which a signal waits until the section ends.

The guard decides with a flag inside one handler instead of swapping handlers per section: a signal
that arrives while handlers are being swapped could otherwise leave a handler installed that swallows
later signals. Handlers can only be installed from the main thread; elsewhere the helpers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _exception_for(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` instead of killing the process (unless ignored)."""
    if not _on_main_thread() or signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class SignalGuard:
    """SIGINT raises ``KeyboardInterrupt`` and SIGTERM ``Terminated``, except inside ``held()``."""

    def __init__(self) -> None:
        self._holding = False
        self._pending: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._holding:
            if self._pending is None:
                self._pending = signum
            return
        raise _exception_for(signum)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block to its end; a signal received meanwhile is raised when it ends."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            pending, self._pending = self._pending, None
            if pending is not None:
                raise _exception_for(pending)


@contextmanager
def signal_guard() -> Iterator[SignalGuard]:
    """Install a ``SignalGuard`` for the block (a guard without effect off the main thread)."""
    guard = SignalGuard()
    if not _on_main_thread():
        yield guard
        return
    # A signal the process was started to ignore (``nohup``, ``&`` in a script) stays ignored.
    wanted = [sig for sig in _SIGNALS if signal.getsignal(sig) != signal.SIG_IGN]
    previous = {sig: signal.signal(sig, guard.handle) for sig in wanted}
    try:
        yield guard
    finally:
        # Interrupted half-way, this leaves the guard on one signal; outside held() it raises, which
        # is harmless (SIGTERM then ends the process through clean-up instead of at once).
        for sig, handler in previous.items():
            signal.signal(sig, handler)
