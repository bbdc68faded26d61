"""Command line. The only module that touches argv, stdout/stderr and exit codes.

Each subcommand has one ``_add_<name>_parser`` function and one ``_cmd_<name>`` handler. The
handlers call into the pipeline stages and render their results; stages never print.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from evidence_publisher import __version__
from evidence_publisher.errors import EvidencePublisherError, ExitCode

DEFAULT_MAPPINGS = Path("mappings/lupus-msc")
DEFAULT_OUT = Path("dist")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------
def _add_build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="compile mapping files into FHIR R5 resources and Bundles")
    p.add_argument(
        "mappings",
        nargs="*",
        type=Path,
        help=f"mapping directories or files (default: {DEFAULT_MAPPINGS})",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: dist)")
    p.add_argument("--base-url", help="canonical base URL (overrides the corpus file)")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="skip validation against the official FHIR definitions (structural check still runs)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")


def _cmd_build(args: argparse.Namespace) -> int:
    from evidence_publisher.pipeline import build

    out, err = _stdout(), _stderr()
    mappings = args.mappings or [DEFAULT_MAPPINGS]
    result = build(
        mappings,
        out_dir=args.out,
        base_url=args.base_url,
        validate=not args.no_validate,
        log=lambda msg: err.print(msg),
    )
    if args.format == "json":
        from evidence_publisher.jsonio import dumps

        out.print(dumps(result.report), end="", markup=False)
        return ExitCode.OK
    out.print(
        f"[bold green]Built {len(result.resources)} resources[/] from "
        f"{result.mapping_file_count} mapping files into {args.out}/",
    )
    counts: dict[str, int] = {}
    for res in result.resources:
        counts[res["resourceType"]] = counts.get(res["resourceType"], 0) + 1
    for rtype in sorted(counts):
        out.print(f"  {rtype:<20} {counts[rtype]:>4}")
    if result.conflicts:
        out.print(f"[yellow]{len(result.conflicts)} recorded source conflicts[/] (see build-report.json)")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", markup=True)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------
def _add_schema_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the mapping format")
    p.add_argument("--kind", choices=["any", "corpus", "publication", "recommendation"], default="any")


def _cmd_schema(args: argparse.Namespace) -> int:
    from evidence_publisher.jsonio import dumps
    from evidence_publisher.sources.schema import json_schema

    _stdout().print(dumps(json_schema(args.kind)), end="", markup=False)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# validate  (owned by the validate stage)
# --------------------------------------------------------------------------------------------
def _add_validate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate FHIR R5 JSON, NDJSON and Bundles")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--format", choices=["text", "json"], default="text")


def _cmd_validate(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("validate is not implemented yet")


# --------------------------------------------------------------------------------------------
# packages  (owned by the packages stage)
# --------------------------------------------------------------------------------------------
def _add_packages_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("packages", help="manage the FHIR package cache")
    psub = p.add_subparsers(dest="packages_command", required=True)
    inst = psub.add_parser("install", help="install FHIR packages (default: the pinned set)")
    inst.add_argument("specs", nargs="*", help="NAME#VERSION")
    psub.add_parser("list", help="list installed packages")


def _cmd_packages(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("packages is not implemented yet")


# --------------------------------------------------------------------------------------------
# publish / verify  (owned by the publish stage)
# --------------------------------------------------------------------------------------------
def _add_publish_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish a build (or mappings) to a FHIR R5 server")
    p.add_argument("source", nargs="?", type=Path, default=DEFAULT_OUT)
    p.add_argument("--server", required=True)
    p.add_argument("--format", choices=["text", "json"], default="text")
    v = sub.add_parser("verify", help="read every published resource back and compare")
    v.add_argument("source", nargs="?", type=Path, default=DEFAULT_OUT)
    v.add_argument("--server", required=True)
    v.add_argument("--format", choices=["text", "json"], default="text")


def _cmd_publish(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("publish is not implemented yet")


def _cmd_verify(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("verify is not implemented yet")


# --------------------------------------------------------------------------------------------
# serve / apply  (owned by the cds stage)
# --------------------------------------------------------------------------------------------
def _add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the CDS Hooks service")
    p.add_argument("source", nargs="?", type=Path, default=DEFAULT_OUT)
    a = sub.add_parser("apply", help="apply a PlanDefinition to a patient ($apply)")
    a.add_argument("--plan", required=True)
    a.add_argument("--patient", required=True, type=Path)
    a.add_argument("--dist", type=Path, default=DEFAULT_OUT)


def _cmd_serve(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("serve is not implemented yet")


def _cmd_apply(args: argparse.Namespace) -> int:
    raise EvidencePublisherError("apply is not implemented yet")


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
_COMMANDS = {
    "build": _cmd_build,
    "schema": _cmd_schema,
    "validate": _cmd_validate,
    "packages": _cmd_packages,
    "publish": _cmd_publish,
    "verify": _cmd_verify,
    "serve": _cmd_serve,
    "apply": _cmd_apply,
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evidence-publisher",
        description="Compile published clinical evidence into validated FHIR R5 resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_build_parser,
        _add_schema_parser,
        _add_validate_parser,
        _add_packages_parser,
        _add_publish_parser,
        _add_serve_parser,
    ):
        add(sub)
    return parser


def render_error(exc: EvidencePublisherError, console: Console) -> None:
    console.print(f"[bold red]error:[/] {exc.message}", markup=True)
    for line in exc.details:
        console.print(f"  {line}", markup=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (testable without spawning a process)."""
    args = make_parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except EvidencePublisherError as exc:
        render_error(exc, _stderr())
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _stderr().print("interrupted")
        return 130


def main_cli() -> None:  # pragma: no cover - thin wrapper
    sys.exit(main())
