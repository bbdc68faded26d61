"""Hand-overs from the compiled engine to fhirpathpy: counted, logged at debug, fatal when strict.

Kinds (the first item of each key of ``counts()``):

* ``unsupported``: the expression uses something outside the compiled set (``aggregate()``,
  ``now()``, ``%vs-*`` ...); each of its evaluations goes to fhirpathpy.
* ``fallback``: a closure met a case only fhirpathpy decides (date or Quantity arithmetic, a
  non-boolean operand of ``and`` ...); that one evaluation goes to fhirpathpy.
* ``error``: the compiler or a closure raised something it did not foresee, i.e. a compiler bug.
  fhirpathpy answers instead, so a bug costs speed, not a wrong verdict or a crash; in strict
  mode (the test suite turns it on in tests/conftest.py) the exception is raised instead.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_counts: Counter[tuple[str, str, str]] = Counter()  # (kind, expression, reason) -> evaluations
_strict = False


def record(kind: str, expression: str, reason: str) -> None:
    with _lock:
        _counts[(kind, expression, reason)] += 1
    _log.debug("FHIRPath %r goes to fhirpathpy (%s): %s", expression, kind, reason)


def counts() -> dict[tuple[str, str, str], int]:
    """(kind, expression, reason) -> number of evaluations handed to fhirpathpy so far."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()


def is_strict() -> bool:
    return _strict


@contextmanager
def strict_mode(on: bool = True) -> Iterator[None]:
    """Within the block, an ``error`` hand-over raises the compiler's exception instead."""
    global _strict
    previous, _strict = _strict, on
    try:
        yield
    finally:
        _strict = previous
