"""The importers stage builds on ``sources`` (and the shared modules) and on no later stage."""

from __future__ import annotations

import ast
from pathlib import Path

import evidence_publisher.importers as importers

ALLOWED = {"importers", "sources", "errors", "limits", "jsonio", "interrupts"}


def test_importers_import_no_later_stage() -> None:
    found = set()
    for module in Path(importers.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found |= {n.split(".")[1] for n in names if n.startswith("evidence_publisher.")}
    assert found <= ALLOWED, found - ALLOWED
