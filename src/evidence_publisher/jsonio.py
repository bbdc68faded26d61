"""Canonical JSON: sorted keys, decimals exactly as written, UTF-8, trailing newline.

Values are plain Python: dict, list, str, int, bool, None and ``decimal.Decimal`` for every
non-integer number, so that ``0.050`` stays ``0.050``. Never serialise through fhir.resources.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import simplejson


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Serialise ``obj`` canonically. ``indent=None`` gives one compact line (for NDJSON)."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = simplejson.dumps(
        obj,
        use_decimal=True,
        sort_keys=True,
        ensure_ascii=False,
        indent=indent,
        separators=separators,
        allow_nan=False,
    )
    return text if indent is None else text + "\n"


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping every non-integer number as ``Decimal`` (precision preserved)."""
    return simplejson.loads(text, use_decimal=True)


def load_file(path: str | Path) -> Any:
    return loads(Path(path).read_bytes())


def to_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))
