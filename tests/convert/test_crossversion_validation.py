"""The validator checks cross-version extensions against the R5 element they name (no package
defining them is on npm): value types, sub-extension names and repetitions."""

from __future__ import annotations

import copy

import pytest

from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.convert import to_r4b
from evidence_publisher.convert.xver import XVER_BASE
from evidence_publisher.validate import Validator

R4B = FHIR_VERSIONS["R4B"]


@pytest.fixture(scope="module")
def validator(package_cache) -> Validator:
    return Validator(package_cache.definitions(fhir=R4B), fhir=R4B)


@pytest.fixture(scope="module")
def r4b(golden_r5) -> dict[str, dict]:
    return {f"{r['resourceType']}/{r['id']}": r for r in to_r4b(golden_r5).resources}


def _issues(validator: Validator, resource: dict) -> list[tuple[str, str]]:
    outcome = validator.validate_resource(resource)
    return [(i["severity"], i.get("diagnostics", "")) for i in outcome.get("issue", [])]


def _ext(resource: dict, path: str) -> dict:
    return next(e for e in resource["extension"] if e["url"] == XVER_BASE + path)


def test_the_converted_resources_carry_their_elements_correctly(validator, r4b) -> None:
    for key in (
        "Evidence/liang-2010-sledai-12m",
        "ResearchStudy/liang-2010-study",
        "Composition/rec-stem-cell-refractory-lupus",
    ):
        issues = _issues(validator, r4b[key])
        assert [i for i in issues if i[0] == "error"] == [], key
        assert not [i for i in issues if "extension-unknown" in i[1] or "not defined in any" in i[1]], key


def test_a_value_of_the_wrong_type_is_an_error(validator, r4b) -> None:
    evidence = copy.deepcopy(r4b["Evidence/liang-2010-sledai-12m"])
    ext = _ext(evidence, "Evidence.studyDesign")
    ext["valueString"] = "design"
    del ext["valueCodeableConcept"]
    assert (
        "error",
        "[xver-value] valueString is not a type of Evidence.studyDesign (CodeableConcept)",
    ) in _issues(validator, evidence)


def test_an_unknown_child_or_element_is_an_error(validator, r4b) -> None:
    study = copy.deepcopy(r4b["ResearchStudy/liang-2010-study"])
    _ext(study, "ResearchStudy.recruitment")["extension"].append({"url": "notAChild", "valueString": "x"})
    study["extension"].append({"url": XVER_BASE + "ResearchStudy.noSuchElement", "valueString": "x"})
    errors = [m for s, m in _issues(validator, study) if s == "error"]
    assert "[xver-element] ResearchStudy.recruitment has no child element 'notAChild'" in errors
    assert any("FHIR 5.0 has no element ResearchStudy.noSuchElement" in m for m in errors)


def test_a_complex_element_with_a_value_is_an_error(validator, r4b) -> None:
    study = copy.deepcopy(r4b["ResearchStudy/liang-2010-study"])
    ext = _ext(study, "ResearchStudy.recruitment")
    del ext["extension"]
    ext["valueString"] = "12"
    errors = [m for s, m in _issues(validator, study) if s == "error"]
    assert any("ResearchStudy.recruitment is carried as a complex extension" in m for m in errors)


def test_repetitions_beyond_max_are_an_error(validator, r4b) -> None:
    study = copy.deepcopy(r4b["ResearchStudy/liang-2010-study"])
    ext = _ext(study, "ResearchStudy.recruitment")
    ext["extension"] += [
        {"url": "actualNumber", "valueUnsignedInt": 1},
        {"url": "actualNumber", "valueUnsignedInt": 2},
    ]
    errors = [m for s, m in _issues(validator, study) if s == "error"]
    assert "[xver-max] ResearchStudy.recruitment.actualNumber repeats 3 times (max 1)" in errors
