"""convert/r4.py: the seed recommendation's PlanDefinition and ActivityDefinition in their R4 form
(what HAPI's clinical-reasoning engine runs; tests/real_hapi/test_r4_apply.py runs it there)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from evidence_publisher import jsonio
from evidence_publisher.cli import main
from evidence_publisher.convert.errors import R4ConversionError
from evidence_publisher.convert.r4 import (
    EXT_INPUT_TITLE,
    EXT_RESOURCE_REFERENCE,
    R4Result,
    r4_condition,
    read_build,
    to_r4,
)
from evidence_publisher.errors import ExitCode

PLAN = "rec-stem-cell-refractory-lupus-plan"


@pytest.fixture(scope="module")
def r5(built_corpus: Path) -> list[dict[str, Any]]:
    return read_build(built_corpus)


@pytest.fixture(scope="module")
def r4(r5: list[dict[str, Any]]) -> R4Result:
    return to_r4(r5)


def by_type(resources: list[dict[str, Any]], rtype: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["resourceType"] == rtype]
    return found


def test_only_the_plan_and_its_activity_are_converted(r4: R4Result) -> None:
    assert [(r["resourceType"], r["id"]) for r in r4.resources] == [
        ("ActivityDefinition", "refer-stem-cell-centre"),
        ("PlanDefinition", PLAN),
    ]


def test_conditions_keep_the_r5_predicate_over_a_cql_retrieve(r5: list[dict[str, Any]], r4: R4Result) -> None:
    r5_conditions = by_type(r5, "PlanDefinition")["action"][0]["condition"]
    r4_conditions = by_type(r4.resources, "PlanDefinition")["action"][0]["condition"]
    assert [c["expression"]["language"] for c in r4_conditions] == ["text/cql", "text/cql"]
    assert [c["expression"]["name"] for c in r4_conditions] == [
        "severe-active-sle",
        "failed-standard-immunosuppression",
    ]
    sle, med = (c["expression"]["expression"] for c in r4_conditions)
    assert sle == r5_conditions[0]["expression"]["expression"].replace(
        "entry.resource.ofType(Condition).where(", "([Condition]).where(", 1
    )
    assert med == (
        "([MedicationRequest]).where(medication.coding.where((system = 'http://snomed.info/sct' and "
        "code = '74470007')).exists() and (status = 'completed' or status = 'stopped')).exists()"
    )
    assert [c["expression"]["description"] for c in r4_conditions] == [
        c["expression"]["description"] for c in r5_conditions
    ]


def test_r5_only_elements_are_carried_and_listed(r5: list[dict[str, Any]], r4: R4Result) -> None:
    pd5, pd4 = by_type(r5, "PlanDefinition"), by_type(r4.resources, "PlanDefinition")
    assert "meta" not in pd4 and "meta" not in by_type(r4.resources, "ActivityDefinition")
    carried = [
        ext["valueReference"]
        for ra in pd4["relatedArtifact"]
        for ext in ra.get("extension", [])
        if ext["url"] == EXT_RESOURCE_REFERENCE
    ]
    assert carried == [  # R4 represents an ArtifactAssessment as a Basic (test_r4_validation.py)
        {"reference": ra["resourceReference"]["reference"].replace("ArtifactAssessment/", "Basic/")}
        for ra in pd5["relatedArtifact"]
        if "resourceReference" in ra
    ]
    assert all("resourceReference" not in ra for ra in pd4["relatedArtifact"])
    inputs5, inputs4 = pd5["action"][0]["input"], pd4["action"][0]["input"]
    assert [{k: v for k, v in i.items() if k != "extension"} for i in inputs4] == [
        i["requirement"] for i in inputs5
    ]
    assert [i["extension"] for i in inputs4] == [
        [{"url": EXT_INPUT_TITLE, "valueString": i["title"]}] for i in inputs5
    ]
    listed = "\n".join(r4.conversions)
    assert listed.count("carried by the cross-version extension") == len(carried)
    assert "meta.profile" in listed and "action[0].input" in listed and "condition[1]" in listed


def test_everything_else_is_unchanged(r5: list[dict[str, Any]], r4: R4Result) -> None:
    ad5, ad4 = by_type(r5, "ActivityDefinition"), by_type(r4.resources, "ActivityDefinition")
    assert {k: v for k, v in ad5.items() if k != "meta"} == ad4
    pd5, pd4 = by_type(r5, "PlanDefinition"), by_type(r4.resources, "PlanDefinition")
    same = set(pd5) - {"meta", "relatedArtifact", "action"}
    assert {k: pd5[k] for k in same} == {k: pd4[k] for k in same}


def test_an_element_without_a_rule_stops_the_conversion(r5: list[dict[str, Any]]) -> None:
    changed = copy.deepcopy(r5)
    pd = by_type(changed, "PlanDefinition")
    pd["subjectCanonical"] = "http://example.org/fhir/Group/x"
    with pytest.raises(R4ConversionError, match=rf"PlanDefinition/{PLAN}: element\(s\) subjectCanonical"):
        to_r4(changed)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("%subject.gender = 'female'", "is not of the form"),
        ("entry.resource.ofType(Encounter).where(class.code = 'x').exists()", "conditions on Encounter"),
    ],
)
def test_a_condition_without_an_r4_reading_is_refused(expression: str, message: str) -> None:
    with pytest.raises(R4ConversionError, match=message):
        r4_condition(expression, "PlanDefinition/x.action[0].condition[0]")


def test_cli_writes_the_files_and_refuses_to_overwrite(built_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "r4"
    assert main(["convert", "r4", str(built_corpus), "--out", str(out)]) == ExitCode.OK
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert written == [
        "r4-transaction.json",
        "resources/ActivityDefinition-refer-stem-cell-centre.json",
        f"resources/PlanDefinition-{PLAN}.json",
    ]
    bundle = jsonio.load_file(out / "r4-transaction.json")
    assert [e["request"] for e in bundle["entry"]] == [
        {"method": "PUT", "url": "ActivityDefinition/refer-stem-cell-centre"},
        {"method": "PUT", "url": f"PlanDefinition/{PLAN}"},
    ]
    before = (out / "r4-transaction.json").read_bytes()
    assert main(["convert", "r4", str(built_corpus), "--out", str(out)]) == ExitCode.WRITE_FAILED
    assert (out / "r4-transaction.json").read_bytes() == before
    assert main(["convert", "r4", str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")]) == ExitCode.USAGE
    assert not (tmp_path / "o2").exists()
