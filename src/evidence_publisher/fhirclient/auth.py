"""Authentication for FHIR servers: bearer token, HTTP basic and SMART backend services.

Secrets come from environment variables or files, never from the command line, and no object
here ever puts a secret into its ``repr``, an exception message or a log record.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from evidence_publisher.fhirclient.errors import AuthFailedError, ClientConfigError
from evidence_publisher.fhirclient.outcome import clean_text
from evidence_publisher.urlsafety import redact_url

ENV_TOKEN = "FHIR_TOKEN"  # noqa: S105 - the name of a variable, not a token
ENV_USERNAME = "FHIR_USERNAME"
ENV_PASSWORD = "FHIR_PASSWORD"  # noqa: S105 - the name of a variable, not a password
ENV_CLIENT_ID = "FHIR_CLIENT_ID"
ENV_PRIVATE_KEY_FILE = "FHIR_PRIVATE_KEY_FILE"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SMART_SCOPE = "system/*.rs system/*.cu"
ASSERTION_LIFETIME = 240  # seconds; SMART requires exp no more than 5 minutes ahead
TOKEN_EXPIRY_MARGIN = 30  # seconds; refresh a little before the server would refuse the token


class AuthContext(Protocol):
    """What an auth method may use of the client (``client.FhirClient``): the FHIR base URL and
    requests without credentials, for SMART discovery and the token request."""

    base_url: str

    def get_json_absolute(self, url: str) -> Any: ...

    def post_form_absolute(self, url: str, form: dict[str, str]) -> tuple[int, Any]: ...


class Auth(Protocol):
    """Adds credentials to a request. ``refresh`` is called once after a 401 and says whether a
    retry with new credentials makes sense."""

    def headers(self, client: AuthContext) -> dict[str, str]: ...

    def refresh(self) -> bool: ...

    def describe(self) -> str: ...


def _header_problem(token: str) -> str | None:
    """Why ``token`` cannot go into ``Authorization: Bearer``, without quoting it, or None.

    A header value must be one line of visible ASCII; a line break or other control character
    (typically a pasted or multi-line file) would otherwise surface as a connection error blamed
    on the server after every retry."""
    for pos, char in enumerate(token, 1):
        if char in "\r\n":
            return f"contains a line break (character {pos}); a token is one line"
        if ord(char) < 0x21 or ord(char) == 0x7F:
            what = "a space" if char == " " else f"the control character U+{ord(char):04X}"
            return f"contains {what} (character {pos}), which an HTTP header cannot carry"
        if ord(char) > 0x7E:
            return f"contains the non-ASCII character U+{ord(char):04X} (character {pos})"
    return None


class BearerAuth:
    def __init__(self, token: str, source: str) -> None:
        if not token.strip():
            raise ClientConfigError(f"the bearer token from {source} is empty")
        problem = _header_problem(token.strip())
        if problem is not None:
            raise ClientConfigError(
                f"the bearer token from {source} {problem}",
                details=["check the token: it must be exactly the access token, on one line"],
            )
        self._token = token.strip()
        self._source = source

    def headers(self, client: AuthContext) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> bool:
        return False

    def describe(self) -> str:
        return f"bearer token from {self._source}"

    def __repr__(self) -> str:
        return f"BearerAuth(source={self._source!r})"


class BasicAuth:
    def __init__(self, username: str, password: str, source: str) -> None:
        if not username or not password:
            raise ClientConfigError(f"basic auth from {source} needs a username and a password")
        if ":" in username:
            raise ClientConfigError(
                f"the basic auth username from {source} contains ':', which basic auth cannot carry"
            )
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self._username = username
        self._source = source

    def headers(self, client: AuthContext) -> dict[str, str]:
        return {"Authorization": self._header}

    def refresh(self) -> bool:
        return False

    def describe(self) -> str:
        return f"basic auth as {self._username!r} from {self._source}"

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, source={self._source!r})"


class SmartBackendAuth:
    """SMART Backend Services: a client_credentials grant authenticated by a signed JWT
    (``private_key_jwt``, RS384 or ES384). The access token is cached until shortly before it
    expires; ``refresh`` drops it so the next request fetches a new one."""

    def __init__(
        self,
        client_id: str,
        private_key_pem: bytes,
        *,
        key_source: str,
        scope: str = DEFAULT_SMART_SCOPE,
        kid: str | None = None,
        token_endpoint: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ClientConfigError(
                f"SMART backend auth needs a client id: set {ENV_CLIENT_ID} or --smart-client-id",
            )
        try:
            key = load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ClientConfigError(
                f"the SMART private key from {key_source} is not an unencrypted PEM private key "
                f"({type(exc).__name__}); export it with `openssl pkcs8 -topk8 -nocrypt`",
            ) from None
        if isinstance(key, rsa.RSAPrivateKey):
            self.alg = "RS384"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
            self.alg = "ES384"
        else:
            raise ClientConfigError(
                f"the SMART private key from {key_source} must be RSA (RS384) or EC P-384 (ES384)",
            )
        self._key = key
        self.client_id = client_id
        self.scope = scope
        self.kid = kid
        self.token_endpoint = token_endpoint
        self._key_source = key_source
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, alg={self.alg!r})"

    def describe(self) -> str:
        return f"SMART backend services as client {self.client_id!r} ({self.alg})"

    def refresh(self) -> bool:
        self._token = None
        return True

    def headers(self, client: AuthContext) -> dict[str, str]:
        if self._token is None or self._clock() >= self._expires_at:
            self._fetch_token(client)
        return {"Authorization": f"Bearer {self._token}"}

    def client_assertion(self, audience: str) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        headers = {"typ": "JWT", **({"kid": self.kid} if self.kid else {})}
        return jwt.encode(claims, self._key, algorithm=self.alg, headers=headers)

    def _discover(self, client: AuthContext) -> str:
        config = client.get_json_absolute(f"{client.base_url}/.well-known/smart-configuration")
        endpoint = config.get("token_endpoint") if isinstance(config, dict) else None
        if not isinstance(endpoint, str) or not endpoint:
            raise AuthFailedError(
                f"{client.base_url}/.well-known/smart-configuration has no token_endpoint; "
                "the server does not advertise SMART backend services",
            )
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise AuthFailedError(f"the SMART token_endpoint {redact_url(endpoint)!r} is not an http(s) URL")
        return endpoint

    def _fetch_token(self, client: AuthContext) -> None:
        if self.token_endpoint is None:
            self.token_endpoint = self._discover(client)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(self.token_endpoint),
        }
        self.token_requests += 1
        status, body = client.post_form_absolute(self.token_endpoint, form)
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            reason = ""
            if isinstance(body, dict):
                reason = clean_text(body.get("error_description") or body.get("error") or "", 300)
            raise AuthFailedError(
                f"the token endpoint {redact_url(self.token_endpoint)} refused client {self.client_id!r} "
                f"(HTTP {status}{': ' + reason if reason else ''}); check the client id, that "
                "the server knows this key (JWKS) and the scope",
            )
        token = body["access_token"]
        problem = _header_problem(token) if isinstance(token, str) else "is not a string"
        if problem is not None:
            raise AuthFailedError(f"the access token from the token endpoint {problem}")
        self._token = token
        expires_in = body.get("expires_in", 300)
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            lifetime = 300.0
        self._expires_at = self._clock() + max(lifetime - TOKEN_EXPIRY_MARGIN, 0.0)


def _read_secret_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ClientConfigError(
            f"cannot read the {what} file {str(path)!r}: {exc.strerror}",
        ) from None


def auth_from_options(
    *,
    token_file: Path | None = None,
    basic_auth_file: Path | None = None,
    smart_client_id: str | None = None,
    smart_key_file: Path | None = None,
    smart_scope: str | None = None,
    smart_kid: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Auth | None:
    """Pick the authentication from files and environment variables.

    Precedence: SMART (a key file from ``--smart-key-file`` or ``FHIR_PRIVATE_KEY_FILE``), then a
    bearer token (``--token-file``, else ``FHIR_TOKEN``), then basic auth (``--basic-auth-file``
    holding ``username:password``, else ``FHIR_USERNAME``/``FHIR_PASSWORD``), else none.
    """
    env = os.environ if env is None else env
    key_path = smart_key_file or (Path(env[ENV_PRIVATE_KEY_FILE]) if env.get(ENV_PRIVATE_KEY_FILE) else None)
    if key_path is not None:
        try:
            pem = key_path.read_bytes()
        except OSError as exc:
            raise ClientConfigError(
                f"cannot read the SMART private key file {str(key_path)!r}: {exc.strerror}",
            ) from None
        return SmartBackendAuth(
            smart_client_id or env.get(ENV_CLIENT_ID, ""),
            pem,
            key_source=str(key_path),
            scope=smart_scope or DEFAULT_SMART_SCOPE,
            kid=smart_kid,
        )
    if token_file is not None:
        return BearerAuth(_read_secret_file(token_file, "token"), f"file {str(token_file)!r}")
    if env.get(ENV_TOKEN):
        return BearerAuth(env[ENV_TOKEN], f"${ENV_TOKEN}")
    if basic_auth_file is not None:
        text = _read_secret_file(basic_auth_file, "basic auth")
        username, sep, password = text.partition(":")
        if not sep:
            raise ClientConfigError(
                f"the basic auth file {str(basic_auth_file)!r} must hold 'username:password'",
            )
        return BasicAuth(username, password, f"file {str(basic_auth_file)!r}")
    if env.get(ENV_USERNAME) or env.get(ENV_PASSWORD):
        return BasicAuth(
            env.get(ENV_USERNAME, ""), env.get(ENV_PASSWORD, ""), f"${ENV_USERNAME}/${ENV_PASSWORD}"
        )
    return None
