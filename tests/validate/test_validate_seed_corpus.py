"""The project's own seed corpus (the lead's build output) validates with zero errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import seed_findings
from evidence_publisher.cli import main
from evidence_publisher.jsonio import load_file
from evidence_publisher.validate.outcome import split_diagnostics

from .conftest import REPO, errors_of


@pytest.fixture(scope="module")
def seed_dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed") / "dist"
    code = main(["build", str(REPO / "mappings" / "lupus-msc"), "--out", str(out), "--no-validate"])
    assert code == 0
    return out


def test_seed_resources_have_zero_errors(validator, seed_dist: Path):
    files = sorted((seed_dist / "resources").glob("*.json"))
    assert len(files) > 20
    report = validator.validate_files(files)
    errors = [
        (src, i["expression"], i["diagnostics"])
        for (r, o), src in zip(report.outcomes, report.sources, strict=True)
        for i in errors_of(o)
        if not _known(r, i)
    ]
    assert errors == []


def test_seed_bundles_have_zero_errors(validator, seed_dist: Path):
    bundles = sorted(seed_dist.glob("bundle-*.json"))
    assert bundles
    for path in bundles:
        report = validator.validate([load_file(path)])
        errors = [
            (r.get("resourceType"), r.get("id"), i)
            for r, o in report.outcomes
            for i in errors_of(o)
            if not _known(r, i)
        ]
        assert errors == [], path.name


def test_whole_dist_directory_validates(seed_dist: Path, capsys):
    """`validate dist/` skips build-report.json and reads the NDJSON and Bundles too."""
    import json

    code = main(["validate", str(seed_dist), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    sources = {o["source"] for o in doc["outcomes"]}
    assert not any(s.endswith("build-report.json") for s in sources)
    assert any(s.endswith(".ndjson") for s in sources)
    unknown = [
        i
        for o in doc["outcomes"]
        for i in errors_of(o["outcome"])
        if not seed_findings.is_known(o["resource"], i["expression"][0], *split_diagnostics(i))
    ]
    assert unknown == []
    assert code == (0 if doc["errors"] == 0 else 12)


def _known(resource: dict, issue: dict) -> bool:
    label = f"{resource.get('resourceType')}/{resource.get('id')}"
    return seed_findings.is_known(label, issue["expression"][0], *split_diagnostics(issue))
