"""The ``Reference.reference`` strings a resource holds, found without building paths.

Shared by ``spill.py`` (which records them when a resource is stored, so that later passes need
not parse it again) and ``bundle/references.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import simplejson

RELATIVE_REF = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")

# In compact JSON a quote right after ``{`` or ``,`` opens a member's key (inside a string every
# quote is escaped), so this finds exactly the members named reference with a string value.
_REFERENCE_MEMBER = re.compile(r'[{,]"reference":"((?:[^"\\]|\\.)*)"')


def reference_values(node: Any) -> Iterator[str]:
    """Every ``Reference.reference`` string under ``node`` (a dict with a string ``reference``
    key, ``contained`` resources included), in no particular order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                yield ref
            # a string ``reference`` is yielded above; a dict there is a CodeableReference's Reference
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def compact_reference_values(text: str) -> Iterator[str]:
    """``reference_values`` of the value whose compact JSON (``jsonio.dumps(value, indent=None)``:
    no whitespace, keys written as they are) is ``text``, without parsing it."""
    for match in _REFERENCE_MEMBER.finditer(text):
        raw = match.group(1)
        yield simplejson.loads(f'"{raw}"') if "\\" in raw else raw
