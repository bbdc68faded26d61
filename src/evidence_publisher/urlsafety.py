"""URLs that may carry secrets: refusing them where a user gives a base URL, redacting them in text.

A FHIR base URL (``publish --server``, ``serve --fhir-server``, a CDS client's ``fhirServer``) is
shown in messages, logs and process lists, so it must not carry credentials: userinfo
(``user:password@``) and query parameters are refused up front (a base URL has no use for a query
string; ``[base]/metadata`` appended to one would not even reach the server). URLs the tool did not
choose (redirect targets, paging links, token endpoints) are redacted before they reach a message
or a log line: userinfo is dropped and the value of every query parameter whose name looks like a
credential is replaced by ``***``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

REDACTED = "***"
# Parameter names (lower case, without "-" and "_") that carry credentials in practice: OAuth and
# OpenID tokens and codes, API keys, signed-URL signatures (AWS, Azure SAS, GCS), passwords.
_SECRET_NAMES = frozenset({"key", "sig", "code", "pwd", "pass", "auth", "jwt", "session", "sessionid", "sid"})
_SECRET_PARTS = re.compile(r"token|secret|passw|apikey|accesskey|signature|credential|authoriz|assertion")


def is_secret_name(name: str) -> bool:
    """True for a query parameter name that usually carries a credential (``access_token``,
    ``apiKey``, ``X-Amz-Signature``, ``password``, ``key`` ...)."""
    norm = name.lower().replace("-", "").replace("_", "")
    return norm in _SECRET_NAMES or norm.endswith("key") or bool(_SECRET_PARTS.search(norm))


def secret_parameters(url: str) -> list[str]:
    """Names of the query parameters of ``url`` that look like credentials, in order."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    return [name for name, _ in parse_qsl(query, keep_blank_values=True) if is_secret_name(name)]


def redact_url(url: str) -> str:
    """``url`` without userinfo and with the values of credential-like query parameters hidden.

    Anything that does not parse as a URL is replaced as a whole: an unparsable string may still
    hold a secret.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        netloc = f"{REDACTED}@{netloc}"
    query = parts.query
    if query:
        pairs = []
        for piece in query.split("&"):
            name, sep, _ = piece.partition("=")
            plain = unquote(name.replace("+", " "))
            pairs.append(f"{name}={REDACTED}" if sep and is_secret_name(plain) else piece)
        query = "&".join(pairs)
    fragment = parts.fragment
    if fragment and _SECRET_PARTS.search(fragment.lower()):
        fragment = REDACTED  # OAuth implicit flow puts access_token in the fragment
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def base_url_problem(url: str, what: str) -> str | None:
    """Why ``url`` cannot be a FHIR base URL given by a user (``what`` names the option), or None.

    The message never repeats a credential: it names the parameter, not its value.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"{what} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        return f"{what} must be an absolute http(s) URL, e.g. https://fhir.example.org/fhir"
    if parts.username is not None or parts.password is not None:
        return f"{what} must not contain credentials (user:password@)"
    secrets = secret_parameters(url)
    if secrets:
        names = ", ".join(repr(n) for n in dict.fromkeys(secrets))
        noun = "parameter" if len(set(secrets)) == 1 else "parameters"
        return f"{what} must not contain credentials: it has the query {noun} {names}"
    if parts.query or url.rstrip().endswith("?"):
        return f"{what} must be the FHIR base URL without a query string"
    if parts.fragment:
        return f"{what} must be the FHIR base URL without a #fragment"
    return None


_QUERY_PAIR = re.compile(r"([?&;])([^=&#\s\"'<>]+)=([^&#\s\"'<>]*)")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s\"'<>]+@")


def redact_text(text: str) -> str:
    """``text`` with every URL's userinfo and credential-like query values replaced by ``***``
    (for text that holds URLs among other words, such as a library's log line)."""

    def pair(m: re.Match[str]) -> str:
        name = m.group(2)
        return f"{m.group(1)}{name}={REDACTED}" if is_secret_name(unquote(name)) else m.group(0)

    return _USERINFO.sub(rf"\1{REDACTED}@", _QUERY_PAIR.sub(pair, text))


class RedactingFilter(logging.Filter):
    """Rewrites a log record so that no URL in it carries a credential. Installed on the loggers
    of the HTTP libraries, which log full request URLs at DEBUG level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = RedactingFilter()
LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "httpx", "httpcore")


def install_log_redaction() -> None:
    """Attach the redacting filter to the HTTP libraries' loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
