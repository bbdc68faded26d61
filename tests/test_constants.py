"""Shared FHIR facts are written once, in ``constants.py``.

A text literal in ``src/`` may not repeat a value of ``constants.py``, nor spell out a URL under
one of its StructureDefinition bases (build it from the base instead), and no other collection may
list the canonical resource types again.
"""

from __future__ import annotations

import ast
from pathlib import Path

from evidence_publisher import constants

SRC = Path(__file__).resolve().parent.parent / "src" / "evidence_publisher"
# Being rewritten on other branches (the FHIRPath package, the validator walk): they keep their
# copies until those merges; the lead removes them from this list then.
NOT_YET = {
    "validate/walker.py",
    "validate/fhirpath.py",
    "validate/fhirpath_compiler.py",
    "validate/shortcuts.py",
    "cds/fast_fhirpath.py",
    "cds/fhirpath_syntax.py",
}
BASES = (constants.CORE_SD, constants.EBM_SD)


def _shared_texts() -> set[str]:
    return {
        value
        for name, value in vars(constants).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("http://", "https://"))
    }


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel != "constants.py" and rel not in NOT_YET:
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"))))
    return out


def test_no_copy_of_a_shared_value() -> None:
    shared = _shared_texts()
    copies = [
        f"{rel}:{node.lineno}: {node.value}"
        for rel, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (node.value in shared or node.value.startswith(BASES))
    ]
    assert copies == [], "import the value (or its base) from evidence_publisher.constants"


def test_one_list_of_canonical_types() -> None:
    lists = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Set | ast.List | ast.Tuple):
                texts = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(texts & constants.CANONICAL_TYPES) >= 3:
                    lists.append(f"{rel}:{node.lineno}")
    assert lists == [], "use constants.CANONICAL_TYPES (or a set derived from it)"


def test_url_searchable_types_are_canonical_types_with_a_url_search() -> None:
    assert constants.URL_SEARCHABLE_TYPES < constants.CANONICAL_TYPES
    assert constants.CANONICAL_TYPES - constants.URL_SEARCHABLE_TYPES == {"ResearchStudy"}


def test_every_fhir_version_has_consistent_type_lists_and_packages() -> None:
    for name, fv in constants.FHIR_VERSIONS.items():
        assert fv.release == name and constants.fhir_version(name.lower()) is fv
        assert fv.url_searchable_types <= fv.canonical_types <= fv.output_types | {"Library"}
        assert fv.core == (f"hl7.fhir.{name.lower()}.core", fv.version)
    assert constants.DEFAULT_FHIR_VERSION.version == constants.FHIR_VERSION == "5.0.0"
