"""Run the service under uvicorn (one process, or several workers via the env factory)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

from evidence_publisher.cds.config import (
    CONFIG_ENV,
    CdsConfig,
    config_from_env,
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


def _reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then,
    # and without it Nagle + delayed ACK stall every keep-alive response by ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(config_json: str) -> None:
    """One worker process: its own SO_REUSEPORT socket, so the kernel spreads connections."""
    os.environ[CONFIG_ENV] = config_json
    config = config_from_env()
    sock = _reuseport_socket(config.host, config.port)
    from evidence_publisher.cds.app import app_from_env

    server = uvicorn.Server(
        uvicorn.Config(app_from_env(), log_level=config.log_level, proxy_headers=False, server_header=False)
    )
    server.run(sockets=[sock])


def _run_reuseport(config: CdsConfig) -> None:
    # With one shared listening socket (uvicorn's --workers), keep-alive connections opened
    # together mostly land on one worker; per-worker SO_REUSEPORT sockets are balanced by the
    # kernel. The parent only supervises: if a worker dies, all stop (let the init system
    # restart the service).
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(config.to_json(),), daemon=False) for _ in range(config.workers)
    ]
    for proc in procs:
        proc.start()

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while all(p.is_alive() for p in procs):
            time.sleep(0.5)
    finally:
        stop()
        for proc in procs:
            proc.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(config: CdsConfig, service: CdsService) -> None:
    if config.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
        _run_reuseport(config)
        return
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
