"""Official validation of a large build, a chunk of resources at a time.

The resources of a build are validated as entries of its collection Bundle: each is walked with
the Bundle's references index. Holding that Bundle means holding every resource as a dict, so a
large build is validated ``chunk`` resources at a time, in dependency order, each chunk against a
``RefIndex`` (see ``validate/stream.py``) of the chunk and of the resources it references: an
outline of each (what the reference checks read), the whole resource read again only for
FHIRPath's ``resolve()``. Only the chunk's dicts and its outcomes are held at once.

What is not done this way: the walk of the collection Bundle's own elements (its ``type`` and
each entry's ``fullUrl``, made by ``collection_entries`` from the resource's ``Type/id``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from evidence_publisher.bundle.transaction import local_ref
from evidence_publisher.constants import FhirVersion
from evidence_publisher.spill import ResourceView, reference_strings, type_ids
from evidence_publisher.validate import Validator, error_lines, structural_problems
from evidence_publisher.validate.outcome import ValidationReport
from evidence_publisher.validate.stream import RefIndex, outline
from evidence_publisher.validate.walk.context import type_id_key
from evidence_publisher.workers import FAILED, pool_map


class _ChunkIndex(RefIndex):
    """A ``RefIndex`` whose resources are ``order``'s: ``place``'s ordinal is a position there."""

    def __init__(self, order: Sequence[dict]) -> None:
        super().__init__()
        self.order = order
        self.bundle_type = "collection"  # unresolved references are reported as in the Bundle

    def resolve_full(self, ref: str) -> dict | None:
        key = type_id_key(ref)
        found = self.where.get(key) if key is not None else None
        return None if found is None else self.order[found[1]]


def validate_in_chunks(validator: Validator, order: Sequence[dict], chunk: int, jobs: int = 1) -> list[str]:
    """``error_lines`` of every resource of ``order`` (a build's resources in dependency order).

    With ``jobs > 1`` the chunks are validated in worker processes forked once the definitions
    are loaded (``order`` must then be readable from a forked process, as ``SpilledResources``
    is); the lines come back in chunk order, the same whatever the number of jobs.
    """
    _WORK.update(validator=validator, order=order, chunk=chunk)
    _WORK["position"] = {f"{rtype}/{rid}": i for i, (rtype, rid) in enumerate(type_ids(order))}
    try:
        return _chunk_lines(_validate_chunk, len(order), chunk, jobs)
    finally:
        _WORK.clear()


def _chunk_lines(fn: Callable[[int], list[str]], count: int, chunk: int, jobs: int) -> list[str]:
    """``fn(start)`` of each chunk of ``count`` items, joined in chunk order: in ``jobs`` worker
    processes forked now (inheriting ``_WORK``) when there are two or more, here otherwise; a chunk
    a worker could not do (an input error) is done again here, to raise that error."""
    starts = list(range(0, count, chunk))
    if jobs > 1 and len(starts) > 1:
        batches = pool_map(jobs, fn, [[start] for start in starts], len(starts))
        results: Iterable[list[str] | None] = (lines for batch in batches for lines in batch)
    else:
        results = map(fn, starts)
    problems: list[str] = []
    for start, lines in zip(starts, results, strict=True):
        problems += fn(start) if lines is FAILED else lines
    return problems


def _chunk_references(
    order: Sequence[dict], start: int, resources: Sequence[dict]
) -> Iterable[Iterable[str]]:
    """``reference_values`` of each of ``resources``, which are ``order`` from ``start`` on."""
    if isinstance(order, ResourceView):  # a view of the chunk: its strings were recorded
        return reference_strings(order.store.view(order.indices[start : start + len(resources)]))
    return reference_strings(resources)


# What a chunk's validation needs, set before the pool is forked (each worker inherits it once).
_WORK: dict[str, Any] = {}


def _validate_chunk(start: int) -> list[str]:
    validator: Validator = _WORK["validator"]
    order: Sequence[dict] = _WORK["order"]
    position: dict[str, int] = _WORK["position"]
    resources = order[start : start + _WORK["chunk"]]
    index = _ChunkIndex(order)
    outgoing = _chunk_references(order, start, resources)
    targets = {position[t] for refs in outgoing for t in refs if t in position}
    own = range(start, start + len(resources))
    for i in sorted(targets | set(own)):
        res = resources[i - start] if i in own else order[i]
        index.place(local_ref(res), "", i, outline(res))
    report = ValidationReport()
    done: set[int] = set()
    for res in resources:
        validator.validate_into(res, report, index, done)
    return error_lines(report)


def structural_problems_in_chunks(
    resources: Sequence[dict], fhir: FhirVersion, chunk: int, jobs: int
) -> list[str]:
    """``structural_problems`` of ``resources`` (the fhir.resources parse of ``build --no-validate``),
    ``chunk`` resources at a time in ``jobs`` worker processes forked now (``resources`` must be
    readable from a forked process: a ``SpilledResources``, or dicts), the lines in resource
    order, as one process gives them."""
    if jobs > 1 and len(resources) > chunk:
        _warm_models({rtype for rtype, _id in type_ids(resources)}, fhir)
    _WORK.update(resources=resources, chunk=chunk, fhir=fhir)
    try:
        return _chunk_lines(_parse_chunk, len(resources), chunk, jobs)
    finally:
        _WORK.clear()


def _warm_models(types: set[str], fhir: FhirVersion) -> None:
    """Import the model class of each type before the workers are forked (each would import it)."""
    if fhir.models_module is None:
        return
    get_fhir_model_class = importlib.import_module(fhir.models_module).get_fhir_model_class
    for rtype in sorted(types):
        try:
            get_fhir_model_class(rtype)
        except (KeyError, ValueError):
            pass  # an unknown type: structural_problems reports it


def _parse_chunk(start: int) -> list[str]:
    resources: Sequence[dict] = _WORK["resources"]
    return structural_problems(resources[start : start + _WORK["chunk"]], _WORK["fhir"])
