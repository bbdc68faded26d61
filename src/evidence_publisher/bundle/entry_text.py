"""Bundle entries written from a resource's canonical indented text rather than from its dict.

``jsonio.dumps`` writes every object member on a line of its own, so in a resource's indented
text a line starting with ``"reference": "`` after its indentation is a string ``reference``
member (a JSON string holds no raw newline, and quotes inside it are escaped), and the top-level
``id`` member is the one line indented by exactly two spaces that starts with ``"id":``. The
entries made here are, byte for byte, ``jsonio.dumps(entry)`` of the entries ``collection.py``
and ``transaction.py`` make from dicts (tests/bundle/test_entry_text.py compares them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from evidence_publisher.jsonio import dumps, loads

# a string ``reference`` member: its line's start, then the JSON string
_REFERENCE_MEMBER = re.compile(r'(\n *"reference": )("(?:[^"\\\n]|\\.)*")')


def collection_entry_text(full_url: str, resource_text: str) -> str:
    """``dumps({"fullUrl": full_url, "resource": resource})`` without its trailing newline;
    ``resource_text`` is ``dumps(resource)``."""
    body = resource_text.rstrip("\n").replace("\n", "\n  ")
    return f'{{\n  "fullUrl": {_string(full_url)},\n  "resource": {body}\n}}'


def transaction_entry_text(
    full_url: str, request_url: str, resource_text: str, rid: str, mapping: Callable[[str], str | None]
) -> str | None:
    """The text of a transaction entry (see ``transaction._entries``) of the resource whose text
    is ``resource_text`` and whose id is ``rid``: its ``id`` left out and each string
    ``reference`` member replaced by ``mapping`` (``None`` keeps it). ``None`` if the text does
    not have the shape expected (the caller then makes the entry from the dict)."""
    id_member = f'\n  "id": {_string(rid)},'
    if resource_text.count(id_member) != 1:
        return None

    def rewrite(match: re.Match[str]) -> str:
        quoted = match.group(2)
        value = loads(quoted) if "\\" in quoted else quoted[1:-1]
        new = mapping(value)
        return match.group(0) if new is None else match.group(1) + _string(new)

    body = _REFERENCE_MEMBER.sub(rewrite, resource_text.rstrip("\n").replace(id_member, "", 1))
    return (
        f'{{\n  "fullUrl": {_string(full_url)},\n  "request": {{\n    "method": "PUT",\n'
        f'    "url": {_string(request_url)}\n  }},\n  "resource": {body.replace(chr(10), chr(10) + "  ")}\n}}'
    )


def _string(value: str) -> str:
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # nothing to escape (the usual URL)
    return dumps(value, indent=None)
