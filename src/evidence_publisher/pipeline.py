"""The build: mapping files -> checked model -> FHIR resources -> validation -> Bundles -> dist/.

Output goes to a temporary directory beside ``out_dir`` and replaces it only when every step
succeeded, so a failed build never leaves a half-written or mixed output directory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evidence_publisher.bundle import collection_bundle, ndjson_by_type, transaction_bundle
from evidence_publisher.bundle.references import iter_references
from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.fhir.compile import Compiled, compile_corpus
from evidence_publisher.jsonio import dumps
from evidence_publisher.sources import load_corpus
from evidence_publisher.validate import Validator, error_lines, structural_problems


class InvalidOutputError(EvidencePublisherError):
    """Generated resources failed a structural, reference or profile check; nothing was written."""

    exit_code = ExitCode.INVALID_OUTPUT


class WriteError(EvidencePublisherError):
    exit_code = ExitCode.WRITE_FAILED


@dataclass
class BuildResult:
    resources: list[dict]
    report: dict
    mapping_file_count: int
    conflicts: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def dangling_references(resources: list[dict]) -> list[str]:
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    problems = []
    for res in resources:
        for path, ref in iter_references(res):
            target = ref["reference"]
            if "/" in target and not target.startswith(("http", "urn:", "#")) and target not in known:
                problems.append(
                    f"{res['resourceType']}/{res['id']} {res['resourceType']}.{path}: reference "
                    f"{target!r} resolves to no resource of this build"
                )
    return problems


def _official_validation(resources: list[dict], log: Callable[[str], None]) -> list[str]:
    """Validate against the official StructureDefinitions (installs the packages on first use)."""
    validator = Validator.from_cache(progress=log)
    report = validator.validate(resources, bundle=collection_bundle(resources, "https://build.invalid"))
    return error_lines(report)


def make_report(corpus_id: str, version: str, base_url: str, compiled: Compiled) -> dict:
    return {
        "corpus": corpus_id,
        "version": version,
        "base_url": base_url,
        "resource_count": len(compiled.resources),
        "resources": [
            {
                "type": r["resourceType"],
                "id": r["id"],
                "url": r.get("url"),
                "version": r.get("version"),
                "title": r.get("title") or r.get("name"),
                "source": compiled.provenance[f"{r['resourceType']}/{r['id']}"],
            }
            for r in compiled.resources
        ],
        "conflicts": compiled.conflicts,
        "attribution_claims": compiled.claims,
        "derived_values": compiled.derived,
        "documents": compiled.documents,
        "quotes": compiled.quotes,
    }


def render_outputs(resources: list[dict], report: dict, base_url: str) -> dict[str, str]:
    """Every output file as ``relative path -> canonical JSON text``."""
    files: dict[str, str] = {}
    for res in resources:
        files[f"resources/{res['resourceType']}-{res['id']}.json"] = dumps(res)
    files["bundle-transaction.json"] = dumps(transaction_bundle(resources))
    files["bundle-collection.json"] = dumps(collection_bundle(resources, base_url))
    for rtype, text in ndjson_by_type(resources).items():
        files[f"ndjson/{rtype}.ndjson"] = text
    files["build-report.json"] = dumps(report)
    return files


def write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for rel, text in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(f"could not write the build to {out_dir}: {exc}") from exc


def compile_mappings(paths: list[Path], base_url: str | None = None) -> tuple[Compiled, dict, int]:
    corpus = load_corpus(paths)
    compiled = compile_corpus(corpus, base_url)
    effective_base = (base_url or corpus.corpus.base_url).rstrip("/")
    report = make_report(corpus.corpus.id, corpus.corpus.version, effective_base, compiled)
    return compiled, report, corpus.file_count


def build(
    paths: list[Path],
    *,
    out_dir: Path,
    base_url: str | None = None,
    validate: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> BuildResult:
    """Run the whole build; raise before writing anything if any step finds a problem."""
    compiled, report, file_count = compile_mappings(paths, base_url)
    resources = compiled.resources
    problems = structural_problems(resources) + dangling_references(resources)
    if not problems and validate:
        problems = _official_validation(resources, log)
    if problems:
        raise InvalidOutputError(
            f"{len(problems)} problems in the generated FHIR resources; nothing was written",
            details=problems,
        )
    write_atomically(out_dir, render_outputs(resources, report, report["base_url"]))
    return BuildResult(resources, report, file_count, compiled.conflicts)
