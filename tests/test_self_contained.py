"""The repository is self-contained: nothing in it cites notes that live outside it.

Facts the code, tests, mappings and docs rely on are stated in our own docs
(docs/ebm-encoding.md, docs/external-facts.md, docs/publishing.md, docs/cds-hooks.md,
docs/validation.md). A citation of a file outside the repository fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "tests", "docs", "mappings", "bench", "examples", "README.md")
SKIPPED_DIRS = {"target", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
THIS_FILE = Path(__file__).resolve()

# Notes kept outside the repository, and the paths they were kept under. docs/cds-hooks.md is our
# own document, so "cds-hooks.md" is allowed when it names that file: after "docs/", or as the
# text or target of a markdown link between docs. The outside note was cited by section ("§").
OUTSIDE = re.compile(
    r"/work/shared|shared/reference|ebm-r5-rules|hapi-behaviours|python-stack"
    r"|(?<![\w-])sources\.md"
    r"|(?<![\w/\[(-])cds-hooks\.md|cds-hooks\.md\)?\s*§"
)


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        top = ROOT / name
        if top.is_file():
            found.append(top)
            continue
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(ROOT).parts
            if path.is_file() and not SKIPPED_DIRS.intersection(rel) and path.resolve() != THIS_FILE:
                found.append(path)
    return found


def outside_citations(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line that cites a note kept outside the repository."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]


@pytest.mark.parametrize(
    ("line", "cites"),
    [
        ("see /work/shared/reference/sources.md section 1", True),
        ("from ``ebm-r5-rules.md`` §3.2", True),
        ("hapi-behaviours.md §14 (item numbers)", True),
        ("structure only (python-stack.md §1)", True),
        ("found outside the corpus (sources.md §3)", True),
        ('"""The conformance checklist of cds-hooks.md §12, one test per item.', True),
        ("the service (see cds-hooks.md for details)", True),
        ("| `serve DIST` | CDS Hooks | [CDS Hooks](docs/cds-hooks.md) |", False),
        ("reported in docs/cds-hooks.md.", False),
        ("(see [cds-hooks.md](cds-hooks.md) for the", False),
        ("found outside the corpus (docs/external-facts.md §3)", False),
        ("a list of data-sources.md entries", False),
    ],
)
def test_the_pattern_tells_outside_notes_from_our_docs(line: str, cites: bool) -> None:
    assert bool(outside_citations(line)) is cites


def test_no_file_cites_notes_kept_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 100  # the scan really walks the tree
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line}"
        for path in files
        for n, line in outside_citations(path.read_bytes().decode("utf-8", errors="replace"))
    ]
    assert not hits, (
        "These lines cite notes kept outside the repository. State the fact in our own docs "
        "(docs/ebm-encoding.md, docs/external-facts.md, docs/publishing.md, docs/cds-hooks.md, "
        "docs/validation.md) and cite that section instead:\n" + "\n".join(hits)
    )
