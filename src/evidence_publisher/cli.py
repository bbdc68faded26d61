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
    p.add_argument("--site", type=Path, metavar="SITE", help="also write the static HTML site to SITE")


def _cmd_build(args: argparse.Namespace) -> int:
    from evidence_publisher.pipeline import build

    out, err = _stdout(), _stderr()
    mappings = args.mappings or [DEFAULT_MAPPINGS]
    if args.site is not None:
        from evidence_publisher.site.output import check_site_dir, protected_places

        check_site_dir(args.site, protected_places([args.out]))  # refuse before anything is written
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
    if args.site is not None:
        from evidence_publisher.site import make_site, read_build

        _print_site(make_site(read_build(args.out), args.site, [args.out]), out, err)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# site
# --------------------------------------------------------------------------------------------
def _add_site_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "site",
        help="write a static HTML site (recommendations, studies, sources) from a build",
        description=(
            "Write a static, self-contained HTML site from a build output (DIST), or from the "
            "resources of a corpus on a FHIR server (--server with --base-url). Exit codes: 0 "
            "written, 12 the input is not a usable build, 13 SITE cannot be written or is not a "
            "new directory or a previous site, 30-35 server problems."
        ),
    )
    p.add_argument(
        "dist", nargs="?", type=Path, default=DEFAULT_OUT, help="build output directory (default: dist)"
    )
    p.add_argument("--out", type=Path, default=Path("site"), help="site directory (default: site)")
    server = p.add_argument_group("reading the resources from a FHIR server instead")
    server.add_argument("--server", help="FHIR base URL, e.g. http://localhost:8080/fhir")
    server.add_argument("--base-url", help="the corpus' canonical base URL (its identifier system)")
    server.add_argument("--report", type=Path, help="build-report.json of the same build (quote provenance)")
    server.add_argument("--connect-timeout", type=float, default=5.0, metavar="S")
    server.add_argument("--read-timeout", type=float, default=120.0, metavar="S")
    server.add_argument("--retries", type=int, default=5, metavar="N")
    server.add_argument("--ca-bundle", type=Path, help="CA certificates (PEM) for a private CA")
    server.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    server.add_argument("--token-file", type=Path, help="file with a bearer token (else $FHIR_TOKEN)")
    server.add_argument(
        "--basic-auth-file", type=Path, help="username:password file (else $FHIR_USERNAME/..)"
    )
    for name in ("--smart-client-id", "--smart-key-file", "--smart-scope", "--smart-kid"):
        server.add_argument(name, type=Path if name == "--smart-key-file" else str, help="as for publish")


def _cmd_site(args: argparse.Namespace) -> int:
    from evidence_publisher.site import make_site, read_build, read_report, read_server

    out, err = _stdout(), _stderr()
    if args.server is None:
        result = make_site(read_build(args.dist), args.out, [args.dist])
    else:
        if not args.base_url:
            err.print("[bold red]error:[/] --server needs --base-url (the corpus' canonical base URL)")
            return ExitCode.USAGE
        report = read_report(args.report) if args.report else None
        with _publish_client(args, err) as client:
            source = read_server(client, args.base_url, report)
        result = make_site(source, args.out, [args.report.parent] if args.report else [])
    _print_site(result, out, err)
    return ExitCode.OK


def _print_site(result, out: Console, err: Console) -> None:
    for warning in result.model.warnings:
        err.print(f"[yellow]warning:[/] {warning}", markup=True)
    out.print(f"[bold green]Wrote the site[/] ({result.pages} pages) to {result.out_dir}/index.html")


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
    p = sub.add_parser(
        "validate",
        help="validate FHIR R5 JSON, NDJSON and Bundles",
        description=(
            "Validate FHIR R5 resources against the official definitions (structure, "
            "cardinality, bindings, invariants, references, extensions) and the EBM R5 rules. "
            "Exit codes: 0 no errors (warnings allowed), 12 errors found, 20/21 FHIR packages "
            "missing or corrupt."
        ),
    )
    p.add_argument("paths", nargs="+", type=Path, help="JSON or NDJSON files, or directories")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--errors-only", action="store_true", help="list only errors in the table (text format)")


