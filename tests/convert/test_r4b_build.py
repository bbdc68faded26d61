"""``build --fhir-version R4B``: the corpus written as R4B, validated against hl7.fhir.r4b.core
4.3.0 with zero errors, with Bundles, NDJSON and the conversions in the build report."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.convert.conftest import CACHE, REPO

from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.validate import Validator, error_lines

R4B = FHIR_VERSIONS["R4B"]


@pytest.fixture(scope="module")
def r4b_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from evidence_publisher.pipeline import build

    old = os.environ.get("FHIR_PACKAGE_CACHE")
    os.environ["FHIR_PACKAGE_CACHE"] = str(CACHE)
    out = tmp_path_factory.mktemp("r4b") / "dist"
    try:
        build([REPO / "mappings" / "lupus-msc"], out_dir=out, fhir=R4B)  # validates; raises on errors
        yield out
    finally:
        if old is None:
            os.environ.pop("FHIR_PACKAGE_CACHE", None)
        else:
            os.environ["FHIR_PACKAGE_CACHE"] = old


def _resources(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "resources").glob("*.json"))]


def test_every_file_validates_against_r4b_with_zero_errors(r4b_build: Path, package_cache) -> None:
    validator = Validator(package_cache.definitions(fhir=R4B), fhir=R4B)
    report = validator.validate_files([r4b_build / "resources", r4b_build / "bundle-transaction.json"])
    assert error_lines(report) == []
    assert report.outcomes, "something was validated"


def test_r5_validation_of_the_r4b_output_fails(r4b_build: Path, package_cache) -> None:
    """The R4B validation above means something: the R5 definitions reject the same files."""
    validator = Validator(package_cache.definitions())
    assert error_lines(validator.validate(_resources(r4b_build)))


def test_the_report_lists_the_version_and_each_conversion(r4b_build: Path) -> None:
    report = json.loads((r4b_build / "build-report.json").read_text(encoding="utf-8"))
    assert report["fhir_version"] == {"release": "R4B", "version": "4.3.0"}
    conversions = {(c["resource"], c["r5_path"]) for c in report["conversions"]}
    assert ("Evidence/liang-2010-sledai-12m", "Evidence.studyDesign") in conversions
    assert ("ArtifactAssessment/liang-2010-sledai-12m-certainty", "ArtifactAssessment.content") in conversions
    files = {f"{r['resourceType']}/{r['id']}" for r in _resources(r4b_build)}
    assert {f"{e['type']}/{e['id']}" for e in report["resources"]} == files
    assert report["resource_count"] == len(files)


def test_bundles_and_ndjson_are_r4b(r4b_build: Path) -> None:
    resources = {f"{r['resourceType']}/{r['id']}": r for r in _resources(r4b_build)}
    bundle = json.loads((r4b_build / "bundle-transaction.json").read_text(encoding="utf-8"))
    assert len(bundle["entry"]) == len(resources)
    urls = {e["request"]["url"].split("?")[0] for e in bundle["entry"]}
    assert "ArtifactAssessment" not in urls and "Basic" in urls
    composition = next(e for e in bundle["entry"] if e["request"]["url"].startswith("Composition?"))
    assert composition["request"]["url"].startswith("Composition?identifier=")  # no url in R4B
    ndjson = {p.stem for p in (r4b_build / "ndjson").glob("*.ndjson")}
    assert ndjson == {r.split("/")[0] for r in resources}


def test_commands_that_read_r5_builds_refuse_an_r4b_build(r4b_build: Path) -> None:
    from evidence_publisher.cds.errors import KnowledgeLoadError
    from evidence_publisher.cds.knowledge import load_from_path
    from evidence_publisher.publish import InvalidPublishInputError, load_dist

    with pytest.raises(InvalidPublishInputError, match="is a FHIR R4B build"):
        load_dist(r4b_build)
    with pytest.raises(KnowledgeLoadError, match="is a FHIR R4B build"):
        load_from_path(r4b_build)


def test_the_npm_package_of_an_r4b_build_says_r4b(r4b_build: Path, package_cache, tmp_path: Path) -> None:
    from evidence_publisher.packages.writer import package_build

    built = package_build(r4b_build, tmp_path / "package.tgz", cache=package_cache)
    assert built.manifest["fhirVersions"] == ["4.3.0"]
    assert built.manifest["dependencies"]["hl7.fhir.r4b.core"] == "4.3.0"
    assert "hl7.fhir.r5.core" not in built.manifest["dependencies"]
