"""The R5 -> R4B conversion: what each kind of rule does, that nothing is dropped unreported,
and that an element without a rule stops the build."""

from __future__ import annotations

import copy
import json

import pytest

from evidence_publisher.convert import UnmappedElementError, to_r4b
from evidence_publisher.convert.xver import XVER_BASE, Choice, Kind, encode


def _by_key(resources: list[dict]) -> dict[str, dict]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def test_the_input_is_not_changed(golden_r5) -> None:
    before = copy.deepcopy(golden_r5)
    to_r4b(golden_r5)
    assert golden_r5 == before


def test_certainty_ratings_become_evidence_certainty(golden_r5) -> None:
    result = to_r4b(golden_r5)
    out = _by_key(result.resources)
    assert not [k for k in out if k.startswith("ArtifactAssessment/")]
    aa = _by_key(golden_r5)["ArtifactAssessment/liang-2010-sledai-12m-certainty"]
    evidence = out["Evidence/liang-2010-sledai-12m"]
    (certainty,) = [c for c in evidence["certainty"] if c.get("id") == aa["id"]]
    content = aa["content"][0]
    assert certainty["rating"]["coding"][0]["code"] == content["classifier"][0]["coding"][0]["code"]
    assert [s["description"] for s in certainty["subcomponent"]] == [
        c["summary"] for c in content["component"]
    ]
    assert result.moved[f"ArtifactAssessment/{aa['id']}"] == "Evidence/liang-2010-sledai-12m"


def test_other_assessments_become_basic_with_their_content_in_extensions(golden_r5) -> None:
    result = to_r4b(golden_r5)
    out = _by_key(result.resources)
    basic = out["Basic/rec-stem-cell-refractory-lupus-justification"]
    assert basic["subject"] == {"reference": "Composition/rec-stem-cell-refractory-lupus"}
    content = [e for e in basic["extension"] if e["url"] == XVER_BASE + "ArtifactAssessment.content"]
    assert len(content) == 2  # one per R5 content entry
    text = json.dumps(content)
    assert "Evidence/liang-2010-sledai-12m" in text and "justification" in text
    # references follow the assessment
    refs = json.dumps(out["Composition/rec-stem-cell-refractory-lupus"])
    assert "Basic/rec-stem-cell-refractory-lupus-justification" in refs and "ArtifactAssessment/" not in refs


def test_every_extension_and_move_is_reported(golden_r5) -> None:
    result = to_r4b(golden_r5)
    reported = {(c.resource, c.r5_path) for c in result.conversions}
    evidence = _by_key(result.resources)["Evidence/liang-2010-sledai-12m"]
    xver = [e["url"] for e in evidence.get("extension", []) if e["url"].startswith(XVER_BASE)]
    assert {XVER_BASE + "Evidence.name", XVER_BASE + "Evidence.studyDesign"} <= set(xver)
    assert ("Evidence/liang-2010-sledai-12m", "Evidence.studyDesign") in reported
    assert ("Evidence/liang-2010-sledai-12m", "Evidence.meta.profile") in reported
    assert ("Group/liang-2010-population", "Group.membership") in reported


def test_elements_r4b_has_are_used(golden_r5) -> None:
    out = _by_key(to_r4b(golden_r5).resources)
    group = out["Group/liang-2010-population"]
    assert group["actual"] is True and "membership" not in group
    entry = out["Citation/liang-2010"]["citedArtifact"]["contributorship"]["entry"][0]
    assert entry["name"] == {"text": "Liang J"} and entry["listOrder"] == 1
    form = out["Citation/liang-2010"]["citedArtifact"]["publicationForm"][0]
    assert form["periodicRelease"] == {
        "dateOfPublication": {"text": "2010 Aug"},
        "issue": "8",
        "volume": "69",
    }
    related = out["Evidence/liang-2010-sledai-12m"]["relatedArtifact"]
    assert any(r.get("resource", "").endswith("/Citation/liang-2010|1.0.0") for r in related)
    plan = out["PlanDefinition/rec-stem-cell-refractory-lupus-plan"]
    assert plan["action"][0]["input"][0]["type"] == "Condition"  # the DataRequirement itself
    study = out["ResearchStudy/liang-2010-study"]
    assert study["_status"]["extension"][0]["valueCode"] == "unknown" and "status" not in study


def test_an_element_without_a_rule_stops_the_conversion(golden_r5) -> None:
    resources = copy.deepcopy(golden_r5)
    ev = next(r for r in resources if r["resourceType"] == "EvidenceVariable" and "characteristic" in r)
    for c in ev["characteristic"]:
        c.setdefault("timeFromEvent", [{"description": "x"}])[0]["notAnElement"] = True
    with pytest.raises(UnmappedElementError, match=r"timeFromEvent\.notAnElement"):
        to_r4b(resources)


def test_complex_extension_encoding() -> None:
    kind: Kind = {"description": "markdown", "eventReference": Choice("Reference")}
    (ext,) = encode("X.y", {"eventReference": {"reference": "A/b"}, "description": "d"}, kind)
    assert ext == {
        "url": XVER_BASE + "X.y",
        "extension": [
            {"url": "description", "valueMarkdown": "d"},
            {"url": "event", "valueReference": {"reference": "A/b"}},
        ],
    }


def test_a_version_the_build_cannot_write_is_refused_before_anything_is_written(tmp_path) -> None:
    from tests.convert.conftest import REPO

    from evidence_publisher.constants import FHIR_VERSIONS
    from evidence_publisher.convert import UnsupportedFhirVersionError
    from evidence_publisher.pipeline import build

    out = tmp_path / "dist"
    with pytest.raises(UnsupportedFhirVersionError, match="R4"):
        build([REPO / "mappings" / "lupus-msc"], out_dir=out, validate=False, fhir=FHIR_VERSIONS["R4"])
    assert not out.exists()
