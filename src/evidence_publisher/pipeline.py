"""The build: mapping files -> checked model -> FHIR resources -> validation -> Bundles -> dist/.

Output is written only when every step succeeded, so a failed build never leaves a half-written or
mixed output directory: a new ``out_dir`` goes to a temporary directory beside it that then takes its
name, and a previous build there is updated through a journal (``output_inplace.py``). ``out_dir`` is
checked first (see ``output.py``), so a build never replaces anything but a previous build.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from evidence_publisher.build_cache import BuildCache, packages_identity, validation_keys
from evidence_publisher.build_summary import summarise_problems
from evidence_publisher.build_validation import structural_problems_in_chunks, validate_in_chunks
from evidence_publisher.bundle import collection_bundle, dependency_order
from evidence_publisher.bundle.collection import COLLECTION_HEAD, collection_entry_texts, ndjson_lines
from evidence_publisher.bundle.references import RELATIVE_REF, iter_references
from evidence_publisher.bundle.transaction import (
    TRANSACTION_HEAD,
    dependency_indices,
    transaction_entry_texts,
)
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.convert import UnsupportedFhirVersionError, to_r4b
from evidence_publisher.fhir.compile import Compiled, compile_corpus
from evidence_publisher.fhir.compile_memo import CompileStore
from evidence_publisher.jsonio import dumps, iter_dumps_pieces, iter_dumps_texts
from evidence_publisher.output import build_marker, check_out_dir, protected_dirs, write_build
from evidence_publisher.output_inplace import UpdateCounts
from evidence_publisher.sources import load_corpus
from evidence_publisher.sources.loader import LoadProgress
from evidence_publisher.sources.model import Corpus
from evidence_publisher.sources.parsecache import ParseStore
from evidence_publisher.spill import ResourceView, SpilledResources, reference_strings, type_ids
from evidence_publisher.validate import ValidationFailedError, Validator, error_lines

T = TypeVar("T")
_WRITE_PROGRESS_EVERY = 200  # resources written between two progress calls
VALIDATE_CHUNK = 2000  # resources validated in one Bundle (see _official_validation)

# (what is being done, how much of it is done, the total or None), in the stage's own unit
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class BuildResult:
    resources: Sequence[dict]  # a SpilledResources: each read from disk as it is used
    report: dict
    mapping_file_count: int
    conflicts: list[dict] = field(default_factory=list)
    # what the build cache saved: publications whose compiled output was reused (of how many),
    # and resources validated by this build (None: not validated)
    compiled_reused: int = 0
    publication_count: int = 0
    validated: int | None = None
    # what an update of a previous build changed (None: a new or empty --out was written whole)
    updated: UpdateCounts | None = None


def dangling_references(resources: Sequence[dict]) -> list[str]:
    known = {f"{rtype}/{rid}" for rtype, rid in type_ids(resources)}
    problems = []
    for i, refs in enumerate(reference_strings(resources)):
        if all(not RELATIVE_REF.match(ref) or ref in known for ref in refs):
            continue  # the usual case, found without building paths
        res = resources[i]
        for path, ref in iter_references(res):
            target = ref["reference"]
            if "/" in target and not target.startswith(("http", "urn:", "#")) and target not in known:
                problems.append(
                    f"{res['resourceType']}/{res['id']} {res['resourceType']}.{path}: reference "
                    f"{target!r} resolves to no resource of this build"
                )
    return problems


def _official_validation(
    resources: Sequence[dict],
    order: Sequence[dict],
    log: Callable[[str], None],
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> list[str]:
    """Validate against the official StructureDefinitions of ``fhir`` (installs the packages on
    first use).

    Up to ``VALIDATE_CHUNK`` resources are validated in one collection Bundle, more in chunks of
    that many (``build_validation.py``), so that they need not all be held as dicts.
    """
    validator = Validator.from_cache(progress=log, fhir=fhir)
    if len(order) > VALIDATE_CHUNK:
        jobs = len(os.sched_getaffinity(0)) if isinstance(order, ResourceView) else 1
        return validate_in_chunks(validator, order, VALIDATE_CHUNK, jobs)
    bundle = collection_bundle(resources, "https://build.invalid", order)
    return error_lines(validator.validate(resources, bundle=bundle))


def _validate_changed(
    resources: Sequence[dict],
    order: Sequence[dict],
    cache: BuildCache | None,
    log: Callable[[str], None],
    progress: Progress,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
    todo_count: list[int] | None = None,
) -> tuple[list[str], list[str]]:
    """Validate the resources the cache has not seen valid; (problems, cache keys of the valid).
    ``todo_count`` (optional) receives how many were validated, as its first item.

    A subset is validated in a collection Bundle with the resources it references, so that its
    references resolve as they do in the whole build. The cache serves R5 builds only (its
    package identity is that of the R5 packages); other versions are always validated whole.
    """
    keys: dict[str, str] = {}
    known: set[str] = set()
    if cache is None or fhir is not DEFAULT_FHIR_VERSION:
        todo = [f"{rtype}/{rid}" for rtype, rid in type_ids(order)]
    else:
        keys = validation_keys(resources, packages_identity())
        known = set(cache.validated(keys.values()))
        todo = [ref for ref, key in keys.items() if key not in known]
    if todo_count is not None:
        todo_count[:] = [len(todo)]
    if not todo:
        return [], []
    # the validator reports no per-resource progress: the stage is shown without a count
    progress(f"validating {len(todo)} resources against the official FHIR definitions", 0, None)
    if len(todo) == len(resources):
        problems = _official_validation(resources, order, log, fhir)
    else:
        wanted = set(todo)
        for (rtype, rid), refs in zip(type_ids(resources), reference_strings(resources), strict=True):
            if keys[f"{rtype}/{rid}"] not in known:
                wanted.update(refs)
        # chosen by the recorded Type/ids: a spilled resource is read only if it is validated
        chosen = [i for i, (rtype, rid) in enumerate(type_ids(order)) if f"{rtype}/{rid}" in wanted]
        subset: Sequence[dict] = (
            order.store.view([order.indices[i] for i in chosen])
            if isinstance(order, ResourceView)
            else [order[i] for i in chosen]
        )
        problems = _official_validation(subset, subset, log, fhir)
    return problems, [keys[ref] for ref in todo] if keys else []


def make_report(corpus: Corpus, base_url: str, compiled: Compiled) -> dict:
    """The build report; with spilled resources, its rows are kept on disk too (``SpilledRows``)."""
    rows = compiled.rows
    return {
        **build_marker(),
        "corpus": corpus.id,
        "title": corpus.title,
        "publisher": corpus.publisher,
        "version": corpus.version,
        "date": corpus.date,
        "base_url": base_url,
        "resource_count": len(compiled.resources),
        "resources": rows,
        "conflicts": compiled.conflicts,
        "attribution_claims": compiled.claims,
        "derived_values": compiled.derived,
        "documents": compiled.documents,
        "quotes": compiled.quotes,
    }


def render_outputs(
    resources: Sequence[dict], report: dict, base_url: str, fhir: FhirVersion = DEFAULT_FHIR_VERSION
) -> dict[str, str]:
    """Every output file as ``relative path -> canonical JSON text``."""
    return {rel: whole_text(text) for rel, text in iter_outputs(resources, report, base_url, fhir=fhir)}


def whole_text(text: str | bytes | Iterable[str]) -> str:
    """An output file's text, however ``iter_outputs`` gave it."""
    if isinstance(text, bytes):
        return text.decode("utf-8")
    return text if isinstance(text, str) else "".join(text)


