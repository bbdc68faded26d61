"""Grouping resources into transaction chunks that never split a dependency.

The reference graph (resource -> the ``Type/id`` it references) is taken as undirected; each
connected component goes into one chunk, so every chunk is a valid, atomic transaction on its own
(no ``urn:uuid`` points outside it). Components are packed in input order into chunks of at most
``size`` resources; a component larger than ``size`` stays whole in a chunk of its own, marked
``oversized``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evidence_publisher.bundle.references import reference_targets
from evidence_publisher.bundle.transaction import local_ref


@dataclass
class Chunk:
    index: int
    resources: list[dict] = field(default_factory=list)
    oversized: bool = False


def components(resources: list[dict]) -> list[list[dict]]:
    """Connected components of the reference graph, each in input order, ordered by their
    first member's position."""
    refs = [local_ref(r) for r in resources]
    position = {ref: i for i, ref in enumerate(refs)}
    parent = list(range(len(resources)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, res in enumerate(resources):
        for target in reference_targets(res):
            j = position.get(target)
            if j is not None:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[dict]] = {}
    for i, res in enumerate(resources):
        groups.setdefault(find(i), []).append(res)
    return [groups[k] for k in sorted(groups)]


def chunk_resources(resources: list[dict], size: int | None) -> list[Chunk]:
    """Chunks of at most ``size`` resources (``None``: everything in one chunk)."""
    if not resources:
        return []
    if size is None:
        return [Chunk(0, list(resources))]
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size!r}")
    chunks: list[Chunk] = []
    current: list[dict] = []
    for comp in components(resources):
        if len(comp) > size:
            chunks.append(Chunk(0, list(comp), oversized=True))  # whole, and on its own
            continue
        if len(current) + len(comp) > size:
            chunks.append(Chunk(0, current))
            current = []
        current.extend(comp)
    if current:
        chunks.append(Chunk(0, current))
    for index, chunk in enumerate(chunks):
        chunk.index = index
    return chunks
