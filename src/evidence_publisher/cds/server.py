"""Run the service under uvicorn (one process, or several workers via the env factory)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from evidence_publisher.cds.config import (
    CONFIG_ENV,
    CdsConfig,
    config_from_mapping,
    load_config_file,
)
from evidence_publisher.cds.errors import CdsConfigError
from evidence_publisher.cds.service import CdsService

FACTORY = "evidence_publisher.cds.app:app_from_env"


def build_config(config_file: str | Path | None, overrides: dict[str, Any]) -> CdsConfig:
    """Config file values, then every override that is not None (CLI flags win)."""
    data = load_config_file(config_file) if config_file else {}
    origin = str(config_file) if config_file else "<flags>"
    if "auth" in data:
        raise CdsConfigError(
            f"{origin}: 'auth' cannot be set in a config file",
            details=["authentication can be switched off only with the --no-auth flag"],
        )
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    return config_from_mapping(data, origin=origin).validate()


def prepare(config: CdsConfig) -> CdsService:
    """Load and compile the knowledge once, so errors surface before uvicorn starts."""
    if config.workers > 1 and config.auth and not config.replay_store:
        # jti replay protection must be shared by the worker processes.
        folder = tempfile.mkdtemp(prefix="evidence-publisher-cds-")
        config.replay_store = str(Path(folder) / "jti.sqlite3")
    return CdsService.from_config(config)


def run(config: CdsConfig, service: CdsService, *, log: Callable[[str], None]) -> None:
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_json()
        uvicorn.run(
            FACTORY,
            factory=True,
            host=config.host,
            port=config.port,
            workers=config.workers,
            log_level=config.log_level,
            proxy_headers=False,
            server_header=False,
        )
        return
    from evidence_publisher.cds.app import create_app

    uvicorn.run(
        create_app(config, service=service),
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        proxy_headers=False,
        server_header=False,
    )
