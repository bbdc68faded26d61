"""The log file an unexpected exception (a bug) is written to, so the terminal shows one line.

Logs go to ``$XDG_STATE_HOME/evidence-publisher/`` (default ``~/.local/state/evidence-publisher/``),
or the system's temporary directory when that cannot be written. Each file is private to the user
(mode 0600) and holds the version, the command line with URL credentials and query strings masked,
and the traceback.
"""

from __future__ import annotations

import os
import platform
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from evidence_publisher import __version__

APP = "evidence-publisher"


def log_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / APP


def write_crash_log(exc: BaseException, argv: Sequence[str]) -> Path:
    """Write the report of ``exc``; return its path. Raises ``OSError`` only if no place is writable."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = "".join(
        [
            f"{APP} {__version__}, Python {platform.python_version()} on {platform.platform()}\n",
            f"time: {stamp}\n",
            f"command: {' '.join(mask_url(arg) for arg in [APP, *argv])}\n\n",
            *traceback.format_exception(exc),
        ]
    )
    last_error: OSError | None = None
    for folder in _candidates():
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / f"crash-{stamp}-{os.getpid()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except OSError as err:
            last_error = err
    assert last_error is not None
    raise last_error


def _candidates() -> list[Path]:
    places = []
    try:
        places.append(log_dir())
    except RuntimeError:  # no home directory
        pass
    places.append(Path(tempfile.gettempdir()) / f"{APP}-{os.getuid() if hasattr(os, 'getuid') else 0}")
    return places


def mask_url(arg: str) -> str:
    """``arg`` with the password and query of a URL replaced by ``***`` (other text unchanged)."""
    prefix, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if "://" not in value:
        return arg
    try:
        parts = urlsplit(value)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = "***" if parts.query else ""
        masked = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        masked = "***"
    return f"{prefix}{sep}{masked}"
