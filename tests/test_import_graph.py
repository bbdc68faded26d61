"""The layering of ``src/evidence_publisher``: no module imports a later stage, and no imports go
round in a cycle.

Every import counts: at the top of a module, inside a function (imported late to start faster)
and under ``TYPE_CHECKING``. A cycle through type hints alone is still two modules that cannot be
understood one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "evidence_publisher"

# The pipeline's order, earliest first (README, "Layout"). A module may import its own layer and
# earlier ones. The first layer holds the shared utilities every stage may use.
LAYERS: list[set[str]] = [
    {
        "",
        "errors",
        "constants",
        "limits",
        "jsonio",
        "reference_strings",
        "spill",
        "spilled_rows",
        "urlsafety",
        "interrupts",
        "crashlog",
        "workers",
        "update_journal",
    },
    {"fhirpath"},  # the FHIRPath engine shared by validate and cds
    {"packages"},
    {"sources", "importers"},  # importers write mappings for sources to read, and use its model
    {"fhir"},
    {"convert"},  # the R5 output of fhir/ rewritten for another FHIR version
    {"validate"},
    {"bundle"},
    {"fhirclient"},  # the FHIR REST client of publish, cds and site (it asks bundle what may be replayed)
    {"publish"},
    {"cds"},
    {"output", "output_inplace"},
    {"pipeline", "build_cache", "build_summary", "build_validation"},
    {"site"},  # built from the output of a build (or a server)
    {"cli", "cli_render"},
]


def module_names() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports() -> dict[str, set[str]]:
    """Module -> the modules of this package it imports (a package's ``__init__`` as the package)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == ROOT}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1 packages
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], base])
                if base.split(".")[0] != ROOT:
                    continue
                submodules = {f"{base}.{a.name}" for a in node.names} & set(modules)
                # ``from pkg import module`` imports that module; anything else comes from ``pkg``
                found |= submodules
                if len(submodules) < len(node.names):
                    found.add(base)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def unit(module: str) -> str:
    """The stage (or top-level module) a module belongs to: ``evidence_publisher.fhir.citation`` ->
    ``fhir``; the package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    return next(i for i, units in enumerate(LAYERS) if unit(module) in units)


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({unit(m) for m in module_names()} - set().union(*LAYERS))
    assert unplaced == [], "add these to LAYERS in tests/test_import_graph.py (and the README)"


def test_no_stage_imports_a_later_one() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in sorted(imports().items())
        for target in sorted(targets)
        if layer(target) > layer(source)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    graph = imports()
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == [], "modules that import each other (directly or around a loop)"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; each component sorted, the list sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(components)
