"""Command line. The only module that touches argv, stdout/stderr and exit codes.

Each subcommand has one ``_add_<name>_parser`` function and one ``_cmd_<name>`` handler. The
handlers call into the pipeline stages and render their results; stages never print.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from evidence_publisher import __version__, limits
from evidence_publisher.cli_render import (
    Cell,
    CliConsole,
    Column,
    JsonListSpool,
    print_table,
    progress_display,
)
from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.errors import EvidencePublisherError, ExitCode, UsageError
from evidence_publisher.interrupts import Terminated, terminate_as_exception

if TYPE_CHECKING:  # imported late by the commands that use them, to start quickly
    from contextlib import AbstractContextManager

    from rich.progress import TaskID

    from evidence_publisher.packages import InstalledPackage, PackageCache, PackageSpec
    from evidence_publisher.pipeline import BuildResult
    from evidence_publisher.publish import FhirClient, ProgressEvent, PublishResult
    from evidence_publisher.site import SiteResult
    from evidence_publisher.validate.summary import ValidationSummary

DEFAULT_MAPPINGS = Path("mappings/lupus-msc")
DEFAULT_OUT = Path("dist")
FORMAT_HELP = "output format: text for people, json for programs"


def _stderr() -> Console:
    return CliConsole(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    return CliConsole(highlight=False, soft_wrap=True)


def _print_json(doc: object) -> None:
    """A command's ``--format json`` answer: canonical JSON on stdout, nothing else.

    Written in the encoder's pieces (the report of a build of thousands of studies is hundreds of
    MB) and straight to ``sys.stdout``: a rich console would also turn ``:name:`` in a quoted text
    into an emoji."""
    from evidence_publisher.jsonio import iter_dumps_pieces

    stream = sys.stdout
    for piece in iter_dumps_pieces(doc):
        stream.write(piece)
    stream.flush()


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------
def _add_build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="compile mapping files into FHIR resources (R5, or R4B) and Bundles")
    p.add_argument(
        "mappings",
        nargs="*",
        type=_path,
        help=f"mapping directories or files (default: {DEFAULT_MAPPINGS})",
    )
    p.add_argument(
        "--out",
        type=_path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output directory: created if new; replaced only if it is empty or holds a previous build "
        "(anything else is refused, exit 13)",
    )
    p.add_argument("--base-url", help="canonical base URL (overrides the corpus file)")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="skip validation against the official FHIR definitions (structural check still runs)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor update the build cache (docs/build-cache.md; or EVIDENCE_PUBLISHER_CACHE=off)",
    )
    p.add_argument(
        "--fhir-version",
        choices=["R5", "R4B"],
        default="R5",
        help="FHIR version written: R5, or R4B (4.3.0; converted, see docs/fhir-versions.md) (default: R5)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    p.add_argument(
        "--site",
        type=_path,
        metavar="SITE",
        help="also write the static HTML site to SITE (new, empty or a previous site; checked first)",
    )
    p.add_argument(
        "--package",
        type=_path,
        metavar="FILE.tgz",
        help="also write the build as a FHIR NPM package (see the package command)",
    )


def _reuse_line(result: BuildResult) -> str:
    """What the build cache saved this build (docs/build-cache.md)."""
    line = (
        f"Build cache: {result.compiled_reused:,} of {result.publication_count:,} publications "
        "compiled before"
    )
    if result.validated is not None:
        total = len(result.resources)
        line += f", {total - result.validated:,} of {total:,} resources validated before"
    return line + " (--no-cache builds without it)"


def _cmd_build(args: argparse.Namespace) -> int:
    from evidence_publisher.build_cache import BuildCache
    from evidence_publisher.pipeline import build

    out, err = _stdout(), _stderr()
    mappings = args.mappings or [DEFAULT_MAPPINGS]
    if args.site is not None:
        from evidence_publisher.site.output import check_site_dir, protected_places

        check_site_dir(args.site, protected_places([args.out]))  # refuse before anything is written
    if args.package is not None:
        from evidence_publisher.packages.writer import check_out_file

        check_out_file(args.package)
    cache = None if args.no_cache else BuildCache.default()
    try:
        with progress_display(err) as (progress, console):
            result = build(
                mappings,
                out_dir=args.out,
                base_url=args.base_url,
                validate=not args.no_validate,
                log=lambda msg: console.print(msg, markup=False),
                progress=progress,
                fhir=FHIR_VERSIONS[args.fhir_version],
                cache=cache,
            )
    finally:
        if cache is not None:
            cache.close()
    if args.format == "json":
        # stdout holds the report only; the site's and the package's lines go to stderr
        if args.site is not None:
            from evidence_publisher.site import make_site, read_build

            _print_site(make_site(read_build(args.out), args.site, [args.out]), err, err)
        if args.package is not None:
            _write_package(args.out, args.package, None, err, err)
        _print_json(result.report)
        return ExitCode.OK
    out.print(
        f"[bold green]Built {len(result.resources)} resources[/] from "
        f"{result.mapping_file_count} mapping files into {args.out}/",
    )
    from evidence_publisher.build_summary import counts_by_type

    counts = counts_by_type(result.resources)
    width = max([4, *(len(f"{n:,}") for _, n in counts)])
    for rtype, count in counts:
        out.print(f"  {rtype:<20} {count:>{width},}", markup=False)
    if result.conflicts:
        out.print(f"[yellow]{len(result.conflicts)} recorded source conflicts[/] (see build-report.json)")
    if cache is not None:
        out.print(_reuse_line(result), markup=False)
    if result.updated is not None:
        changed = result.updated
        out.print(
            f"Updated the previous build: {changed.written:,} files written, {changed.unchanged:,} "
            f"unchanged, {changed.deleted:,} deleted",
            markup=False,
        )
    if args.site is not None:
        from evidence_publisher.site import make_site, read_build

        _print_site(make_site(read_build(args.out), args.site, [args.out]), out, err)
    if args.package is not None:
        _write_package(args.out, args.package, None, out, err)
    return ExitCode.OK


def _add_package_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "package",
        help="write a build as a FHIR NPM package (package.tgz) for FHIR servers, validators and IG tools",
        description="Write the resources of a build as a FHIR NPM package: package/package.json, "
        "package/.index.json and package/<Type>-<id>.json, deterministic. See docs/packages.md.",
    )
    p.add_argument("dist", type=_path, metavar="DIST", help="build output directory")
    p.add_argument("--out", type=_path, required=True, metavar="FILE.tgz", help="the package file to write")
    p.add_argument("--name", help="package name (default: the base URL host reversed, then the corpus id)")
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)


def _cmd_package(args: argparse.Namespace) -> int:
    out, err = _stdout(), _stderr()
    _write_package(args.dist, args.out, args.name, out, err, as_json=args.format == "json")
    return ExitCode.OK


def _write_package(
    dist: Path, target: Path, name: str | None, out: Console, err: Console, *, as_json: bool = False
) -> None:
    from evidence_publisher.packages.writer import package_build

    built = package_build(dist, target, name=name, progress=lambda m: err.print(m, markup=False))
    if as_json:
        doc = {"file": str(target), "resources": built.resource_count, "package": built.manifest}
        _print_json(doc)
        return
    deps = ", ".join(f"{n}#{v}" for n, v in built.manifest["dependencies"].items())
    out.print(
        f"[bold green]Packaged {built.resource_count} resources[/] as {built.spec} into {target}",
        highlight=False,
    )
    out.print(f"  depends on {deps}", markup=False, highlight=False)


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
        "dist", nargs="?", type=_path, default=DEFAULT_OUT, help="build output directory (default: dist)"
    )
    p.add_argument("--out", type=_path, default=Path("site"), help="site directory (default: site)")
    server = p.add_argument_group("reading the resources from a FHIR server instead")
    server.add_argument("--server", help="FHIR base URL, e.g. http://localhost:8080/fhir")
    server.add_argument("--base-url", help="the corpus' canonical base URL (its identifier system)")
    server.add_argument("--report", type=_path, help="build-report.json of the same build (quote provenance)")
    server.add_argument(
        "--connect-timeout", type=_positive_seconds, default=5.0, metavar="S", help="seconds to connect"
    )
    server.add_argument(
        "--read-timeout",
        type=_positive_seconds,
        default=120.0,
        metavar="S",
        help="seconds to wait for an answer",
    )
    server.add_argument(
        "--retries",
        type=_non_negative_int,
        default=5,
        metavar="N",
        help="retries of requests on transient errors",
    )
    server.add_argument("--ca-bundle", type=_path, help="CA certificates (PEM) for a private CA")
    server.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    server.add_argument("--token-file", type=_path, help="file with a bearer token (else $FHIR_TOKEN)")
    server.add_argument(
        "--basic-auth-file", type=_path, help="username:password file (else $FHIR_USERNAME/..)"
    )
    for name in ("--smart-client-id", "--smart-key-file", "--smart-scope", "--smart-kid"):
        server.add_argument(name, type=_path if name == "--smart-key-file" else str, help="as for publish")


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


def _print_site(result: SiteResult, out: Console, err: Console) -> None:
    for warning in result.model.warnings:
        err.print(f"[yellow]warning:[/] {warning}", markup=True)
    out.print(f"[bold green]Wrote the site[/] ({result.pages} pages) to {result.out_dir}/index.html")


# --------------------------------------------------------------------------------------------
# convert
# --------------------------------------------------------------------------------------------
def _add_convert_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="rewrite a build's recommendation for another FHIR version")
    p.add_argument(
        "target", choices=["r4"], help="r4: PlanDefinition + ActivityDefinition for an R4 CDS engine"
    )
    p.add_argument("source", type=_path, help="build output directory")
    p.add_argument("--out", type=_path, required=True, help="a new (or empty) directory for the R4 files")


def _cmd_convert(args: argparse.Namespace) -> int:
    from evidence_publisher.convert.r4 import read_build, to_r4, write_r4

    result = to_r4(read_build(args.source))
    written = write_r4(result, args.out)
    err = _stderr()
    for line in result.conversions:
        err.print(f"  {line}", markup=False)
    err.print(f"Wrote {len(written)} R4 files to {args.out}", markup=False)
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------
def _add_schema_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the mapping format")
    p.add_argument(
        "--kind",
        choices=["any", "corpus", "publication", "recommendation"],
        default="any",
        help="which mapping file kind the schema describes",
    )


def _cmd_schema(args: argparse.Namespace) -> int:
    from evidence_publisher.sources.schema import json_schema

    _print_json(json_schema(args.kind))
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------
def _add_import_parser(sub: argparse._SubParsersAction) -> None:
    from evidence_publisher.importers.formats import INPUT_FORMATS

    p = sub.add_parser(
        "import",
        help="write citation mappings from PubMed XML, RIS, BibTeX, CSL-JSON or Crossref records",
        description=(
            "Write one citation mapping per record into the corpus, and register each record's abstract "
            "(verbatim) as a source document in its corpus.yaml. Every record is checked before anything "
            "is written; an existing mapping of the same record is replaced only with --force. "
            "Exit codes: 15 a record cannot be imported, 13 it would overwrite files, 14 a limit."
        ),
    )
    p.add_argument("files", nargs="+", type=_path, metavar="FILE", help="export files to read")
    p.add_argument(
        "--corpus", type=_path, required=True, metavar="DIR", help="mappings directory (holds corpus.yaml)"
    )
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="format of the files (auto: by extension .xml .ris .bib .json, else by content)",
    )
    p.add_argument("--id", dest="mapping_id", metavar="ID", help="mapping id for a file holding one record")
    p.add_argument("--date", type=_fhir_date, help="the mappings' date (default: the corpus's date)")
    p.add_argument("--force", action="store_true", help="replace earlier imports of the same records")
    p.add_argument(
        "--dry-run", action="store_true", help="check and list what would be written; write nothing"
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)


def _cmd_import(args: argparse.Namespace) -> int:
    from evidence_publisher.importers.plan import plan_import, write_plan

    plan = plan_import(
        args.files,
        args.corpus,
        input_format=args.input_format,
        force=args.force,
        date=args.date,
        mapping_id=args.mapping_id,
    )
    if not args.dry_run:
        write_plan(plan)
    out = _stdout()
    rows = [
        {
            "file": item.record.file,
            "record": item.record.index,
            "key": item.record.key,
            "id": item.mapping_id,
            "mapping": str(item.mapping),
            "source": str(item.source),
            "replaced": item.replaces,
            "title": item.record.title,
        }
        for item in plan.imported
    ]
    if args.format == "json":
        doc = {
            "ok": True,
            "dry_run": args.dry_run,
            "imported": rows,
            "files": [str(f.path) for f in plan.files],
        }
        _print_json(doc)
        return ExitCode.OK
    verb = "Would import" if args.dry_run else "Imported"
    out.print(f"[bold green]{verb} {len(rows)} record{'s' if len(rows) != 1 else ''}[/] into {args.corpus}/")
    print_table(
        out,
        [Column("file"), Column("record", "right"), Column("id"), Column("title")],
        [
            (
                item.record.file,
                str(item.record.index),
                item.mapping_id + (" (replaced)" if item.replaces else ""),
                item.record.title or "",  # a record without a title is refused before this
            )
            for item in plan.imported
        ],
    )
    if plan.imported and not args.dry_run:
        first = plan.imported[0].mapping_id
        out.print(f"Next: evidence-publisher new study {first}-study --from {first} --corpus {args.corpus}")
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# new
# --------------------------------------------------------------------------------------------
def _add_new_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "new",
        help="start a corpus, or write a commented study or recommendation skeleton from a citation",
        description=(
            "new corpus ID: make the mappings directory (default mappings/ID) with its corpus.yaml, "
            "ready for `import`. new study|recommendation ID --from CITATION: write ID.yaml beside the "
            "citation mapping, a skeleton that passes the schema. TODO placeholders are refused by the "
            "build until they are filled in from the source document."
        ),
    )
    p.add_argument("kind", choices=["corpus", "study", "recommendation"], help="what to make")
    p.add_argument("id", metavar="ID", help="id of the new corpus or mapping (also its file name)")
    p.add_argument(
        "--from",
        dest="citation",
        metavar="CITATION",
        help="study/recommendation: the citation mapping, its id (with --corpus) or its .yaml file",
    )
    p.add_argument(
        "--corpus",
        type=_path,
        metavar="DIR",
        help="mappings directory (study/recommendation default: CITATION's; corpus default: mappings/ID)",
    )
    p.add_argument(
        "--date",
        type=_fhir_date,
        help="the mapping's date (default: the corpus's date; for a new corpus, today)",
    )
    p.add_argument("--force", action="store_true", help="study/recommendation: replace ID.yaml if it exists")
    corpus = p.add_argument_group("new corpus")
    corpus.add_argument("--base-url", help="canonical base URL of the corpus' resources (required)")
    corpus.add_argument("--title", help="the corpus title (default: a TODO placeholder)")
    corpus.add_argument("--publisher", help="who publishes it (default: a TODO placeholder)")
    corpus.add_argument(
        "--corpus-version", default="0.1.0", metavar="V", help="the corpus version (default: 0.1.0)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)


def _cmd_new(args: argparse.Namespace) -> int:
    from evidence_publisher.importers.files import write_files

    if args.kind == "corpus":
        return _new_corpus(args)
    if args.citation is None:
        _stderr().print(f"[bold red]error:[/] new {args.kind} needs --from CITATION (the citation mapping)")
        return ExitCode.USAGE
    from evidence_publisher.importers.scaffold import plan_new

    skeleton = plan_new(args.kind, args.id, args.citation, args.corpus, force=args.force, date=args.date)
    write_files(skeleton.files)
    out = _stdout()
    if args.format == "json":
        doc = {"ok": True, "kind": args.kind, "id": args.id, "file": str(skeleton.path)}
        _print_json(doc)
        return ExitCode.OK
    out.print(f"[bold green]Wrote {skeleton.path}[/]: fill in every TODO from {skeleton.citation.source}")
    return ExitCode.OK


def _new_corpus(args: argparse.Namespace) -> int:
    import datetime

    from evidence_publisher.importers.files import write_files
    from evidence_publisher.importers.new_corpus import plan_new_corpus

    if not args.base_url:
        _stderr().print(
            "[bold red]error:[/] new corpus needs --base-url (the canonical base of its resources' urls, "
            "e.g. https://guidelines.example.org/fhir)"
        )
        return ExitCode.USAGE
    if args.citation is not None or args.force:
        _stderr().print("[bold red]error:[/] --from and --force do not apply to new corpus")
        return ExitCode.USAGE
    corpus_dir = args.corpus or Path("mappings") / args.id
    date = args.date or datetime.datetime.now(datetime.UTC).date().isoformat()
    made = plan_new_corpus(
        args.id,
        corpus_dir,
        base_url=args.base_url,
        date=date,
        title=args.title,
        publisher=args.publisher,
        version=args.corpus_version,
    )
    write_files(made.files)
    out = _stdout()
    if args.format == "json":
        doc = {"ok": True, "kind": "corpus", "id": args.id, "file": str(made.path), "todo": made.placeholders}
        _print_json(doc)
        return ExitCode.OK
    out.print(f"[bold green]Wrote {made.path}[/]")
    if made.placeholders:
        out.print(f"  fill in: {', '.join(made.placeholders)} (TODO placeholders the build refuses)")
    out.print(f"  next: evidence-publisher import FILE... --corpus {corpus_dir}")
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
    p.add_argument(
        "paths", nargs="+", type=_path, help="JSON or NDJSON files, or directories; - reads standard input"
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    p.add_argument("--errors-only", action="store_true", help="list only errors in the table (text format)")
    p.add_argument(
        "--fhir-version",
        choices=["R5", "R4B", "R4"],
        default="R5",
        help="FHIR version of the input: its packages are the definitions (default: R5)",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        help="worker processes for large inputs (default: the number of CPUs)",
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from evidence_publisher.validate import Validator
    from evidence_publisher.validate.inputs import check_inputs
    from evidence_publisher.validate.stream import FileValidation, default_jobs
    from evidence_publisher.validate.summary import ValidationSummary

    out, err = _stdout(), _stderr()
    check_inputs(args.paths)  # fail on a missing path before loading any definitions
    validator = Validator.from_cache(
        progress=lambda msg: err.print(msg, markup=False), fhir=FHIR_VERSIONS[args.fhir_version]
    )
    summary = ValidationSummary(errors_only=args.errors_only)
    show_progress = args.format == "text"
    with progress_display(err, show_progress) as (progress, console), JsonListSpool("outcomes") as spool:
        jobs = args.jobs or default_jobs()
        run = FileValidation(validator, args.paths, jobs=jobs, progress=progress)
        for note in run.notes:
            console.print(f"note: {note}", markup=False)
        for checked in run:
            summary.add(checked)
            if args.format == "json":
                spool.add({"source": checked.source, "resource": checked.label, "outcome": checked.outcome})
        if args.format == "json":
            head = {"errors": summary.errors, "warnings": summary.warnings, "notes": run.notes}
            spool.write_document(out, head)
    if args.format == "text":
        _print_validation(out, summary)
    return ExitCode.INVALID_OUTPUT if summary.errors else ExitCode.OK


def _print_validation(out: Console, summary: ValidationSummary) -> None:
    """The first problems one per row, then (for large runs) counts by type and by rule, then totals."""
    styles = {"fatal": "bold red", "error": "red", "warning": "yellow"}
    if summary.rows:
        rows: list[list[Cell]] = [
            [r.source, r.resource, (r.severity, styles.get(r.severity, "")), r.rule, r.expression, r.message]
            for r in summary.rows
        ]
        heads = ("file", "resource", "severity", "rule", "FHIRPath", "message")
        print_table(out, [Column(h) for h in heads], rows)
    if summary.rows_left_out:
        out.print(
            f"{summary.rows_left_out:,} more problems not listed (the first {len(summary.rows):,} are); "
            "--format json gives every outcome",
            markup=False,
        )
    if summary.detailed:
        right = ("resources", "with errors", "errors", "warnings", "issues")
        type_heads = ("type", "resources", "with errors", "errors", "warnings")
        types: list[list[Cell]] = [
            [rtype, f"{c.resources:,}", f"{c.with_errors:,}", f"{c.errors:,}", f"{c.warnings:,}"]
            for rtype, c in summary.types()
        ]
        columns = [Column(h, "right" if h in right else "left") for h in type_heads]
        print_table(out, columns, types, title="by type")
        if summary.by_problem:
            problem_heads = ("severity", "rule", "issues", "resources", "example")
            problems: list[list[Cell]] = [
                [(p.severity, styles.get(p.severity, "")), p.rule, f"{p.issues:,}", f"{p.resources:,}", ex]
                for p in summary.problems()
                for ex in [p.example]
            ]
            columns = [Column(h, "right" if h in right else "left") for h in problem_heads]
            print_table(out, columns, problems, title="problems by rule")
    colour = "red" if summary.errors else "green"
    totals = f"{summary.resources} resources: {summary.errors} errors, {summary.warnings} warnings"
    out.print(f"[bold {colour}]{totals}[/]")


# --------------------------------------------------------------------------------------------
# packages  (owned by the packages stage)
# --------------------------------------------------------------------------------------------
def _add_packages_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("packages", help="manage the FHIR package cache")
    psub = p.add_subparsers(dest="packages_command", required=True)
    common = _Parser(add_help=False)
    common.add_argument(
        "--cache",
        type=_path,
        help="cache directory (default: $FHIR_PACKAGE_CACHE, else ~/.fhir/packages)",
    )
    common.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    inst = psub.add_parser(
        "install",
        parents=[common],
        help="install FHIR packages (default: the pinned R5 set and the local EBM extensions)",
    )
    inst.add_argument(
        "specs",
        nargs="*",
        help="NAME#VERSION, e.g. hl7.fhir.r5.examples#5.0.0, or a package file (.tgz) to install from",
    )
    inst.add_argument(
        "--registry",
        help="FHIR package registry base URL, or 'off' "
        "(default: $FHIR_PACKAGE_REGISTRY, else https://packages.fhir.org)",
    )
    inst.add_argument("--no-npm", action="store_true", help="do not fall back to `npm pack`")
    psub.add_parser("list", parents=[common], help="list installed packages")


def _package_row(pkg: InstalledPackage, cache: PackageCache) -> dict:
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
    columns = [Column(h) for h in ("name", "version", "fhirVersion")]
    columns += [Column("resources", "right"), Column("source"), Column("note")]
    cells = [
        [
            r["name"],
            r["version"],
            ", ".join(r["fhirVersions"]),
            str(r["resources"]),
            r["source"],
            f"in place of {r['standsInFor'].split('#', 1)[1]}" if r.get("standsInFor") else "",
        ]
        for r in rows
    ]
    print_table(_stdout(), columns, cells, title=title)


def _is_package_file(given: str) -> bool:
    """A path to a tarball rather than NAME#VERSION: it ends in .tgz / .tar.gz or names a file."""
    return given.lower().endswith((".tgz", ".tar.gz")) or ("#" not in given and Path(given).is_file())


