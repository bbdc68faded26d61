"""Following a search's next-page links without leaving the server that was given.

A next link is followed only when it lies under the base URL: the same scheme, host and port (the
default port spelled or not), no userinfo (``http://host:port@evil.example/`` has the host
``evil.example``), and a path equal to the base path or below it with no ``.``/``..`` segment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def next_link(page: Any) -> str | None:
    """The ``next`` link of a searchset Bundle, or None (also for anything that is not one)."""
    if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
        return None
    links = page.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def under_base(url: str, base: str) -> bool:
    """True when ``url`` is on the origin of the FHIR base ``base`` and at or below its path."""
    try:
        here, there = urlsplit(base.rstrip("/")), urlsplit(url)
        same_origin = _origin(here) == _origin(there)
    except ValueError:  # a malformed port
        return False
    if not same_origin or there.username is not None or there.password is not None:
        return False
    if any(unquote(seg) in (".", "..") for seg in there.path.split("/")):
        return False
    return there.path == here.path or there.path.startswith(here.path + "/")
