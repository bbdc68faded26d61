"""Comparing a local resource with the server's copy.

What is compared: every element of the local resource, after these normalisations, and nothing
else is ignored:
- ``id`` is ignored on both sides (the server assigns its own id to conditional creates);
- ``meta.versionId``, ``meta.lastUpdated`` and ``meta.source`` are server-managed and ignored;
  ``meta.profile``, ``meta.tag`` and ``meta.security`` are compared as sets (HAPI reorders them);
  the server's ``SUBSETTED`` tag (from ``_elements``/``_summary``) is ignored; every other
  ``meta`` element (``profile``, ``tag``, ``security``) is compared;
- ``text`` is ignored only when the local resource has none (the server may generate narrative);
  a narrative ``div`` is compared as XML (Canonical XML 2.0), because HAPI stores it re-serialised:
  ``&#x27;`` comes back as ``'`` and attributes may come back in another order;
- a local reference ``Type/local-id`` to another published resource is compared as the server
  reference ``Type/server-id`` of that resource (the server rewrote the ``urn:uuid``);
- decimals are compared by their exact text (``0.050`` differs from ``0.05``);
- arrays are compared position by position.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

from evidence_publisher.bundle.references import rewrite_references
from evidence_publisher.jsonio import as_array, dumps

SERVER_META = frozenset({"versionId", "lastUpdated", "source"})
SUBSETTED = "SUBSETTED"
# HAPI stores profiles, tags and security labels as sets and returns them in its own order
UNORDERED_META = ("profile", "tag", "security")


def _clean_meta(meta: Any) -> dict | None:
    if not isinstance(meta, dict):
        return None
    out = {k: v for k, v in meta.items() if k not in SERVER_META}
    tags = [t for t in as_array(out.get("tag")) if not (isinstance(t, dict) and t.get("code") == SUBSETTED)]
    if tags:
        out["tag"] = tags
    else:
        out.pop("tag", None)
    for key in UNORDERED_META:
        if isinstance(out.get(key), list):
            out[key] = sorted(out[key], key=lambda v: dumps(v, indent=None))
    return out or None


def canonical_xhtml(div: str) -> str:
    """The Canonical XML 2.0 form of a narrative ``div`` (character references resolved,
    attributes sorted, empty elements written out); the text itself when it is not XML."""
    try:
        return ElementTree.canonicalize(div)
    except ElementTree.ParseError:
        return div


def normalize_local(resource: dict, server_ref: Callable[[str], str | None]) -> dict:
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = _clean_meta(out.pop("meta", None))
    if meta:
        out["meta"] = meta
    return rewrite_references(out, server_ref)


def normalize_server(resource: dict, *, keep_text: bool) -> dict:
    out = {k: v for k, v in resource.items() if k != "id" and (keep_text or k != "text")}
    meta = _clean_meta(out.pop("meta", None))
    if meta:
        out["meta"] = meta
    return out


def differences(local: Any, server: Any, path: str) -> list[str]:
    """JSON paths (``Evidence.statistic[0].quantity.value``) where the two differ, with values."""
    if isinstance(local, dict) and isinstance(server, dict):
        out: list[str] = []
        for key in sorted(set(local) | set(server)):
            sub = f"{path}.{key}"
            if key not in server:
                out.append(f"{sub}: missing on the server (local {_show(local[key])})")
            elif key not in local:
                out.append(f"{sub}: only on the server ({_show(server[key])})")
            else:
                out += differences(local[key], server[key], sub)
        return out
    if isinstance(local, list) and isinstance(server, list):
        out = []
        for i in range(max(len(local), len(server))):
            sub = f"{path}[{i}]"
            if i >= len(server):
                out.append(f"{sub}: missing on the server (local {_show(local[i])})")
            elif i >= len(local):
                out.append(f"{sub}: only on the server ({_show(server[i])})")
            else:
                out += differences(local[i], server[i], sub)
        return out
    if path.endswith(".text.div") and isinstance(local, str) and isinstance(server, str):
        return _narrative_difference(path, canonical_xhtml(local), canonical_xhtml(server))
    if _same_scalar(local, server):
        return []
    return [f"{path}: local {_show(local)} != server {_show(server)}"]


def _narrative_difference(path: str, local: str, server: str) -> list[str]:
    """Where two (canonical) narratives first differ, with a little context: the start of a
    long ``div`` says nothing."""
    if local == server:
        return []
    at = next((i for i, (a, b) in enumerate(zip(local, server, strict=False)) if a != b), None)
    at = min(len(local), len(server)) if at is None else at
    start = max(0, at - 20)
    return [
        f"{path}: differs at character {at}: local {_show(local[start : at + 30])} != "
        f"server {_show(server[start : at + 30])}"
    ]


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal | float) or isinstance(b, Decimal | float):
        return type(a) is type(b) and str(a) == str(b)
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    text = repr(value)  # repr escapes control characters a server might send
    return text if len(text) <= 60 else text[:57] + "..."


def compare(local: dict, server: dict, server_ref: Callable[[str], str | None]) -> list[str]:
    rtype = local.get("resourceType", "Resource")
    a = normalize_local(local, server_ref)
    b = normalize_server(server, keep_text="text" in local)
    return differences(a, b, rtype)