def _cmd_validate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from evidence_publisher.jsonio import dumps
    from evidence_publisher.validate import Validator
    from evidence_publisher.validate.inputs import expand_paths
    from evidence_publisher.validate.outcome import resource_label, split_diagnostics

    out, err = _stdout(), _stderr()
    expand_paths(args.paths)  # fail on a missing path before loading any definitions
    validator = Validator.from_cache(progress=lambda msg: err.print(msg, markup=False))
    report = validator.validate_files(args.paths)
    for note in report.notes:
        err.print(f"note: {note}", markup=False)
    if args.format == "json":
        doc = {
            "errors": report.error_count,
            "warnings": report.warning_count,
            "notes": report.notes,
            "outcomes": [
                {"source": src, "resource": resource_label(res), "outcome": oo}
                for (res, oo), src in zip(report.outcomes, report.sources, strict=True)
            ],
        }
        out.print(dumps(doc), end="", markup=False)
    else:
        table = Table(show_lines=False, header_style="bold")
        for col in ("file", "resource", "severity", "rule", "FHIRPath", "message"):
            table.add_column(col, overflow="fold")
        styles = {"fatal": "bold red", "error": "red", "warning": "yellow"}
        for (res, oo), src in zip(report.outcomes, report.sources, strict=True):
            for issue in oo.get("issue", ()):
                sev = issue.get("severity", "")
                if sev == "information" or (args.errors_only and sev == "warning"):
                    continue
                rule, msg = split_diagnostics(issue)
                table.add_row(
                    src,
                    resource_label(res),
                    f"[{styles.get(sev, '')}]{sev}[/]",
                    rule,
                    ", ".join(issue.get("expression", ())),
                    msg,
                )
        if table.row_count:
            out.print(table)
        colour = "red" if report.error_count else "green"
        out.print(
            f"[bold {colour}]{len(report.outcomes)} resources: {report.error_count} errors, "
            f"{report.warning_count} warnings[/]"
        )
    return ExitCode.INVALID_OUTPUT if report.error_count else ExitCode.OK


# --------------------------------------------------------------------------------------------
# packages  (owned by the packages stage)
# --------------------------------------------------------------------------------------------
def _add_packages_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("packages", help="manage the FHIR package cache")
    psub = p.add_subparsers(dest="packages_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache",
        type=Path,
        help="cache directory (default: $FHIR_PACKAGE_CACHE, else ~/.fhir/packages)",
    )
    common.add_argument("--format", choices=["text", "json"], default="text")
    inst = psub.add_parser(
        "install",
        parents=[common],
        help="install FHIR packages (default: the pinned R5 set and the local EBM extensions)",
    )
    inst.add_argument("specs", nargs="*", help="NAME#VERSION, e.g. hl7.fhir.r5.examples#5.0.0")
    inst.add_argument(
        "--registry",
        help="FHIR package registry base URL, or 'off' "
        "(default: $FHIR_PACKAGE_REGISTRY, else https://packages.fhir.org)",
    )
    inst.add_argument("--no-npm", action="store_true", help="do not fall back to `npm pack`")
    psub.add_parser("list", parents=[common], help="list installed packages")


def _package_row(pkg, cache) -> dict:  # pkg: packages.InstalledPackage (imported lazily)
    stands_in = cache.stand_in_for(pkg)
    return {
        "name": pkg.name,
        "version": pkg.version,
        "fhirVersions": pkg.fhir_versions,
        "resources": len(pkg.index),
        "source": pkg.source,
        "path": str(pkg.path),
        "standsInFor": str(stands_in) if stands_in else None,
    }