def output_count(resources: Sequence[dict]) -> int:
    """How many files ``iter_outputs`` yields."""
    return len(resources) + len({rtype for rtype, _id in type_ids(resources)}) + 3


def iter_outputs(
    resources: Sequence[dict],
    report: dict,
    base_url: str,
    order: Sequence[dict] | None = None,
    on_item: Callable[[], None] = lambda: None,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> Iterator[tuple[str, str | bytes | Iterable[str]]]:
    """Every output file as ``(relative path, canonical JSON text)``, the text made as it is
    written: only one resource's text (or one Bundle entry's) is held at a time. A spilled
    resource's file comes as the UTF-8 bytes kept on disk.

    ``order`` is ``dependency_order(resources)`` when the caller has it already. Bundle keys are
    checked before the first file is yielded. ``on_item`` is called after each resource file,
    Bundle entry and NDJSON line.
    """
    order = dependency_order(resources) if order is None else order
    transaction = transaction_entry_texts(resources, order, fhir)  # raises BundleError now, not halfway
    yield "build-report.json", iter_dumps_pieces(report)
    collection = collection_entry_texts(resources, base_url, order)
    yield "bundle-collection.json", iter_dumps_texts(COLLECTION_HEAD, "entry", _counted(collection, on_item))
    yield (
        "bundle-transaction.json",
        iter_dumps_texts(TRANSACTION_HEAD, "entry", _counted(transaction, on_item)),
    )
    for rtype, lines in ndjson_lines(resources):
        yield f"ndjson/{rtype}.ndjson", _counted(lines, on_item)
    if isinstance(resources, SpilledResources):  # each text made once, for its Bundle entry and here
        for i, (rtype, rid) in enumerate(resources.keys):
            yield f"resources/{rtype}-{rid}.json", resources.indented_bytes(i)
            on_item()
        return
    for res in resources:
        yield f"resources/{res['resourceType']}-{res['id']}.json", dumps(res)
        on_item()


def _counted(items: Iterable[T], on_item: Callable[[], None]) -> Iterator[T]:
    for item in items:
        yield item
        on_item()


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
    paths: list[Path],
    base_url: str | None = None,
    on_load: Callable[[LoadProgress], None] | None = None,
    store: ParseStore | None = None,
    on_compile: Callable[[int, int], None] | None = None,
    *,
    spill: bool = False,
    compiled_store: CompileStore | None = None,
) -> CompiledMappings:
    """``spill``: keep the resources on disk (``spill.py``) rather than as dicts.
    ``compiled_store``: reuse what earlier builds compiled (``fhir/compile_memo.py``)."""
    corpus = load_corpus(paths, progress=on_load, store=store)
    compiled = compile_corpus(corpus, base_url, on_compile, spill=spill, store=compiled_store)
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
    cache: BuildCache | None = None,
    fhir: FhirVersion = DEFAULT_FHIR_VERSION,
) -> BuildResult:
    """Run the whole build; raise before writing anything if any step finds a problem.

    ``out_dir`` is checked before the mappings are read, and again with the source documents
    directory once the corpus file has named it. ``fhir`` is the FHIR version written: R5 (what
    the mappers produce) or R4B (converted by ``convert/``, every conversion in the report).
    ``cache`` (see ``build_cache.py``) lets unchanged mapping files skip their YAML parse and
    unchanged resources their validation; it is saved only when the build succeeded.
    """
    check_out_dir(out_dir, protected_dirs(paths))

    def on_load(at: LoadProgress) -> None:
        progress(f"reading {at.files_total} mapping files", at.bytes_done, at.bytes_total or None)

    def on_compile(done: int, total: int) -> None:
        progress(f"compiling {total} mapping files into FHIR resources", done, total)

    mapped = compile_mappings(paths, base_url, on_load, cache, on_compile, spill=True, compiled_store=cache)
    compiled, report = mapped.compiled, mapped.report
    resources: Sequence[dict] = compiled.resources
    if fhir is not DEFAULT_FHIR_VERSION:
        resources = _convert(list(resources), report, fhir)
    problems = dangling_references(resources)
    order: Sequence[dict] = (
        resources.view(dependency_indices(resources))
        if isinstance(resources, SpilledResources)
        else dependency_order(resources)
    )
    newly_valid: list[str] = []
    validated: list[int] = []
    if not problems and validate:
        problems, newly_valid = _validate_changed(resources, order, cache, log, progress, fhir, validated)
    elif not problems:
        # Without official validation, parsing with fhir.resources is the only structural check.
        # With it, the validator walks each resource against the StructureDefinitions (elements,
        # cardinality, types, primitives, choice types), which covers everything this parse finds,
        # so running both only doubled the cost (publish already relies on the validator alone).
        progress(f"checking the structure of {len(resources)} resources (fhir.resources)", 0, None)
        problems = structural_problems_in_chunks(
            resources, fhir, VALIDATE_CHUNK, len(os.sched_getaffinity(0))
        )
    if problems:
        raise ValidationFailedError(
            f"{len(problems)} problems in the generated FHIR resources; nothing was written",
            details=summarise_problems(problems),
        )
    protected = protected_dirs(paths, mapped.sources_dir)
    # progress counts resources written (each is written four times: its file, two Bundles, NDJSON)
    stage = f"writing {output_count(resources)} files"
    written = [0]

    def on_item() -> None:
        written[0] += 1
        if written[0] % _WRITE_PROGRESS_EVERY == 0:
            progress(stage, written[0], 4 * len(resources))

    outputs = iter_outputs(resources, report, report["base_url"], order, on_item, fhir)
    updated = write_build(out_dir, outputs, protected)
    progress(stage, 4 * len(resources), 4 * len(resources))
    if cache is not None:
        cache.mark_valid(newly_valid)
        cache.commit()
        cache.prune()
    return BuildResult(
        resources,
        report,
        mapped.file_count,
        compiled.conflicts,
        compiled_reused=compiled.reused,
        publication_count=compiled.publication_count,
        validated=validated[0] if validated else None,
        updated=updated,
    )
