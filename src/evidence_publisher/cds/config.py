"""Service configuration: a YAML/JSON file and/or CLI flags, serialisable to the environment.

Uvicorn workers (``--workers > 1``) are separate processes that build the app from an import
string, so the CLI serialises the merged configuration as JSON into ``CONFIG_ENV`` and every
worker rebuilds it with :func:`config_from_env`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from evidence_publisher.cds.errors import CdsConfigError
from evidence_publisher.fhirclient import HttpOptions
from evidence_publisher.limits import CDS_BODY_BYTES

CONFIG_ENV = "EVIDENCE_PUBLISHER_CDS_CONFIG"
ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS384"})
DEFAULT_ALGORITHMS = ("ES384", "RS384")


@dataclass
class IssuerConfig:
    """A trusted CDS client: its ``iss`` and where its signing keys come from."""

    iss: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    jku_allowlist: list[str] = field(default_factory=list)


@dataclass
class ServerAuthConfig:
    """How ``serve --fhir-server`` authenticates to the knowledge server: the same sources as
    ``publish`` (file paths and ids only; secrets stay in the files or in FHIR_TOKEN,
    FHIR_USERNAME/FHIR_PASSWORD, FHIR_CLIENT_ID, FHIR_PRIVATE_KEY_FILE)."""

    token_file: str | None = None
    basic_auth_file: str | None = None
    smart_client_id: str | None = None
    smart_key_file: str | None = None
    smart_scope: str | None = None
    smart_kid: str | None = None

    def given(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


@dataclass
class OverrideReason:
    code: str
    system: str
    display: str


@dataclass
class CdsConfig:
    source: str | None = "dist"
    fhir_server: str | None = None
    fhir_server_auth: ServerAuthConfig = field(default_factory=ServerAuthConfig)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    public_base_url: str | None = None
    auth: bool = True
    issuers: list[IssuerConfig] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    clock_skew_seconds: int = 60
    max_iat_age_seconds: int = 300
    max_token_lifetime_seconds: int = 3600
    replay_store: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = CDS_BODY_BYTES.default
    http_timeout_seconds: float = 10.0
    jwks_cache_seconds: int = 300
    allow_http_fhir_server: bool = False
    override_reasons: list[OverrideReason] = field(default_factory=list)
    log_level: str = "info"
    # PlanDefinitions with experimental = true (e.g. advice without an identifiable guideline)
    # are skipped unless this is set; the service says so at start.
    serve_experimental: bool = False

    def validate(self) -> CdsConfig:
        if not isinstance(self.serve_experimental, bool):
            raise CdsConfigError(f"serve_experimental must be true or false, got {self.serve_experimental!r}")
        if self.source is None and self.fhir_server is None:
            raise CdsConfigError("no knowledge source: give a build directory or --fhir-server URL")
        for name in self.fhir_server_auth.given():
            value = getattr(self.fhir_server_auth, name)
            if not isinstance(value, str) or not value.strip():
                raise CdsConfigError(f"fhir_server_auth.{name} must be a non-empty string, got {value!r}")
        if self.fhir_server is None and self.fhir_server_auth.given():
            raise CdsConfigError(
                f"fhir_server_auth {self.fhir_server_auth.given()!r} given without fhir_server",
                details=["the credentials options apply to the knowledge server of --fhir-server only"],
            )
        if not 1 <= self.workers <= 64:
            raise CdsConfigError(f"workers must be between 1 and 64, got {self.workers!r}")
        if self.workers > 1 and self.port == 0:
            raise CdsConfigError("port 0 (ephemeral) cannot be shared by several workers")
        if not 0 <= self.port <= 65535:
            raise CdsConfigError(f"port must be between 0 and 65535, got {self.port!r}")
        if self.max_body_bytes < 1024:
            raise CdsConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes!r}")
        if not 0 <= self.clock_skew_seconds <= 300:
            raise CdsConfigError(
                f"clock_skew_seconds must be between 0 and 300, got {self.clock_skew_seconds!r}"
            )
        bad = [a for a in self.algorithms if a not in ALLOWED_ALGORITHMS]
        if bad or not self.algorithms:
            raise CdsConfigError(
                f"algorithms {bad!r} are not allowed (none and HS* are never accepted)",
                details=[f"choose from {sorted(ALLOWED_ALGORITHMS)}"],
            )
        for origin in self.cors_origins:
            parts = urlsplit(origin)
            if origin == "*" or not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
                raise CdsConfigError(
                    f"CORS origin {origin!r} must be an explicit scheme://host[:port]; '*' is refused"
                )
        for reason in self.override_reasons:
            if not (reason.code and reason.system and reason.display):
                raise CdsConfigError(f"override reason {asdict(reason)!r} needs code, system and display")
        if self.auth:
            if not self.public_base_url:
                raise CdsConfigError(
                    "public_base_url is required when auth is on: JWT 'aud' is checked against it",
                    details=["set public_base_url (e.g. https://cds.example.org) or --public-url"],
                )
            if not self.issuers:
                raise CdsConfigError(
                    "auth is on but no trusted issuers are configured",
                    details=["add 'issuers' to the config file, or start with --no-auth (testing)"],
                )
            for issuer in self.issuers:
                if not (issuer.jwks_file or issuer.jwks_url or issuer.jku_allowlist):
                    raise CdsConfigError(f"issuer {issuer.iss!r} has no jwks_file, jwks_url or jku_allowlist")
        if self.public_base_url:
            parts = urlsplit(self.public_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise CdsConfigError(
                    f"public_base_url {self.public_base_url!r} must be an absolute http(s) URL"
                )
            self.public_base_url = self.public_base_url.rstrip("/")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def hook_http_options(timeout: float) -> HttpOptions:
    """The HTTP policy of an outbound call made while a hook request waits (the hook's fhirServer,
    a JWKS): ``timeout`` to connect and per read, and one quick retry (a dropped keep-alive
    connection, a 503 asking for at most 1 s) instead of publish's patient backoff."""
    return HttpOptions(
        connect_timeout=timeout,
        read_timeout=timeout,
        max_retries=1,
        backoff_base=0.05,
        backoff_max=0.2,
        max_retry_after=1.0,
    )


def config_from_mapping(data: dict[str, Any], *, origin: str = "<config>") -> CdsConfig:
    """Build a config from a plain mapping (file content or env JSON); unknown keys are errors."""
    if not isinstance(data, dict):
        raise CdsConfigError(f"{origin}: the configuration must be a mapping, got {type(data)!r}")
    known = {f.name for f in fields(CdsConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CdsConfigError(
            f"{origin}: unknown configuration keys {unknown!r}",
            details=[f"known keys: {sorted(known)}"],
        )
    values = dict(data)
    try:
        values["issuers"] = [IssuerConfig(**i) for i in values.get("issuers") or []]
        values["override_reasons"] = [OverrideReason(**r) for r in values.get("override_reasons") or []]
        values["fhir_server_auth"] = ServerAuthConfig(**(values.get("fhir_server_auth") or {}))
        return CdsConfig(**values)
    except TypeError as exc:
        raise CdsConfigError(f"{origin}: {exc}") from exc


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping (validated later, after flags merge)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CdsConfigError(f"cannot read config file {str(p)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) if p.suffix in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise CdsConfigError(f"config file {str(p)!r} is not valid YAML/JSON: {exc}") from exc
    return data or {}


def config_from_env() -> CdsConfig:
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise CdsConfigError(f"environment variable {CONFIG_ENV} is not set")
    return config_from_mapping(json.loads(raw), origin=CONFIG_ENV).validate()