def _print_package_table(rows: list[dict], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column, justify in (
        ("name", "left"),
        ("version", "left"),
        ("fhirVersion", "left"),
        ("resources", "right"),
        ("source", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(
            row["name"],
            row["version"],
            ", ".join(row["fhirVersions"]),
            str(row["resources"]),
            row["source"],
            f"in place of {row['standsInFor'].split('#', 1)[1]}" if row.get("standsInFor") else "",
        )
    _stdout().print(table)


def _cmd_packages(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from evidence_publisher.jsonio import dumps
    from evidence_publisher.packages import PackageCache, default_root

    err = _stderr()
    root = args.cache or default_root()
    if args.packages_command == "list":
        listed = PackageCache(root)
        rows = [_package_row(pkg, listed) for pkg in listed.installed()]
        if args.format == "json":
            _stdout().print(dumps(rows), end="", markup=False)
        elif rows:
            _print_package_table(rows, f"FHIR packages in {root}")
        else:
            err.print(f"No FHIR packages in {root}. Run: evidence-publisher packages install")
        return ExitCode.OK

    cache = PackageCache(root, registry_url=args.registry, use_npm=not args.no_npm)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict = {}

        def on_bytes(spec, done: int, total: int | None) -> None:
            if spec not in tasks:
                tasks[spec] = bar.add_task(f"Downloading {spec}", total=total)
            bar.update(tasks[spec], completed=done, total=total)

        def say(message: str) -> None:
            style = "yellow" if message.startswith("warning:") else None
            bar.console.print(message, markup=False, style=style)

        pkgs = cache.ensure(args.specs or None, progress=say, on_bytes=on_bytes, retry_missing=True)
    rows = [_package_row(pkg, cache) for pkg in pkgs]
    if args.format == "json":
        _stdout().print(dumps(rows), end="", markup=False)
    else:
        _print_package_table(rows, f"Available in {root}")
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# publish / verify  (owned by the publish stage)
# --------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _add_http_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, help="FHIR base URL, e.g. http://localhost:8080/fhir")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=250,
        metavar="N",
        help="resources per transaction (or per lookup batch); default 250",
    )
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="skip validation against the official definitions (structure still checked)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="on failure, also list what happened to every resource (text format)",
    )
    http = p.add_argument_group("HTTP")
    http.add_argument("--connect-timeout", type=float, default=5.0, metavar="S")
    http.add_argument("--read-timeout", type=float, default=120.0, metavar="S")
    http.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries of safe requests on connection errors and 429/502/503/504",
    )
    http.add_argument("--ca-bundle", type=Path, help="CA certificates (PEM) for a private CA")
    http.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (never for real data)"
    )
    auth = p.add_argument_group("authentication (secrets only from files or environment)")
    auth.add_argument("--token-file", type=Path, help="file with a bearer token (else $FHIR_TOKEN)")
    auth.add_argument(
        "--basic-auth-file",
        type=Path,
        help="file with username:password (else $FHIR_USERNAME/$FHIR_PASSWORD)",
    )
    auth.add_argument("--smart-client-id", help="SMART backend client id (else $FHIR_CLIENT_ID)")
    auth.add_argument(
        "--smart-key-file", type=Path, help="PEM private key, RSA or EC P-384 (else $FHIR_PRIVATE_KEY_FILE)"
    )
    auth.add_argument("--smart-scope", help="scope to request (default system/*.rs system/*.cu)")
    auth.add_argument("--smart-kid", help="key id (kid) of the JWKS entry for the key")


def _add_publish_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish a build (or mappings) to a FHIR R5 server")
    p.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_OUT,
        help="build directory (default dist) or mapping files/directory",
    )
    _add_http_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="only report what would be created, updated or left alone"
    )
    p.add_argument(
        "--single-transaction",
        action="store_true",
        help="send the whole corpus as one transaction (all or nothing)",
    )
    p.add_argument(
        "--no-preread",
        action="store_true",
        help="skip the version pre-read; rely on the server's storage codes",
    )
    v = sub.add_parser("verify", help="read every published resource back and compare")
    v.add_argument("source", nargs="?", type=Path, default=DEFAULT_OUT)
    _add_http_options(v)


def _publish_client(args: argparse.Namespace, err: Console):
    from evidence_publisher.publish import FhirClient, HttpOptions, auth_from_options

    verify_tls: bool | str = str(args.ca_bundle) if args.ca_bundle else True
    if args.insecure:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        err.print(
            "[bold red]WARNING: --insecure: TLS certificates are NOT verified; anyone on the "
            "network path can read and alter what is published.[/]"
        )
        verify_tls = False
    auth = auth_from_options(
        token_file=args.token_file,
        basic_auth_file=args.basic_auth_file,
        smart_client_id=args.smart_client_id,
        smart_key_file=args.smart_key_file,
        smart_scope=args.smart_scope,
        smart_kid=args.smart_kid,
    )
    options = HttpOptions(
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_retries=args.retries,
        verify=verify_tls,
    )
    if auth is not None:
        err.print(f"authenticating with {auth.describe()}")
    return FhirClient(args.server, auth=auth, options=options)


def _publish_resources(args: argparse.Namespace, err: Console) -> list[dict]:
    """Load (or build) the resources and validate them; raises before anything is sent."""
    import tempfile

    from evidence_publisher.publish import load_dist, source_kind, validate_for_publish

    if source_kind(args.source) == "mappings":
        from evidence_publisher.pipeline import build

        with tempfile.TemporaryDirectory(prefix="evidence-publish-") as tmp:
            result = build(
                [args.source],
                out_dir=Path(tmp) / "dist",
                validate=not args.no_validate,
                log=lambda msg: err.print(msg),
            )
        return result.resources  # the build validated them already
    resources = load_dist(args.source)
    validate_for_publish(resources, official=not args.no_validate, log=lambda msg: err.print(msg))
    return resources


