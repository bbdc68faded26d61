"""Command-line options reach the settings they name.

``serve``'s options and the HTTP and authentication options of ``publish``/``verify`` are passed on
by name (each option's ``dest`` is the parameter it sets), not through a table kept by hand. These
tests fail when an option names no parameter (it would be dropped) and check end to end that the
values arrive.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from evidence_publisher import cli, publish
from evidence_publisher.cds import server
from evidence_publisher.cds.config import CdsConfig, ServerAuthConfig
from evidence_publisher.fhirclient.auth import auth_from_options
from evidence_publisher.fhirclient.transport import HttpOptions
from evidence_publisher.publish import SmartBackendAuth


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = cli.make_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _group_dests(parser: argparse.ArgumentParser, title_start: str) -> set[str]:
    group = next(g for g in parser._action_groups if (g.title or "").startswith(title_start))
    return {a.dest for a in group._group_actions}


def test_every_serve_option_names_a_config_field() -> None:
    parser = _subparser("serve")
    auth = _group_dests(parser, "authentication")  # --fhir-server's credentials: fhir_server_auth
    assert auth - {f.name for f in dataclasses.fields(ServerAuthConfig)} == set()
    fields = {f.name for f in dataclasses.fields(CdsConfig)}
    everywhere = _group_dests(parser, "global options") | {"help"}  # --log-level and the --max-* limits
    dests = {a.dest for a in parser._actions} - everywhere - {"config"} - auth
    assert dests - fields == set()


@pytest.mark.parametrize("command", ["publish", "verify"])
def test_every_http_and_auth_option_names_a_parameter(command: str) -> None:
    # what the command builds its client with (cli._publish_client) is what is inspected here
    assert (publish.HttpOptions, publish.auth_from_options) == (HttpOptions, auth_from_options)
    parser = _subparser(command)
    http = _group_dests(parser, "HTTP") - {"ca_bundle", "insecure"}  # together they make ``verify``
    assert http - set(inspect.signature(HttpOptions).parameters) == set()
    auth = _group_dests(parser, "authentication")
    assert auth - set(inspect.signature(auth_from_options).parameters) == set()


def test_http_option_defaults_are_the_clients() -> None:
    parsed = cli.make_parser().parse_args(["publish", "dist", "--server", "http://x.example/fhir"])
    for field in dataclasses.fields(HttpOptions):
        if hasattr(parsed, field.name):
            assert getattr(parsed, field.name) == field.default, field.name


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[CdsConfig]:
    """The configs ``serve`` would start with (it stops before loading anything)."""
    seen: list[CdsConfig] = []

    def stop(config: CdsConfig) -> Any:
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(server, "prepare", stop)
    return seen


def test_serve_flags_arrive_in_the_config(served: list[CdsConfig], tmp_path: Path) -> None:
    argv = ["serve", str(tmp_path), "--no-auth", "--port", "9099", "--workers", "2", "--host", "::1"]
    argv += ["--cors-origin", "https://a.example.org", "--cors-origin", "https://b.example.org"]
    argv += ["--max-body-bytes", "4096", "--replay-store", str(tmp_path / "jti.sqlite")]
    argv += ["--allow-http-fhir-server", "--serve-experimental", "--log-level", "debug"]
    assert cli.main(argv) == 0
    (config,) = served
    assert (config.source, config.auth, config.port, config.workers, config.host) == (
        str(tmp_path),
        False,
        9099,
        2,
        "::1",
    )
    assert config.cors_origins == ["https://a.example.org", "https://b.example.org"]
    assert (config.max_body_bytes, config.replay_store) == (4096, str(tmp_path / "jti.sqlite"))
    assert config.allow_http_fhir_server and config.serve_experimental
    assert config.log_level == "debug"


def test_serve_flags_left_out_keep_the_config_file(served: list[CdsConfig], tmp_path: Path) -> None:
    config_file = tmp_path / "cds.yaml"
    config_file.write_text(f"source: {tmp_path}\nport: 7000\nworkers: 3\nlog_level: warning\n")
    assert cli.main(["serve", "--config", str(config_file), "--no-auth", "--workers", "4"]) == 0
    (config,) = served
    assert (config.source, config.port, config.workers, config.log_level, config.auth) == (
        str(tmp_path),
        7000,
        4,
        "warning",
        False,
    )


def test_http_and_auth_flags_arrive_in_the_client(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    key.write_bytes(pem)
    argv = ["publish", "dist", "--server", "http://fhir.example.org/fhir", "--connect-timeout", "2.5"]
    argv += ["--read-timeout", "30", "--retries", "1", "--ca-bundle", str(tmp_path / "ca.pem")]
    argv += ["--smart-client-id", "me", "--smart-key-file", str(key), "--smart-scope", "system/*.rs"]
    argv += ["--smart-kid", "k1"]
    args = cli.make_parser().parse_args(argv)
    with cli._publish_client(args, cli._stderr()) as client:
        options, auth = client.options, client.auth
    assert (options.connect_timeout, options.read_timeout, options.max_retries) == (2.5, 30.0, 1)
    assert options.verify == str(tmp_path / "ca.pem")
    assert isinstance(auth, SmartBackendAuth)
    assert (auth.client_id, auth.scope, auth.kid) == ("me", "system/*.rs", "k1")
