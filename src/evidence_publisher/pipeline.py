"""The build: mapping files -> checked model -> FHIR resources -> validation -> Bundles -> dist/.

Output goes to a temporary directory beside ``out_dir`` and replaces it only when every step
succeeded, so a failed build never leaves a half-written or mixed output directory; ``out_dir`` is
checked first (see ``output.py``), so a build never replaces anything but a previous build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evidence_publisher.bundle import collection_bundle, ndjson_by_type, transaction_bundle
from evidence_publisher.bundle.references import iter_references
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.convert import UnsupportedFhirVersionError, to_r4b
from evidence_publisher.fhir.compile import Compiled, compile_corpus
from evidence_publisher.jsonio import dumps
from evidence_publisher.output import build_marker, check_out_dir, protected_dirs, write_atomically
from evidence_publisher.sources import load_corpus
from evidence_publisher.sources.loader import LoadProgress
from evidence_publisher.sources.model import Corpus
from evidence_publisher.validate import ValidationFailedError, Validator, error_lines, structural_problems

# (what is being done, how much of it is done, the total or None), in the stage's own unit
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class BuildResult:
    resources: list[dict]
    report: dict
    mapping_file_count: int
    conflicts: list[dict] = field(default_factory=list)


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


def _official_validation(
    resources: list[dict], log: Callable[[str], None], fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> list[str]:
    """Validate against the official StructureDefinitions of ``fhir`` (installs the packages on
    first use)."""
    validator = Validator.from_cache(progress=log, fhir=fhir)
    report = validator.validate(resources, bundle=collection_bundle(resources, "https://build.invalid"))
    return error_lines(report)


def make_report(corpus: Corpus, base_url: str, compiled: Compiled) -> dict:
    return {
        **build_marker(),
        "corpus": corpus.id,
        "title": corpus.title,
        "publisher": corpus.publisher,
        "version": corpus.version,
        "date": corpus.date,
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


def render_outputs(
    resources: list[dict], report: dict, base_url: str, fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> dict[str, str]:
    """Every output file as ``relative path -> canonical JSON text``."""
    files: dict[str, str] = {}
    for res in resources:
        files[f"resources/{res['resourceType']}-{res['id']}.json"] = dumps(res)
    files["bundle-transaction.json"] = dumps(transaction_bundle(resources, fhir))
    files["bundle-collection.json"] = dumps(collection_bundle(resources, base_url))
    for rtype, text in ndjson_by_type(resources).items():
        files[f"ndjson/{rtype}.ndjson"] = text
    files["build-report.json"] = dumps(report)
    return files


def _convert(resources: list[dict], report: dict, fhir: FhirVersion) -> list[dict]:
    """The R5 resources in ``fhir``'s shape; the report gains the version and every conversion."""
    if fhir.release != "R4B":
        raise UnsupportedFhirVersionError(
            f"build cannot write FHIR {fhir.release} yet",
            details=["choose --fhir-version R5 (the default) or R4B"],
        )
    converted = to_r4b(resources)
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in converted.resources}
    entries = []
    for entry in report["resources"]:
        key = f"{entry['type']}/{entry['id']}"
        res = by_key.get(converted.moved.get(key, key))
        if res is None or res["id"] != entry["id"]:
            continue  # folded into another resource (a certainty rating into its Evidence)
        entries.append(
            {**entry, "type": res["resourceType"], "url": res.get("url"), "version": res.get("version")}
        )
    report["resources"] = entries
    report["resource_count"] = len(converted.resources)
    report["fhir_version"] = {"release": fhir.release, "version": fhir.version}
    report["conversions"] = [c.as_dict() for c in converted.conversions]
    return converted.resources


@dataclass
class CompiledMappings:
    compiled: Compiled
    report: dict
    file_count: int
    sources_dir: Path  # where the corpus file's sources_dir points


def compile_mappings(
    paths: list[Path], base_url: str | None = None, on_load: Callable[[LoadProgress], None] | None = None
) -> CompiledMappings:
    corpus = load_corpus(paths, progress=on_load)
    compiled = compile_corpus(corpus, base_url)
    effective_base = (base_url or corpus.corpus.base_url).rstrip("/")
    report = make_report(corpus.corpus, effective_base, compiled)
    sources_dir = Path(corpus.corpus_doc.file).parent / corpus.corpus.sources_dir
    return CompiledMappings(compiled, report, corpus.file_count, sources_dir)


def build(
    paths: list[Path],
    *,
    out_dir: Path,
    base_url: str | None = None,
    validate: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
    progress: Progress = lambda _stage, _done, _total: None,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> BuildResult:
    """Run the whole build; raise before writing anything if any step finds a problem.

    ``out_dir`` is checked before the mappings are read, and again with the source documents
    directory once the corpus file has named it. ``fhir`` is the FHIR version written: R5 (what
    the mappers produce) or R4B (converted by ``convert/``, every conversion in the report).
    """
    check_out_dir(out_dir, protected_dirs(paths))

    def on_load(at: LoadProgress) -> None:
        progress(f"reading {at.files_total} mapping files", at.bytes_done, at.bytes_total or None)

    mapped = compile_mappings(paths, base_url, on_load)
    compiled, report = mapped.compiled, mapped.report
    resources = compiled.resources
    if fhir is not DEFAULT_FHIR_VERSION:
        resources = _convert(resources, report, fhir)
    problems = structural_problems(resources, fhir) + dangling_references(resources)
    if not problems and validate:
        # the validator reports no per-resource progress: the stage is shown without a count
        progress(f"validating {len(resources)} resources against the official FHIR definitions", 0, None)
        problems = _official_validation(resources, log, fhir)
    if problems:
        raise ValidationFailedError(
            f"{len(problems)} problems in the generated FHIR resources; nothing was written",
            details=problems,
        )
    protected = protected_dirs(paths, mapped.sources_dir)
    files = render_outputs(resources, report, report["base_url"], fhir)
    stage = f"writing {len(files)} files"
    write_atomically(out_dir, files, protected, on_file=lambda done: progress(stage, done, len(files)))
    return BuildResult(resources, report, mapped.file_count, compiled.conflicts)