def _render_publish_result(result, args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape
    from rich.table import Table

    from evidence_publisher.jsonio import dumps

    if args.format == "json":
        out.print(dumps(result.to_json()), end="", markup=False)
    else:
        quiet = {"unchanged", "same"}
        # A failed run is summarised in one line below; the per-resource table (every row
        # "rolled back" or "not-sent") only on request.
        rows = result.resources if result.error is None or args.verbose else []
        if len(rows) > 200:
            rows = [r for r in rows if r.action not in quiet]
        if rows:
            table = Table(title=escape(f"{result.mode} -> {result.server}"), title_justify="left")
            for col in ("resource", "action", "server id", "version", "detail"):
                table.add_column(col, overflow="fold")
            for r in rows:
                detail = "; ".join(r.differences[:5]) + (" ..." if len(r.differences) > 5 else "")
                cells = (r.ref, r.action, r.server_id or "", r.version or "", detail or r.note)
                table.add_row(*(escape(c) for c in cells))
            out.print(table)
        counts = ", ".join(f"{n} {a}" for a, n in result.counts().items()) or "nothing"
        out.print(
            f"{len(result.resources)} resources: {counts} "
            f"({result.requests_sent} requests, {result.seconds:.1f} s)",
            markup=False,
        )
    if result.error is not None:
        # Server-supplied text is printed without markup: "[/x]" in a diagnostics must not be
        # read as a rich tag.
        err.print(f"[bold red]error:[/] {escape(result.failure_summary() or result.error.message)}")
        for line in result.error.details:
            err.print(f"  {line}", markup=False)
        if result.resources and not args.verbose and args.format == "text":
            err.print("  (--verbose lists what happened to every resource)", markup=False)
        if result.mode == "publish" and result.committed_chunks:
            err.print(
                f"[yellow]{result.committed_chunks} of {len(result.chunks)} chunks were "
                "committed; re-running publish is safe and completes the rest[/]"
            )
    return result.exit_code


def _publish_progress(err: Console, enabled: bool):
    from contextlib import nullcontext

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if not enabled:
        return nullcontext(), None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    tasks: dict[str, int] = {}

    def callback(event) -> None:
        label = {"publish": "chunks", "lookup": "lookups"}.get(event.stage, event.stage)
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=event.total)
        progress.update(tasks[label], completed=event.done, total=event.total)

    return progress, callback


def _cmd_publish(args: argparse.Namespace) -> int:
    from evidence_publisher.publish import PublishOptions, preview, publish

    out, err = _stdout(), _stderr()
    resources = _publish_resources(args, err)
    options = PublishOptions(
        chunk_size=None if args.single_transaction else args.chunk_size, preread=not args.no_preread
    )
    progress, callback = _publish_progress(err, args.format == "text")
    with _publish_client(args, err) as client, progress:
        run = preview if args.dry_run else publish
        result = run(resources, client, options, callback)
    oversized = [c for c in result.chunks if c.oversized]
    if oversized:
        err.print(
            f"[yellow]note:[/] {len(oversized)} chunk(s) exceed --chunk-size because a "
            "group of interlinked resources cannot be split"
        )
    return _render_publish_result(result, args, out, err)


def _cmd_verify(args: argparse.Namespace) -> int:
    from evidence_publisher.publish import PublishOptions, verify

    out, err = _stdout(), _stderr()
    resources = _publish_resources(args, err)
    progress, callback = _publish_progress(err, args.format == "text")
    with _publish_client(args, err) as client, progress:
        result = verify(resources, client, PublishOptions(chunk_size=args.chunk_size), callback)
    return _render_publish_result(result, args, out, err)


