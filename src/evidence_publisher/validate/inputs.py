"""Reading resources to validate from files: JSON (a resource or a Bundle), NDJSON, directories."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.validate.errors import InputNotFoundError

SUFFIXES = (".json", ".ndjson", ".jsonl")


@dataclass
class InputDocument:
    """One parsed JSON document (or the reason it could not be parsed)."""

    source: str  # "path" or "path:line" for NDJSON
    resource: Any = None
    error: str | None = None


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus every *.json / *.ndjson under named directories (sorted)."""
    return [p for p, _explicit in expand_paths_marked(paths)]


def expand_paths_marked(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Like ``expand_paths``; the flag says whether the file was named explicitly."""
    files: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(
                (f, False)
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".")
            )
        elif p.is_file():
            files.append((p, True))
        else:
            raise InputNotFoundError(
                f"{str(p)!r} does not exist",
                details=["give JSON or NDJSON files, or directories containing them"],
            )
    return files


def read_documents(path: Path) -> Iterator[InputDocument]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield InputDocument(str(path), error=f"cannot read: {exc}")
        return
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for n, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            yield _parse(line, f"{path}:{n}")
        return
    yield _parse(data, str(path))


def _parse(text: bytes, source: str) -> InputDocument:
    try:
        return InputDocument(source, resource=jsonio.loads(text))
    except (ValueError, UnicodeDecodeError) as exc:
        return InputDocument(source, error=f"not valid JSON: {exc}")