def _cmd_packages(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from evidence_publisher.packages import PackageCache, default_root

    err = _stderr()
    root = args.cache or default_root()
    if args.packages_command == "list":
        listed = PackageCache(root)
        rows = [_package_row(pkg, listed) for pkg in listed.installed()]
        if args.format == "json":
            _print_json(rows)
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
        tasks: dict[PackageSpec, TaskID] = {}

        def on_bytes(spec: PackageSpec, done: int, total: int | None) -> None:
            if spec not in tasks:
                tasks[spec] = bar.add_task(f"Downloading {spec}", total=total)
            bar.update(tasks[spec], completed=done, total=total)

        def say(message: str) -> None:
            style = "yellow" if message.startswith("warning:") else None
            bar.console.print(message, markup=False, style=style)

        specs: list[str] = []
        for given in args.specs:
            if _is_package_file(given):
                # the file's own package, then (below) its dependencies like any other package
                specs.append(str(cache.install_file(Path(given), say).spec))
            else:
                specs.append(given)
        pkgs = cache.ensure(specs or None, progress=say, on_bytes=on_bytes, retry_missing=True)
    rows = [_package_row(pkg, cache) for pkg in pkgs]
    if args.format == "json":
        _print_json(rows)
    else:
        _print_package_table(rows, f"Available in {root}")
    return ExitCode.OK


# --------------------------------------------------------------------------------------------
# publish / verify  (owned by the publish stage)
# --------------------------------------------------------------------------------------------
def _add_http_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, help="FHIR base URL, e.g. http://localhost:8080/fhir")
    p.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    p.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=250,
        metavar="N",
        help="resources per transaction (or per lookup batch)",
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
    http.add_argument(
        "--connect-timeout",
        type=_positive_seconds,
        default=5.0,
        metavar="S",
        help="seconds to wait for a connection",
    )
    http.add_argument(
        "--read-timeout",
        type=_positive_seconds,
        default=120.0,
        metavar="S",
        help="seconds to wait for each response",
    )
    http.add_argument(
        "--retries",
        dest="max_retries",
        type=_non_negative_int,
        default=5,
        metavar="N",
        help="retries of safe requests on connection errors and 429/502/503/504",
    )
    http.add_argument("--ca-bundle", type=_path, help="CA certificates (PEM) for a private CA")
    http.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (never for real data)"
    )
    _add_auth_options(p, "the server")


