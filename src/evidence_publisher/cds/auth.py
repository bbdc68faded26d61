"""JWT verification for CDS Hooks clients (CDS Hooks 2.0 §Trusting CDS Clients).

Checks, in order: ``Authorization: Bearer``; header ``alg`` on the allowlist (never ``none`` or
HS*), ``kid`` present, ``typ`` = ``JWT``; ``iss`` a trusted issuer; the key chosen by ``kid`` from
an allowlisted ``jku`` or the issuer's configured JWKS; signature; ``aud`` = the exact URL called;
``exp``, ``iat``, ``jti`` present; ``exp`` not past and ``iat`` not in the future nor too old
(bounded skew); lifetime bounded; ``jti`` never seen before. ``sub`` is neither required nor
refused; ``tenant`` is only returned.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests

from evidence_publisher.cds.config import CdsConfig, IssuerConfig, hook_http_options
from evidence_publisher.cds.errors import AuthenticationError, CdsConfigError
from evidence_publisher.cds.replay import ReplayStore
from evidence_publisher.fhirclient import FhirClientError, HttpTransport, ResponseLimitError
from evidence_publisher.fhirclient.answers import json_body
from evidence_publisher.urlsafety import redact_url

MIN_REFETCH_SECONDS = 10.0
JWKS_MAX_BYTES = 1_000_000  # a JWKS holds a few keys; anything near this is not one


@dataclass(frozen=True)
class Client:
    iss: str
    jti: str
    tenant: str | None


class JwksCache:
    """JWKS documents by URL, refreshed after a TTL or when an unknown ``kid`` shows up."""

    def __init__(self, ttl: float, timeout: float, session: requests.Session | None = None) -> None:
        self._ttl = ttl
        self._http = HttpTransport(hook_http_options(timeout), session=session)
        self._docs: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _fetch(self, url: str) -> dict[str, Any]:
        """GET the JWKS, never following a redirect: an allowlisted ``jku`` must not be able to
        send us to keys elsewhere."""
        shown = redact_url(url)
        label = f"GET {shown}"
        try:
            answer = self._http.exchange(
                "GET",
                url,
                label,
                headers={"Accept": "application/json"},
                replayable=True,
                limit=JWKS_MAX_BYTES,
            ).answer
            if answer.status != 200:
                raise AuthenticationError(f"cannot fetch JWKS from {shown!r}: HTTP {answer.status}")
            doc = json_body(answer, label, fhir=False)
        except ResponseLimitError:
            raise AuthenticationError(
                f"cannot fetch JWKS from {shown!r}: more than {JWKS_MAX_BYTES:,} bytes, not a JWKS"
            ) from None
        except FhirClientError as exc:
            raise AuthenticationError(f"cannot fetch JWKS: {exc.message}") from None
        if not isinstance(doc.get("keys"), list):
            raise AuthenticationError(f"JWKS at {shown!r} has no 'keys' array")
        return doc

    def key(self, url: str, kid: str) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._docs.get(url)
        if (
            cached is None
            or now - cached[0] > self._ttl
            or (_find(cached[1], kid) is None and now - cached[0] > MIN_REFETCH_SECONDS)
        ):
            doc = self._fetch(url)
            with self._lock:
                self._docs[url] = (now, doc)
            cached = (now, doc)
        return _find(cached[1], kid)


def _find(jwks: dict[str, Any], kid: str) -> dict[str, Any] | None:
    return next((k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid), None)


def _load_jwks_file(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CdsConfigError(f"cannot read JWKS file {path!r}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise CdsConfigError(f"JWKS file {path!r} has no 'keys' array")
    return doc


class JwtVerifier:
    def __init__(
        self,
        config: CdsConfig,
        replay: ReplayStore,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers: dict[str, IssuerConfig] = {i.iss: i for i in config.issuers}
        self._files = {i.iss: _load_jwks_file(i.jwks_file) for i in config.issuers if i.jwks_file}
        self._algorithms = list(config.algorithms)
        self._skew = config.clock_skew_seconds
        self._max_age = config.max_iat_age_seconds
        self._max_lifetime = config.max_token_lifetime_seconds
        self._replay = replay
        self._jwks = JwksCache(config.jwks_cache_seconds, config.http_timeout_seconds, session)
        self._clock = clock

    def _key(self, issuer: IssuerConfig, header: dict[str, Any]) -> dict[str, Any]:
        kid = header["kid"]
        jku = header.get("jku")
        if jku is not None:
            if jku not in issuer.jku_allowlist:
                raise AuthenticationError(f"jku {jku!r} is not allowlisted for issuer {issuer.iss!r}")
            key = self._jwks.key(jku, kid)
        elif issuer.iss in self._files:
            key = _find(self._files[issuer.iss], kid)
        elif issuer.jwks_url:
            key = self._jwks.key(issuer.jwks_url, kid)
        else:
            raise AuthenticationError(f"issuer {issuer.iss!r} must send a jku header")
        if key is None:
            raise AuthenticationError(f"no key with kid {kid!r} in the JWKS of {issuer.iss!r}")
        return key

    def verify(self, authorization: str | None, audience: str) -> Client:
        if not authorization:
            raise AuthenticationError("missing Authorization: Bearer <JWT>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Authorization must use the Bearer scheme")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"malformed JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise AuthenticationError(f"JWT alg {alg!r} is not accepted; use one of {self._algorithms}")
        if not header.get("kid"):
            raise AuthenticationError("JWT header has no kid")
        if header.get("typ") != "JWT":
            raise AuthenticationError(f"JWT header typ must be 'JWT', got {header.get('typ')!r}")
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthenticationError(f"JWT issuer {iss!r} is not trusted")
        jwk = self._key(issuer, header)
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self._skew,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_sub": False},
            )
        except jwt.InvalidAudienceError:
            raise AuthenticationError(f"JWT aud does not equal the endpoint URL {audience!r}") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"JWT rejected: {exc}") from None
        now = self._clock()
        iat, exp = claims["iat"], claims["exp"]
        if iat > now + self._skew:
            raise AuthenticationError("JWT iat is in the future")
        if now - iat > self._max_age + self._skew:
            raise AuthenticationError(f"JWT iat is older than {self._max_age} s")
        if exp - iat > self._max_lifetime:
            raise AuthenticationError(f"JWT lifetime exceeds {self._max_lifetime} s")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthenticationError("JWT jti must be a non-empty string")
        if not self._replay.add_if_new(f"{iss}\x00{jti}", exp + self._skew):
            raise AuthenticationError("JWT jti was already used (replay)")
        tenant = claims.get("tenant")
        return Client(iss=issuer.iss, jti=jti, tenant=tenant if isinstance(tenant, str) else None)
