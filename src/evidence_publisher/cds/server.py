"""Run the service under uvicorn (one process, or several workers via the env factory).

``prepare`` does everything that can fail before the service announces itself: it loads and
compiles the knowledge, builds the app (reading the JWKS files and opening the replay store) and
binds the listening socket. Only then does the CLI print its banner and call ``run``. A port in
use, an address that is not local or a port that needs privileges is a ``CdsStartError`` (exit
41), a configuration problem a ``CdsConfigError`` (exit 40); neither prints a traceback.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from evidence_publisher.cds.config import (
    CONFIG_ENV,
    CdsConfig,
    config_from_env,
    config_from_mapping,
    load_config_file,
)
from evidence_publisher.cds.errors import CdsConfigError, CdsStartError
from evidence_publisher.cds.service import CdsService
from evidence_publisher.errors import EvidencePublisherError
from evidence_publisher.limits import NESTING_DEPTH, SERVER_PAGES, SERVER_RESPONSE_BYTES, as_environment

FACTORY = "evidence_publisher.cds.app:app_from_env"
# The limits a worker applies (to request bodies, fhirServer and knowledge-server answers): set by
# CLI flags in this process, passed to the workers as their environment variables.
WORKER_LIMITS = (NESTING_DEPTH, SERVER_RESPONSE_BYTES, SERVER_PAGES)
log = logging.getLogger("evidence_publisher.cds")


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
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **{k: v for k, v in value.items() if v is not None}}
        elif value is not None:
            data[key] = value
    return config_from_mapping(data, origin=origin).validate()


@dataclass
class Prepared:
    """A service ready to run: knowledge loaded, app built, socket bound."""

    config: CdsConfig
    service: CdsService
    app: Starlette
    sockets: list[socket.socket] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The bound port (the real one when the config asked for 0, an ephemeral port)."""
        return self.sockets[0].getsockname()[1] if self.sockets else self.config.port

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def prepare(config: CdsConfig) -> Prepared:
    """Load and compile the knowledge, build the app and bind, so that every start-up error
    surfaces before the CLI announces the service."""
    from evidence_publisher.cds.app import create_app

    if config.workers > 1 and config.auth and not config.replay_store:
        # jti replay protection must be shared by the worker processes.
        folder = tempfile.mkdtemp(prefix="evidence-publisher-cds-")
        config.replay_store = str(Path(folder) / "jti.sqlite3")
    service = CdsService.from_config(config)
    app = create_app(config, service=service)  # reads the JWKS files, opens the replay store
    reuseport = config.workers > 1 and hasattr(socket, "SO_REUSEPORT")
    # With SO_REUSEPORT every worker binds its own socket; the parent's bound (not listening)
    # socket only proves the port is free and receives no connections.
    sock = bind(config.host, config.port, reuseport=reuseport, listen=config.workers == 1)
    return Prepared(config, service, app, [sock])


def bind(host: str, port: int, *, reuseport: bool = False, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port``; OS errors become CdsStartError naming the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then,
    # and without it Nagle + delayed ACK stall every keep-alive response by ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise _start_error(host, port, exc) from None
    return sock


def _start_error(host: str, port: int, exc: OSError) -> CdsStartError:
    if isinstance(exc, socket.gaierror):
        return CdsStartError(f"host {host!r} cannot be resolved; check --host")
    if exc.errno == errno.EADDRINUSE:
        return CdsStartError(f"port {port} on {host} is already in use; pick another with --port")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return CdsStartError(
            f"not allowed to listen on port {port} on {host} (ports below 1024 need privileges); "
            "pick another with --port"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return CdsStartError(f"address {host} is not an address of this machine; check --host")
    return CdsStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _uvicorn_config(app: Starlette, config: CdsConfig, port: int) -> uvicorn.Config:
    # host and port only label uvicorn's start message: the socket is already bound.
    return uvicorn.Config(
        app,
        host=config.host,
        port=port,
        log_level=config.log_level,
        proxy_headers=False,
        server_header=False,
    )


def _worker(config_json: str, limits_env: dict[str, str]) -> None:
    """One worker process: its own SO_REUSEPORT socket, so the kernel spreads connections."""
    os.environ[CONFIG_ENV] = config_json
    os.environ.update(limits_env)
    try:
        config = config_from_env()
        sock = bind(config.host, config.port, reuseport=True)
        from evidence_publisher.cds.app import app_from_env

        app = app_from_env()
    except EvidencePublisherError as exc:
        log.error("worker %d cannot start: %s", os.getpid(), exc.message)
        sys.exit(int(exc.exit_code))
    server = uvicorn.Server(_uvicorn_config(app, config, config.port))
    server.run(sockets=[sock])


def _run_reuseport(prepared: Prepared) -> None:
    # With one shared listening socket (uvicorn's --workers), keep-alive connections opened
    # together mostly land on one worker; per-worker SO_REUSEPORT sockets are balanced by the
    # kernel. The parent only supervises: if a worker dies, all stop (let the init system
    # restart the service).
    config = prepared.config
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(config.to_json(), as_environment(WORKER_LIMITS)), daemon=False)
        for _ in range(config.workers)
    ]
    for proc in procs:
        proc.start()
    prepared.close()  # the workers hold the port now
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while all(p.is_alive() for p in procs):
            time.sleep(0.5)
    finally:
        dead = next((p for p in procs if not p.is_alive()), None)
        stop_requested = stopping
        stop()
        for proc in procs:
            proc.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop_requested and dead is not None:
        raise CdsStartError(
            f"worker process {dead.pid} exited with code {dead.exitcode}; all workers were stopped",
            details=["its log lines above say why"],
        )


def run(prepared: Prepared) -> None:
    config = prepared.config
    if config.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
        _run_reuseport(prepared)
        return
    if config.workers > 1:
        prepared.close()  # uvicorn's own supervisor binds the port itself
        os.environ[CONFIG_ENV] = config.to_json()
        os.environ.update(as_environment(WORKER_LIMITS))
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
    server = uvicorn.Server(_uvicorn_config(prepared.app, config, prepared.port))
    try:
        server.run(sockets=prepared.sockets)
    finally:
        prepared.close()
