"""What a site is made from: the resources of a build output (with its build report), or the
resources of a corpus on a FHIR server (with an optional build report for provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import overload
from urllib.parse import quote

from evidence_publisher import jsonio
from evidence_publisher.constants import CANONICAL_TYPES
from evidence_publisher.errors import InputLimitError
from evidence_publisher.publish import FhirClient, InvalidPublishInputError, load_dist
from evidence_publisher.site.errors import SiteInputError

REPORT_FILE = "build-report.json"
# the resource types a build writes (no mapper writes a Library), fetched from a server in this order
SITE_TYPES = tuple(sorted((CANONICAL_TYPES - {"Library"}) | {"ArtifactAssessment", "Group"}))


@dataclass
class SiteInput:
    resources: list[dict]
    report: dict | None  # the build report; None when only resources are known (from a server)
    warnings: list[str] = field(default_factory=list)


def read_report(path: Path) -> dict:
    """A build report, read as untrusted JSON and checked for the keys the site uses."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SiteInputError(
            f"cannot read {str(path)!r}: {exc.strerror}",
            details=["give the directory written by `evidence-publisher build --out DIR`"],
        ) from None
    try:
        report = jsonio.loads_untrusted(data, str(path))
    except InputLimitError:
        raise
    except ValueError as exc:
        raise SiteInputError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("resources"), list):
        raise SiteInputError(f"{str(path)!r} is not a build report (it has no list of resources)")
    for key in ("conflicts", "attribution_claims", "derived_values", "documents", "quotes"):
        if key in report and not isinstance(report[key], list):
            raise SiteInputError(f"{str(path)!r}: {key!r} must be a list, not {type(report[key]).__name__}")
    return report


def _provenance_warnings(report: dict) -> list[str]:
    if "documents" in report and "quotes" in report:
        return []
    return [
        "the build report has no source documents or quote positions (a build from an earlier "
        "version): the site has no source-document pages and no links from values to quotes; "
        "rebuild to get them"
    ]


def read_build(dist: Path) -> SiteInput:
    """``dist``: a directory written by ``evidence-publisher build``."""
    if not dist.is_dir():
        raise SiteInputError(
            f"{str(dist)!r} is not a directory",
            details=["give the directory written by `evidence-publisher build --out DIR`"],
        )
    report_path = dist / REPORT_FILE
    if not report_path.is_file():
        raise SiteInputError(
            f"{str(dist)!r} is not a build output: it has no {REPORT_FILE}",
            details=["give the directory written by `evidence-publisher build --out DIR`"],
        )
    report = read_report(report_path)
    try:
        resources = load_dist(dist)
    except InvalidPublishInputError as exc:
        raise SiteInputError(exc.message, details=exc.details) from None
    return SiteInput(resources, report, _provenance_warnings(report))


def read_server(client: FhirClient, base_url: str, report: dict | None = None) -> SiteInput:
    """Every resource of the corpus whose canonical base is ``base_url``, found by its business
    identifier (``<base>/identifier``); references are turned back into the build's ``Type/id``."""
    system = f"{base_url.rstrip('/')}/identifier"
    found: dict[str, dict] = {}
    server_ids: dict[str, str] = {}
    for rtype in SITE_TYPES:
        for res in _search_all(client, f"{rtype}?identifier={quote(system, safe=':/')}|&_count=200"):
            key = next(
                (i.get("value") for i in res.get("identifier", []) if i.get("system") == system),
                None,
            )
            if not isinstance(key, str) or "/" not in key:
                continue
            server_ids[f"{res['resourceType']}/{res.get('id')}"] = key
            res = {k: v for k, v in res.items() if k != "meta"} | _profiles(res)
            res["id"] = key.split("/", 1)[1]
            found[key] = res
    if not found:
        raise SiteInputError(
            f"the server has no resources with identifier system {system!r}",
            details=["publish the build first, or give the corpus' base URL with --base-url"],
        )
    resources = [_rewrite(res, server_ids) for _key, res in sorted(found.items())]
    warnings = [] if report is None else _provenance_warnings(report)
    if report is None:
        warnings.append(
            "no build report given (--report): the site shows what the resources say, without "
            "source-document pages, quote links or the report's derivation formulas"
        )
    return SiteInput(resources, report, warnings)


def _profiles(res: dict) -> dict:
    profiles = res.get("meta", {}).get("profile")
    return {"meta": {"profile": profiles}} if profiles else {}


def _search_all(client: FhirClient, first: str) -> list[dict]:
    """Every resource of a search; the shared client follows next links only under the base URL
    and stops after ``--max-pages`` pages."""
    return [
        e["resource"]
        for page in client.pages(first)
        for e in page.get("entry", [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


@overload
def _rewrite(node: dict, server_ids: dict[str, str]) -> dict: ...
@overload
def _rewrite(node: object, server_ids: dict[str, str]) -> object: ...
def _rewrite(node: object, server_ids: dict[str, str]) -> object:
    if isinstance(node, dict):
        out = {k: _rewrite(v, server_ids) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str):
            bare = ref.split("/_history/")[0]
            tail = "/".join(bare.rsplit("/", 2)[-2:])
            if tail in server_ids:
                out["reference"] = server_ids[tail]
        return out
    if isinstance(node, list):
        return [_rewrite(v, server_ids) for v in node]
    return node
