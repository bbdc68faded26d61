"""``htmlChecks()`` (FHIR's addition, used by txt-1): the narrative XHTML whitelist."""

from __future__ import annotations

import re
from functools import lru_cache
from xml.etree import ElementTree

_XHTML = "{http://www.w3.org/1999/xhtml}"
_ALLOWED_TAGS = frozenset(
    "a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em h1 h2 h3 "
    "h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr "
    "tt ul var".split()
)
_FORBIDDEN_ATTR = re.compile(r"^on", re.IGNORECASE)


@lru_cache(maxsize=4096)
def html_ok(xhtml: str) -> str | None:
    """Return None when the narrative passes the FHIR XHTML rules, else what is wrong."""
    try:
        root = ElementTree.fromstring(xhtml)  # noqa: S314 - no DTDs, no entity expansion
    except ElementTree.ParseError as exc:
        return f"not well-formed XHTML: {exc}"
    if root.tag != _XHTML + "div":
        return "the root must be an XHTML <div>"
    has_content = False
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str) or not tag.startswith(_XHTML):
            return f"element {tag!r} is not in the XHTML namespace"
        local = tag[len(_XHTML) :]
        if local not in _ALLOWED_TAGS:
            return f"element <{local}> is not allowed in narrative"
        for attr, value in el.attrib.items():
            if _FORBIDDEN_ATTR.match(attr.rsplit("}", 1)[-1]):
                return f"attribute {attr!r} (event handler) is not allowed in narrative"
            if value.strip().lower().startswith("javascript:"):
                return "javascript: URLs are not allowed in narrative"
        if (el.text and el.text.strip()) or (el.tail and el.tail.strip()) or local == "img":
            has_content = True
    if not has_content:
        return "narrative has no content"
    return None


def html_checks(inputs: list) -> list:
    if len(inputs) != 1 or not isinstance(inputs[0], str):
        return [False]
    return [html_ok(inputs[0]) is None]
