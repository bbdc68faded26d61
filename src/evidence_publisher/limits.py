"""Safety limits on untrusted input, with their defaults and how a user raises each one.

Every place where input enters (mapping YAML, ``validate`` input, ``apply --patient``, CDS request
bodies, FHIR server responses and their paging) checks these limits, so a hostile or broken file
costs bounded time and memory and ends in a clear error instead of a crash. A limit that stops a
command names itself, the value it met and the flag, environment variable or config key that
raises it.

The value in force is, in order: what the CLI set with ``configure`` (from a flag), the environment
variable, the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from evidence_publisher.errors import InvalidLimitError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    """One limit: its name in messages, its default, its unit and how a user raises it."""

    name: str
    default: int
    unit: str
    flag: str | None  # CLI flag, or None where a config key raises it
    env: str | None

    @property
    def how_to_raise(self) -> str:
        ways = [w for w in (self.flag and f"{self.flag} N", self.env) if w]
        return " or ".join(ways) if ways else "the max_body_bytes key of the service config"


MAPPING_FILE_BYTES = Limit("mapping file size", 20 * MIB, "bytes", "--max-input-bytes", "EP_MAX_INPUT_BYTES")
JSON_FILE_BYTES = Limit("JSON input size", 512 * MIB, "bytes", "--max-input-bytes", "EP_MAX_INPUT_BYTES")
RECORD_FILE_BYTES = Limit(
    "record file size", 256 * MIB, "bytes", "--max-input-bytes", "EP_MAX_INPUT_BYTES"
)  # each bibliographic export file given to `import`
NESTING_DEPTH = Limit("nesting depth", 100, "levels", "--max-depth", "EP_MAX_DEPTH")
STRING_CHARS = Limit("string length", 1 * MIB, "characters", "--max-string", "EP_MAX_STRING")
YAML_NODES = Limit(
    "YAML node count (after alias expansion)", 1_000_000, "nodes", "--max-yaml-nodes", "EP_MAX_YAML_NODES"
)
CDS_BODY_BYTES = Limit("CDS request body size", 1_000_000, "bytes", None, None)
SERVER_RESPONSE_BYTES = Limit(
    "server response size", 256 * MIB, "bytes", "--max-response-bytes", "EP_MAX_RESPONSE_BYTES"
)
SERVER_PAGES = Limit("search page", 50, "pages", "--max-pages", "EP_MAX_PAGES")

_overrides: dict[Limit, int] = {}


def configure(values: dict[Limit, int | None]) -> None:
    """Set limits from CLI flags (``None`` leaves a limit as it is). Process-wide, like logging."""
    for limit, value in values.items():
        if value is not None:
            if value < 1:
                raise ValueError(f"{limit.flag or limit.name} must be at least 1, got {value}")
            _overrides[limit] = value


def as_environment(limits: tuple[Limit, ...]) -> dict[str, str]:
    """The values in force of ``limits`` as environment variables, for child processes (the CDS
    service's workers), which do not see the CLI's overrides otherwise."""
    return {limit.env: str(current(limit)) for limit in limits if limit.env}


def reset() -> None:
    """Forget the CLI overrides (tests)."""
    _overrides.clear()


def current(limit: Limit) -> int:
    """The value in force for ``limit``."""
    if limit in _overrides:
        return _overrides[limit]
    raw = os.environ.get(limit.env) if limit.env else None
    if raw:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise InvalidLimitError(f"{limit.env}={raw!r} is not a whole number") from None
        if value >= 1:
            return value
        raise InvalidLimitError(f"{limit.env}={raw!r} must be at least 1")
    return limit.default


def read_at_most(fh: BinaryIO, limit: int, size: int | None = None) -> bytes:
    """At most ``limit + 1`` bytes of ``fh`` (one more than the limit shows it was passed).

    ``size``, a regular file's size from ``stat`` when known, is read first: asking for the
    whole limit at once has a buffer of the limit's size (tens of MB) allocated for every file.
    """
    if size is not None and size < limit:
        data = fh.read(size + 1)
        if len(data) > size:  # it grew since: read on, within the limit
            data += fh.read(limit + 1 - len(data))
        return data
    return fh.read(limit + 1)


def json_depth(value: object, limit: int) -> int:
    """Depth of nested lists/dicts in ``value`` (one level at a time, without recursion; stops as
    soon as ``limit`` is passed)."""
    if not isinstance(value, dict | list):
        return 0
    level: list[dict | list] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return depth
        below: list[dict | list] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            below += [c for c in children if isinstance(c, dict | list)]
        level = below
    return depth