def _add_auth_options(p: argparse.ArgumentParser, server: str) -> None:
    """The credentials options of ``publish``/``verify``, also taken by ``serve``/``apply`` for
    ``--fhir-server`` (``server`` names which server they are for)."""
    auth = p.add_argument_group(f"authentication to {server} (secrets only from files or environment)")
    auth.add_argument("--token-file", type=_path, help="file with a bearer token (else $FHIR_TOKEN)")
    auth.add_argument(
        "--basic-auth-file",
        type=_path,
        help="file with username:password (else $FHIR_USERNAME/$FHIR_PASSWORD)",
    )
    auth.add_argument("--smart-client-id", help="SMART backend client id (else $FHIR_CLIENT_ID)")
    auth.add_argument(
        "--smart-key-file", type=_path, help="PEM private key, RSA or EC P-384 (else $FHIR_PRIVATE_KEY_FILE)"
    )
    auth.add_argument("--smart-scope", help="scope to request (default system/*.rs system/*.cu)")
    auth.add_argument("--smart-kid", help="key id (kid) of the JWKS entry for the key")


def _auth_config(args: argparse.Namespace) -> dict[str, str | None]:
    """The credentials options as ``fhir_server_auth`` of the CDS configuration (by name, as
    ``_named_for``; paths as strings)."""
    from evidence_publisher.cds.config import ServerAuthConfig

    given = _named_for(ServerAuthConfig, args)
    return {name: None if value is None else str(value) for name, value in given.items()}


