"""Build summaries that stay readable at any corpus size: counts by resource type, and problems
counted by kind with a few examples, never one row per resource once there are many."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from evidence_publisher.spill import SpilledResources

LISTED_IN_FULL = 20  # up to this many problems are listed one by one
EXAMPLES_PER_KIND = 2
KINDS_SHOWN = 30

_INDEX = re.compile(r"\[\d+\]")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def counts_by_type(resources: Iterable[dict]) -> list[tuple[str, int]]:
    """``(resourceType, count)`` sorted by type."""
    if isinstance(resources, SpilledResources):  # recorded when stored: no parse
        return sorted(Counter(rtype for rtype, _id in resources.keys).items())
    return sorted(Counter(r["resourceType"] for r in resources).items())


@dataclass
class _Kind:
    count: int = 0
    examples: list[str] = field(default_factory=list)
    types: Counter = field(default_factory=Counter)


def problem_kind(line: str) -> tuple[str, str]:
    """(resource type, kind) of a problem line ``Type/id Type.path: message``: the path without
    list positions and the message without the quoted values, so the same mistake made in many
    resources is one kind."""
    label, _, rest = line.partition(" ")
    rtype = label.partition("/")[0]
    where, sep, message = rest.partition(": ")
    if not sep:
        where, message = "", rest
    kind = f"{_INDEX.sub('[]', where)}: {_QUOTED.sub('…', message)}" if where else _QUOTED.sub("…", message)
    return rtype, kind


def summarise_problems(problems: list[str]) -> list[str]:
    """The problems themselves when there are few; else one line per kind (most frequent first)
    with its count and resource types, and a few examples of each."""
    if len(problems) <= LISTED_IN_FULL:
        return problems
    kinds: dict[str, _Kind] = {}
    types: Counter = Counter()
    for line in problems:
        rtype, kind = problem_kind(line)
        entry = kinds.setdefault(kind, _Kind())
        entry.count += 1
        entry.types[rtype] += 1
        types[rtype] += 1
        if len(entry.examples) < EXAMPLES_PER_KIND:
            entry.examples.append(line)
    ranked = sorted(kinds.items(), key=lambda item: (-item[1].count, item[0]))
    by_type = ", ".join(f"{t} {n}" for t, n in sorted(types.items()))
    out = [f"{len(problems)} problems of {len(kinds)} kinds ({by_type}); counted by kind, with examples:"]
    for kind, entry in ranked[:KINDS_SHOWN]:
        out.append(f"{entry.count} x {kind}")
        out += [f"    e.g. {example}" for example in entry.examples]
    if len(ranked) > KINDS_SHOWN:
        rest = sum(entry.count for _, entry in ranked[KINDS_SHOWN:])
        out.append(f"... and {len(ranked) - KINDS_SHOWN} more kinds ({rest} problems)")
    return out
