"""Native checks answer exactly what the FHIRPath expressions answer.

Covers ele-1 / ext-1 / dom-2..6 (native.py) and every invariant decided by the existence-logic
shortcuts (fhirpath/shortcuts.py), on every element where they run.

The walker's differential mode evaluates the official expression with fhirpathpy next to every
native check, on every element of the examples. The one tolerated difference is a known
fhirpathpy bug: ``children()`` does not see a primitive that carries only an extension
(``_event: [{extension: [...]}]`` with no ``event``), so FHIRPath wrongly fails ele-1 there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_publisher.jsonio import load_file

from .conftest import example_files

# target types plus types rich in contained resources, narrative and primitive extensions
EXTRA_TYPES = ("Patient", "Observation", "Library", "Measure")


def _fhirpathpy_children_bug(data, ext) -> bool:
    if data is None:  # primitive with only an extension
        return isinstance(ext, dict) and bool(ext.get("extension"))
    if isinstance(data, dict):  # complex element whose only children are such primitives
        keys = [k for k in data if k != "id"]
        return bool(keys) and all(k.startswith("_") for k in keys)
    return False


@pytest.fixture(scope="module")
def differential(validator, examples_dir: Path):
    files = example_files(examples_dir) + [
        f for f in example_files(examples_dir, EXTRA_TYPES) if f.stat().st_size < 40_000
    ]
    rows = []
    validator.walker.differential = rows
    try:
        for f in files:
            validator.validate_resource(load_file(f))
    finally:
        validator.walker.differential = None
    return rows


def test_differential_covers_every_native_rule(differential):
    keys = {r[0] for r in differential}
    assert keys >= {"ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6"}
    # existence-logic shortcuts (fhirpath/shortcuts.py) are recorded too
    assert keys >= {"cod-1", "ref-2", "qty-3", "ident-1", "cnl-0"}
    assert len(differential) > 10_000
    # both outcomes occur, so agreement is not vacuous
    assert any(r[2] is False for r in differential if r[0] == "dom-6")


def test_native_equals_fhirpath(differential):
    mismatches = [
        (key, type_path, native, fp, str(data)[:80])
        for key, type_path, native, fp, data, ext in differential
        if native != fp
        and not (key == "ele-1" and native and fp is False and _fhirpathpy_children_bug(data, ext))
    ]
    assert mismatches == []


def test_native_catches_what_fhirpath_catches(validator):
    """Direct probes on both sides of each rule."""
    cases = [
        ({"resourceType": "Basic", "code": {"text": "x"}, "identifier": [{"id": "a"}]}, "ele-1"),
        (
            {"resourceType": "Basic", "code": {"text": "x"}, "extension": [{"url": "http://example.org/x"}]},
            "ext-1",
        ),
        (
            {
                "resourceType": "Basic",
                "code": {"text": "x"},
                "contained": [{"resourceType": "Basic", "id": "c", "code": {"text": "y"}}],
            },
            "dom-3",
        ),
        (
            {
                "resourceType": "Basic",
                "code": {"text": "x"},
                "contained": [
                    {"resourceType": "Basic", "id": "c", "code": {"text": "y"}, "meta": {"versionId": "1"}}
                ],
                "extension": [{"url": "http://example.org/x", "valueReference": {"reference": "#c"}}],
            },
            "dom-4",
        ),
    ]
    for res, rule in cases:
        rows = []
        validator.walker.differential = rows
        try:
            outcome = validator.validate_resource(res)
        finally:
            validator.walker.differential = None
        assert any(rule in i["diagnostics"] for i in outcome["issue"]), (rule, outcome)
        failing = [r for r in rows if r[0] == rule and r[2] is False]
        assert failing and all(r[3] is False for r in failing), rule