# --------------------------------------------------------------------------------------------
# serve / apply  (owned by the cds stage)
# --------------------------------------------------------------------------------------------
def _add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the CDS Hooks 2.0 service",
        description="Serve the recommendation PlanDefinitions of a build (or a FHIR server) over "
        "CDS Hooks 2.0. See docs/cds-hooks.md for the config file.",
    )
    p.add_argument(
        "source", nargs="?", type=Path, default=None, help=f"build output directory (default: {DEFAULT_OUT})"
    )
    p.add_argument("--fhir-server", help="load the PlanDefinitions from this FHIR R5 server")
    p.add_argument("--config", type=Path, help="YAML or JSON config file (flags override it)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    p.add_argument(
        "--public-url",
        dest="public_base_url",
        help="public base URL clients call; JWT aud is checked against it",
    )
    p.add_argument(
        "--cors-origin", dest="cors_origins", action="append", help="allowed browser origin (repeatable)"
    )
    p.add_argument("--max-body-bytes", type=int, help="request body limit (default 1000000)")
    p.add_argument("--replay-store", help="sqlite file for seen JWT jti (shared by workers)")
    p.add_argument(
        "--allow-http-fhir-server",
        action="store_const",
        const=True,
        default=None,
        help="accept http:// fhirServer URLs (testing only)",
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-auth", action="store_true", help="DISABLE JWT authentication (local testing only)")
    p.add_argument(
        "--serve-experimental",
        action="store_const",
        const=True,
        default=None,
        help="also serve PlanDefinitions marked experimental (skipped by default)",
    )
    a = sub.add_parser("apply", help="apply a PlanDefinition to a patient ($apply)")
    a.add_argument("--plan", required=True, help="PlanDefinition canonical url[|version] or id")
    a.add_argument(
        "--patient", required=True, type=Path, help="a Patient JSON or a Bundle of the patient's data"
    )
    a.add_argument("--dist", type=Path, default=DEFAULT_OUT, help="build output directory")
    a.add_argument("--fhir-server", help="load the PlanDefinition from this FHIR R5 server")
    a.add_argument("--practitioner", help="author reference, e.g. Practitioner/123")
    a.add_argument(
        "--allow-experimental", action="store_true", help="apply a PlanDefinition marked experimental"
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from evidence_publisher.cds import server

    overrides = {
        "source": str(args.source) if args.source else None,
        "fhir_server": args.fhir_server,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "public_base_url": args.public_base_url,
        "cors_origins": args.cors_origins,
        "max_body_bytes": args.max_body_bytes,
        "replay_store": args.replay_store,
        "allow_http_fhir_server": args.allow_http_fhir_server,
        "log_level": args.log_level,
        "auth": False if args.no_auth else None,
        "serve_experimental": args.serve_experimental,
    }
    if args.source is None and args.fhir_server is None and args.config is None:
        overrides["source"] = str(DEFAULT_OUT)
    config = server.build_config(args.config, overrides)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    err = _stderr()
    prepared = server.prepare(config)  # load, build and bind first: the banner means it works
    if not config.auth:
        err.print(
            "[bold white on red] WARNING: AUTHENTICATION IS DISABLED (--no-auth). "
            "Any caller can use this service. Never expose it beyond localhost. [/]"
        )
    host = f"[{config.host}]" if ":" in config.host else config.host
    err.print(
        f"[bold green]CDS Hooks service[/] with {len(prepared.service.endpoints)} services "
        f"on http://{host}:{prepared.port}/cds-services "
        f"({config.workers} worker{'s' if config.workers > 1 else ''})",
        markup=True,
        highlight=False,
    )
    for ep in prepared.service.endpoints.values():
        err.print(f"  {ep.hook:<13} {ep.id}", markup=False)
    if prepared.service.skipped_experimental:
        err.print(
            f"[bold yellow]Skipped {len(prepared.service.skipped_experimental)} experimental recommendation "
            "rule(s)[/] (serve them with --serve-experimental or serve_experimental: true):"
        )
        for canonical in prepared.service.skipped_experimental:
            err.print(f"  {canonical}", markup=False)
    server.run(prepared)
    return ExitCode.OK


def _cmd_apply(args: argparse.Namespace) -> int:
    from evidence_publisher.cds.apply import read_patient_file
    from evidence_publisher.cds.config import CdsConfig
    from evidence_publisher.cds.service import CdsService
    from evidence_publisher.jsonio import dumps

    config = CdsConfig(
        source=str(args.dist),
        fhir_server=args.fhir_server,
        auth=False,
        serve_experimental=args.allow_experimental,
    )
    patient_doc = read_patient_file(args.patient)  # before loading knowledge: fail fast
    service = CdsService.from_config(config.validate())
    bundle = service.apply(args.plan, patient_doc, args.practitioner, origin=str(args.patient))
    _stdout().print(dumps(bundle), end="", markup=False)
    applies = bool(bundle["entry"][0]["resource"].get("action"))
    _stderr().print("recommendation applies" if applies else "recommendation does not apply")
    return ExitCode.OK


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
    "site": _cmd_site,
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
        _add_site_parser,
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
