"""Adding documents to the source register of ``corpus.yaml`` without disturbing anything else.

The new entries are inserted as text at the end of the ``sources:`` block (an entry being replaced
is swapped line for line), so comments, order, quoting and line breaks elsewhere stay byte for byte.
The result is then parsed again and must equal the old register plus the new entries, with every
other key unchanged; when it does not (a flow-style list, an unusual layout), nothing is written
and the error shows the entries to add by hand.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from evidence_publisher.importers.errors import ImportRefusedError
from evidence_publisher.importers.yamltext import block
from evidence_publisher.sources.model import Corpus
from evidence_publisher.sources.yamlload import LocatedDocument, parse_located

_TOP_KEY = re.compile(r"^[^\s#-][^:]*:")


def entry_text(entry: dict[str, Any], indent: str) -> str:
    """One register entry as block YAML, ``- `` at ``indent``."""
    lines = block("x", [entry]).splitlines(keepends=True)[1:]  # drop the "x:" line
    # block() indents list items by two spaces under their key; re-base them on ``indent``
    return "".join(indent + line[2:] if line.strip() else line for line in lines)


def add_entries(
    text: str, display: str, new: list[dict[str, Any]], replace: dict[str, dict[str, Any]]
) -> str:
    """``text`` of corpus.yaml with ``new`` entries appended and the entries whose id is a key of
    ``replace`` swapped for its value. Raises ``ImportRefusedError`` when this cannot be done safely."""
    doc, issues = parse_located(text, display)
    if doc is None or issues or not isinstance(doc.data, dict):
        raise _refused(display, "it does not parse as YAML", new, replace)
    lines = text.splitlines(keepends=True)
    start = doc.locations.get(("sources",))
    sources = doc.data.get("sources")
    if start is None and not replace:  # a new corpus: the register starts here
        result = text + ("" if not text or text.endswith("\n") else "\n") + "sources:\n"
        result += "".join(entry_text(e, "  ") for e in new)
        _verify(doc, result, display, new, replace)
        return result
    if start is None or start[1] != 1 or not isinstance(sources, list) or not sources:
        raise _refused(display, "it has no top-level 'sources:' block list", new, replace)
    if lines[start[0] - 1].split(":", 1)[1].split("#", 1)[0].strip():
        raise _refused(display, "its 'sources:' list is written in flow style ([...])", new, replace)
    first_item = doc.locations.get(("sources", 0))
    assert first_item is not None
    indent = _item_indent(lines[first_item[0] - 1])
    if indent is None:
        raise _refused(display, "its first source entry does not start a line with '- '", new, replace)
    end = _block_end(lines, start[0])
    out = list(lines)
    for i, src in reversed(list(enumerate(sources))):
        if isinstance(src, dict) and src.get("id") in replace:
            first = doc.locations[("sources", i)][0] - 1
            following = doc.locations[("sources", i + 1)][0] - 1 if i + 1 < len(sources) else end
            # comments and blank lines before the next entry stay where they are
            out[first : _last_content_line(out, first, following)] = [entry_text(replace[src["id"]], indent)]
    insert = _last_content_line(out, start[0], end + len(out) - len(lines))
    if insert and not out[insert - 1].endswith("\n"):
        out[insert - 1] += "\n"
    out[insert:insert] = [entry_text(e, indent) for e in new]
    result = "".join(out)
    _verify(doc, result, display, new, replace)
    return result


def _item_indent(line: str) -> str | None:
    m = re.match(r"^( *)- ", line)
    return m.group(1) if m else None


def _block_end(lines: list[str], key_line: int) -> int:
    """Index of the first line after the ``sources:`` block (a top-level key, or the end)."""
    for i in range(key_line, len(lines)):
        if _TOP_KEY.match(lines[i]):
            return i
    return len(lines)


def _last_content_line(lines: list[str], key_line: int, end: int) -> int:
    """Insert after the block's last entry line, before comments and blank lines that lead into
    the next key."""
    last = key_line
    for i in range(key_line, end):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            last = i + 1
    return last


def _verify(
    old: LocatedDocument,
    text: str,
    display: str,
    new: list[dict[str, Any]],
    replace: dict[str, dict[str, Any]],
) -> None:
    doc, issues = parse_located(text, display)
    expected = dict(old.data)
    expected["sources"] = [replace.get(s.get("id"), s) for s in old.data.get("sources", [])] + list(new)
    if doc is None or issues or doc.data != expected:
        raise _refused(
            display,
            "the edited text did not read back as the old register plus the new entries",
            new,
            replace,
        )
    try:
        Corpus.model_validate(doc.data)
    except ValidationError as exc:
        raise _refused(
            display, f"the edited register is not valid ({exc.error_count()} problems)", new, replace
        ) from None


def _refused(
    display: str, why: str, new: list[dict[str, Any]], replace: dict[str, dict[str, Any]]
) -> ImportRefusedError:
    entries = [*replace.values(), *new]
    return ImportRefusedError(
        f"the source register of {display} cannot be updated safely: {why}; nothing was written",
        details=[
            "fix: add these entries under 'sources:' by hand (or make 'sources:' a block list), then "
            "import again:",
            *entry_text_lines(entries),
        ],
    )


def entry_text_lines(entries: list[dict[str, Any]]) -> list[str]:
    return "".join(entry_text(e, "  ") for e in entries).rstrip("\n").splitlines()