def _add_publish_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish a build (or mappings) to a FHIR R5 server")
    p.add_argument(
        "source",
        nargs="?",
        type=_path,
        default=DEFAULT_OUT,
        help="build directory or mapping files/directory",
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
    v.add_argument(
        "source",
        nargs="?",
        type=_path,
        default=DEFAULT_OUT,
        help="build directory or mapping files/directory whose resources are read back and compared",
    )
    _add_http_options(v)


def _publish_client(args: argparse.Namespace, err: Console) -> FhirClient:
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
    auth = auth_from_options(**_named_for(auth_from_options, args))
    options = HttpOptions(**_named_for(HttpOptions, args), verify=verify_tls)
    if auth is not None:
        err.print(f"authenticating with {auth.describe()}")
    return FhirClient(args.server, auth=auth, options=options)


def _named_for(target: Callable[..., object], args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options named like ``target``'s parameters. Each option's ``dest`` is the name the
    API (HttpOptions, auth_from_options, CdsConfig) uses, so no flag-to-field table is kept by hand
    (tests/robustness/test_cli_options.py checks that every such option has its parameter)."""
    names = inspect.signature(target).parameters
    return {name: value for name, value in vars(args).items() if name in names}


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
        return list(result.resources)  # the build validated them already
    resources = load_dist(args.source)
    validate_for_publish(resources, official=not args.no_validate, log=lambda msg: err.print(msg))
    return resources


def _render_publish_result(
    result: PublishResult, args: argparse.Namespace, out: Console, err: Console
) -> int:
    from rich.markup import escape

    if args.format == "json":
        _print_json(result.to_json())
    else:
        quiet = {"unchanged", "same"}
        # A failed run is summarised in one line below; the per-resource table (every row
        # "rolled back" or "not-sent") only on request.
        rows = result.resources if result.error is None or args.verbose else []
        if len(rows) > 200:
            rows = [r for r in rows if r.action not in quiet]
        if rows:
            cells = []
            for r in rows:
                detail = "; ".join(r.differences[:5]) + (" ..." if len(r.differences) > 5 else "")
                cells.append([r.ref, r.action, r.server_id or "", r.version or "", detail or r.note])
            columns = [Column(c) for c in ("resource", "action", "server id", "version", "detail")]
            print_table(out, columns, cells, title=f"{result.mode} -> {result.server}")
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


def _publish_progress(
    err: Console, enabled: bool
) -> tuple[AbstractContextManager[object], Callable[[ProgressEvent], None] | None]:
    from contextlib import nullcontext

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if not enabled:
        return nullcontext(), None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    tasks: dict[str, TaskID] = {}

    def callback(event: ProgressEvent) -> None:
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
        "source", nargs="?", type=_path, default=None, help=f"build output directory (default: {DEFAULT_OUT})"
    )
    p.add_argument("--fhir-server", help="load the PlanDefinitions from this FHIR R5 server")
    p.add_argument("--config", type=_path, help="YAML or JSON config file (flags override it)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port (default 8080)")
    p.add_argument("--workers", type=_positive_int, help="uvicorn worker processes (default 1)")
    p.add_argument(
        "--public-url",
        dest="public_base_url",
        help="public base URL clients call; JWT aud is checked against it",
    )
    p.add_argument(
        "--cors-origin", dest="cors_origins", action="append", help="allowed browser origin (repeatable)"
    )
    p.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        help=f"request body limit (default {limits.CDS_BODY_BYTES.default})",
    )
    p.add_argument(
        "--replay-store",
        help="seen JWT jti: a sqlite file (shared by workers on one host) or redis://HOST:PORT/DB "
        "(shared by hosts; a password belongs in the config file, not on the command line)",
    )
    p.add_argument(
        "--allow-http-fhir-server",
        action="store_const",
        const=True,
        default=None,
        help="accept http:// fhirServer URLs (testing only)",
    )
    p.add_argument(
        "--no-auth",
        dest="auth",
        action="store_false",
        default=None,
        help="DISABLE JWT authentication (local testing only)",
    )
    p.add_argument(
        "--serve-experimental",
        action="store_const",
        const=True,
        default=None,
        help="also serve PlanDefinitions marked experimental (skipped by default)",
    )
    _add_auth_options(p, "--fhir-server")
    a = sub.add_parser("apply", help="apply a PlanDefinition to a patient ($apply)")
    a.add_argument(
        "source", nargs="?", type=_path, default=None, help=f"build output directory (default: {DEFAULT_OUT})"
    )
    a.add_argument("--plan", required=True, help="PlanDefinition canonical url[|version] or id")
    a.add_argument(
        "--patient",
        required=True,
        type=_path,
        help="a Patient JSON or a Bundle of the patient's data; - reads standard input",
    )
    a.add_argument(
        "--dist", type=_path, help="deprecated: give the build directory as the first argument instead"
    )
    a.add_argument("--fhir-server", help="load the PlanDefinition from this FHIR R5 server")
    a.add_argument("--practitioner", help="author reference, e.g. Practitioner/123")
    a.add_argument(
        "--allow-experimental", action="store_true", help="apply a PlanDefinition marked experimental"
    )
    _add_auth_options(a, "--fhir-server")


def _cmd_serve(args: argparse.Namespace) -> int:
    from evidence_publisher.cds import server
    from evidence_publisher.cds.config import CdsConfig
    from evidence_publisher.cds.errors import CdsConfigError
    from evidence_publisher.cds.replay import url_has_password

    overrides = _named_for(CdsConfig, args)  # a flag left out is None: the config file or default holds
    if args.replay_store and url_has_password(args.replay_store):
        raise CdsConfigError(
            "--replay-store carries a password, which other users can read in the process list",
            details=["put the URL in the config file instead: replay_store: redis://:PASSWORD@HOST:PORT/DB"],
        )
    overrides["source"] = str(args.source) if args.source else None
    overrides["fhir_server_auth"] = _auth_config(args)
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
    from evidence_publisher.cds.config import CdsConfig, ServerAuthConfig
    from evidence_publisher.cds.service import CdsService

    config = CdsConfig(
        source=str(_apply_source(args)),
        fhir_server=args.fhir_server,
        fhir_server_auth=ServerAuthConfig(**_auth_config(args)),
        auth=False,
        serve_experimental=args.allow_experimental,
    )
    patient_doc = read_patient_file(args.patient)  # before loading knowledge: fail fast
    service = CdsService.from_config(config.validate())
    bundle = service.apply(args.plan, patient_doc, args.practitioner, origin=str(args.patient))
    _print_json(bundle)
    applies = bool(bundle["entry"][0]["resource"].get("action"))
    _stderr().print("recommendation applies" if applies else "recommendation does not apply")
    return ExitCode.OK


def _apply_source(args: argparse.Namespace) -> Path:
    """The build directory: the positional, or the deprecated ``--dist`` (with a warning)."""
    if args.dist is None:
        return args.source or DEFAULT_OUT
    if args.source is not None and args.source != args.dist:
        raise UsageError(
            f"two build directories given: {str(args.source)!r} and --dist {str(args.dist)!r}",
            details=["give only the positional build directory; --dist is deprecated"],
        )
    _stderr().print(
        f"warning: --dist is deprecated; give the build directory first: "
        f"evidence-publisher apply {args.dist} --plan ... --patient ...",
        markup=False,
        style="yellow",
    )
    return args.dist


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
_COMMANDS = {
    "build": _cmd_build,
    "schema": _cmd_schema,
    "import": _cmd_import,
    "new": _cmd_new,
    "validate": _cmd_validate,
    "packages": _cmd_packages,
    "package": _cmd_package,
    "publish": _cmd_publish,
    "verify": _cmd_verify,
    "serve": _cmd_serve,
    "apply": _cmd_apply,
    "site": _cmd_site,
    "convert": _cmd_convert,
}
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


# --------------------------------------------------------------------------------------------
# argument types (a bad value is a usage error, exit 2, naming the option)
# --------------------------------------------------------------------------------------------
def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path is not allowed")
    return Path(text)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text!r}")
    return value


def _fhir_date(text: str) -> str:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a real date YYYY-MM-DD, got {text!r}") from None
    if len(text) != 10:
        raise argparse.ArgumentTypeError(f"must be written YYYY-MM-DD, got {text!r}")
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


# --------------------------------------------------------------------------------------------
# parser: one help formatter for every (sub)command, global options accepted before or after it
# --------------------------------------------------------------------------------------------
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none or its help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in help_text:
            return help_text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


_LIMIT_FLAGS = (
    (
        ("--max-input-bytes",),
        (limits.MAPPING_FILE_BYTES, limits.JSON_FILE_BYTES, limits.RECORD_FILE_BYTES),
        "size of an input file",
    ),
    (("--max-depth",), (limits.NESTING_DEPTH,), "nesting depth of JSON and YAML input"),
    (("--max-string",), (limits.STRING_CHARS,), "length of one string"),
    (("--max-yaml-nodes",), (limits.YAML_NODES,), "number of YAML nodes in a mapping file"),
    (("--max-response-bytes",), (limits.SERVER_RESPONSE_BYTES,), "size of a FHIR server response"),
    (("--max-pages",), (limits.SERVER_PAGES,), "pages of one search on a FHIR server"),
)


def _add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """``--log-level`` and the input limits. After a subcommand they default to nothing, so that
    they do not reset a value given before the subcommand."""
    default = argparse.SUPPRESS if in_subcommand else None
    group = parser.add_argument_group("global options (also accepted before the command)")
    group.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=default,
        help="log detail on stderr; debug also shows the traceback of an internal error "
        "(default: warning; serve: info or its config file)",
    )
    for flags, affected, what in _LIMIT_FLAGS:
        if len(affected) == 1:
            defaults = f"{affected[0].default:,} {affected[0].unit}"
        else:
            defaults = ", ".join(f"{lim.default:,} {lim.unit} for the {lim.name}" for lim in affected)
        env = affected[0].env
        group.add_argument(
            *flags,
            type=_positive_int,
            default=default,
            metavar="N",
            help=f"limit on the {what} (default: {defaults}; or ${env})",
        )


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="evidence-publisher",
        description="Compile published clinical evidence into validated FHIR R5 resources.",
        epilog="Exit codes are listed in the README; an internal error (a bug) exits 1 and names a log file.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, in_subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _add_build_parser,
        _add_schema_parser,
        _add_import_parser,
        _add_new_parser,
        _add_validate_parser,
        _add_packages_parser,
        _add_package_parser,
        _add_publish_parser,
        _add_serve_parser,
        _add_site_parser,
        _add_convert_parser,
    ):
        add(sub)
    for command in _subcommands(parser):
        _add_global_options(command, in_subcommand=True)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:  # argparse offers no public way to walk subparsers
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += [child, *_subcommands(child)]
    return found


# --------------------------------------------------------------------------------------------
# errors and entry points
# --------------------------------------------------------------------------------------------
def render_error(exc: EvidencePublisherError, console: Console) -> None:
    console.print(f"[bold red]error:[/] {exc.message}", markup=True)
    for line in exc.details:
        console.print(f"  {line}", markup=False)


def _print_json_failure(args: argparse.Namespace, doc: dict) -> None:
    """With ``--format json``, a failure is a JSON document on stdout too (the text goes to stderr)."""
    if getattr(args, "format", None) == "json":
        with contextlib.suppress(OSError):  # stdout closed: the text on stderr has said it
            _print_json({"ok": False, **doc})


def _error_document(exc: EvidencePublisherError) -> dict:
    from evidence_publisher.importers.errors import RecordImportError
    from evidence_publisher.sources.errors import MappingError

    doc = {
        "exit_code": int(exc.exit_code),
        "error": type(exc).__name__,
        "message": exc.message,
        "details": exc.details,
    }
    if isinstance(exc, MappingError | RecordImportError):  # problems listed one by one, with places
        doc["issues"] = [i.as_dict() for i in exc.issues]
    return doc


def _internal_error(exc: Exception, argv: Sequence[str], debug: bool, err: Console) -> dict:
    """Report a bug: one line naming the log file; the traceback on the terminal only when debugging."""
    from evidence_publisher.crashlog import write_crash_log

    summary = " ".join(f"{type(exc).__name__}: {exc}".split())
    summary = summary if len(summary) <= 200 else summary[:197] + "..."
    try:
        log_path: str | None = str(write_crash_log(exc, argv))
        where = f"the log {log_path}"
    except OSError as log_exc:
        log_path, where = None, f"the output of --log-level debug (no log file could be written: {log_exc})"
    if debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False, end="")
    err.print(
        f"error: internal error ({summary}). This is a bug in evidence-publisher; please report it "
        f"with {where}",
        markup=False,
        highlight=False,
        style="bold red",
    )
    code = int(ExitCode.INTERNAL_ERROR)
    return {"exit_code": code, "error": "internal", "message": summary, "log": log_path}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is logged (tests replace it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


_LOG_HANDLER = _StderrHandler()
_LOG_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


def _configure(args: argparse.Namespace) -> None:
    """Apply the global options: the limits, and ``--log-level`` (``serve`` configures its own logging)."""
    limits.reset()
    values: dict[limits.Limit, int | None] = {}
    for flags, affected, _what in _LIMIT_FLAGS:
        for limit in affected:
            values[limit] = getattr(args, flags[0].lstrip("-").replace("-", "_"))
    limits.configure(values)
    logger = logging.getLogger("evidence_publisher")
    logger.removeHandler(_LOG_HANDLER)
    logger.setLevel(logging.NOTSET)
    if args.log_level and args.command != "serve":
        logger.setLevel(args.log_level.upper())
        logger.addHandler(_LOG_HANDLER)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (testable without spawning a process).

    Every outcome is a documented exit code: errors the tool anticipates are reported with their own
    code, Ctrl-C gives 130, SIGTERM 143, a closed stdout pipe 141, and anything else is a bug (1),
    reported in one line that names a log file holding the traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    err = _stderr()
    args = argparse.Namespace()
    with terminate_as_exception():
        try:
            try:
                args = make_parser().parse_args(argv)
            except SystemExit as exc:  # --help, --version, or a usage error (already printed)
                return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
            _configure(args)
            return int(_COMMANDS[args.command](args))
        except SystemExit as exc:  # raised by a library inside a command
            if exc.code in (None, 0) or exc.code in set(ExitCode):
                return int(exc.code or 0)
            bug = RuntimeError(f"SystemExit({exc.code!r}) raised inside the {args.command} command")
            doc = _internal_error(bug, argv, args.log_level == "debug", err)
            _print_json_failure(args, doc)
            return ExitCode.INTERNAL_ERROR
        except EvidencePublisherError as exc:
            render_error(exc, err)
            _print_json_failure(args, _error_document(exc))
            return int(exc.exit_code)
        except Terminated:
            err.print("terminated (SIGTERM)", markup=False)
            _print_json_failure(args, {"exit_code": int(ExitCode.TERMINATED), "error": "terminated"})
            return ExitCode.TERMINATED
        except KeyboardInterrupt:
            err.print("interrupted (Ctrl-C)", markup=False)
            _print_json_failure(args, {"exit_code": int(ExitCode.INTERRUPTED), "error": "interrupted"})
            return ExitCode.INTERRUPTED
        except BrokenPipeError:
            _silence_stdout()
            return ExitCode.BROKEN_PIPE
        except Exception as exc:
            doc = _internal_error(exc, argv, getattr(args, "log_level", None) == "debug", err)
            _print_json_failure(args, doc)
            return ExitCode.INTERNAL_ERROR


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): make the interpreter's final flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests)
        pass


def main_cli() -> None:  # pragma: no cover - thin wrapper
    sys.exit(main())
