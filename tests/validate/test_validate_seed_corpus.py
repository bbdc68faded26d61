"""The project's own seed corpus (the lead's build output) validates with zero errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.jsonio import load_file

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
        for (_r, o), src in zip(report.outcomes, report.sources, strict=True)
        for i in errors_of(o)
    ]
    assert errors == []


def test_seed_bundles_have_zero_errors(validator, seed_dist: Path):
    bundles = sorted(seed_dist.glob("bundle-*.json"))
    assert bundles
    for path in bundles:
        report = validator.validate([load_file(path)])
        assert report.error_count == 0, (
            path.name,
            [(r.get("resourceType"), r.get("id"), errors_of(o)) for r, o in report.outcomes if errors_of(o)],
        )


def test_whole_dist_directory_validates(seed_dist: Path, capsys):
    """`validate dist/` knows the build layout: every resource once (resources/), not again from
    the Bundles and the NDJSON; build-report.json is not read as FHIR."""
    import json

    assert main(["validate", str(seed_dist), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    sources = {o["source"] for o in doc["outcomes"]}
    assert not any(s.endswith(("build-report.json", ".ndjson")) or "bundle-" in s for s in sources)
    labels = [o["resource"] for o in doc["outcomes"]]
    assert len(labels) == len(set(labels)) == len(list((seed_dist / "resources").glob("*.json")))
    assert doc["errors"] == 0
    assert "once each" in doc["notes"][0]
