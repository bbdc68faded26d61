"""Slicing of profiles named in meta.profile, on official core profiles and official examples.

The official R5 examples claim only ``vitalsigns`` among the sliced core profiles; the specific
vital-signs profiles (``bp``, ``bmi`` ...) and the lipid profiles are applied here to the
example they describe by setting ``meta.profile``. Ordered and closed array slicings are
exercised on ``bp`` variants derived in the test (core has no decidable ordered slicing).
"""

from __future__ import annotations

import copy
import json

import pytest

from evidence_publisher.jsonio import load_file

from .conftest import rule_of

SD = "http://hl7.org/fhir/StructureDefinition/"
# official example (Observation-<name>.json) -> the core profile it exemplifies
SPECIFIC = {
    "blood-pressure": "bp",
    "blood-pressure-cancel": "bp",
    "blood-pressure-dar": "bp",
    "bmi": "bmi",
    "bmi-using-related": "bmi",
    "body-height": "bodyheight",
    "body-length": "bodyheight",
    "body-temperature": "bodytemp",
    "body-weight-with-arabic-code": "bodyweight",
    "head-circumference": "headcircum",
    "heart-rate": "heartrate",
    "respiratory-rate": "resprate",
    "satO2": "oxygensat",
    "vitals-panel": "vitalspanel",
}


def _issues(validator, res: dict) -> set[tuple[str, str, str]]:
    return {
        (i["severity"], rule_of(i), i.get("expression", [""])[0])
        for i in validator.validate_resource(res)["issue"]
    }


def _slice_issues(validator, res: dict) -> set[tuple[str, str, str]]:
    return {x for x in _issues(validator, res) if x[1].startswith("slice-")}


def _errors(validator, res: dict) -> set[tuple[str, str]]:
    return {(r, fp) for sev, r, fp in _issues(validator, res) if sev == "error"}


def _example(examples_dir, name: str, profile: str | None = None) -> dict:
    res = load_file(examples_dir / f"Observation-{name}.json")
    if profile is not None:
        res.setdefault("meta", {})["profile"] = [SD + profile]
    return res


@pytest.fixture(scope="module")
def bp(examples_dir) -> dict:
    return _example(examples_dir, "blood-pressure", "bp")


class _WithProfiles:
    """The installed definitions plus profiles made in the test."""

    def __init__(self, base, extra: dict[str, dict]) -> None:
        self.base, self.extra = base, extra

    def structure_definition(self, url_or_type: str) -> dict | None:
        return self.extra.get(url_or_type) or self.base.structure_definition(url_or_type)

    def by_url(self, url: str, version: str | None = None) -> dict | None:
        return self.extra.get(url) or self.base.by_url(url, version)

    def value_set(self, url: str) -> dict | None:
        return self.base.value_set(url)

    def code_system(self, url: str) -> dict | None:
        return self.base.code_system(url)


def _bp_variant(definitions, name: str, **slicing) -> dict:
    sd = copy.deepcopy(definitions.structure_definition(SD + "bp"))
    sd["url"], sd["id"], sd["name"] = f"http://example.org/fhir/StructureDefinition/{name}", name, name
    for el in sd["snapshot"]["element"]:
        if el["id"] == "Observation.component":
            el["slicing"].update(slicing)
    return sd


@pytest.fixture(scope="module")
def variant_validator(definitions):
    from evidence_publisher.validate import Validator

    extra = {}
    for name, spec in (("bp-ordered", {"ordered": True}), ("bp-closed", {"rules": "closed"})):
        sd = _bp_variant(definitions, name, **spec)
        extra[sd["url"]] = sd
    return Validator(_WithProfiles(definitions, extra))


# ---------------------------------------------------------------------- official examples
def test_official_vitalsigns_examples_have_no_slicing_issues(validator, examples_dir):
    claiming = [
        (f.name, res)
        for f in sorted(examples_dir.glob("Observation-*.json"))
        if SD + "vitalsigns" in json.dumps((res := load_file(f)).get("meta", {}))
    ]
    assert len(claiming) >= 12
    for name, res in claiming:
        assert _slice_issues(validator, res) == set(), name


@pytest.mark.parametrize(("name", "profile"), sorted(SPECIFIC.items()))
def test_official_example_meets_its_specific_profile(validator, examples_dir, name, profile):
    res = _example(examples_dir, name, profile)
    assert [x for x in _issues(validator, res) if x[0] == "error"] == []


def test_lipid_profiles_on_the_official_lipid_bundle(validator, examples_dir):
    bundle = load_file(examples_dir / "Bundle-lipids.json")
    by_id = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    trig = copy.deepcopy(by_id["triglyceride"])
    trig["meta"] = {"profile": [SD + "triglyceride"]}
    assert _slice_issues(validator, trig) == set()
    # value[x] is type-sliced, open: another type is in no slice but allowed
    trig["valueString"] = "1.3 mmol/L"
    del trig["valueQuantity"]
    assert _slice_issues(validator, trig) == set()
    # lipidprofile slices result by resolve().code: undecidable, one warning, no slice errors
    report = copy.deepcopy(by_id["lipids"])
    report["meta"] = {"profile": [SD + "lipidprofile"]}
    assert _slice_issues(validator, report) == {("warning", "slice-undecidable", "DiagnosticReport.result")}


# ---------------------------------------------------------------------- mutations of bp
def test_bp_unchanged_is_clean(validator, bp):
    assert _slice_issues(validator, bp) == set()
    assert [x for x in _issues(validator, bp) if x[0] == "error"] == []


def test_missing_required_slice(validator, bp):
    res = copy.deepcopy(bp)
    del res["component"][0]  # SystolicBP
    assert ("slice-cardinality", "Observation.component") in _errors(validator, res)


def test_discriminator_value_broken_item_leaves_its_slice(validator, bp):
    res = copy.deepcopy(bp)
    res["component"][1]["code"]["coding"][0]["code"] = "8310-5"  # no longer diastolic
    errs = _errors(validator, res)
    assert ("slice-cardinality", "Observation.component") in errs
    assert not any(r == "slice-closed" for r, _ in errs)  # the component slicing is open
    cat = copy.deepcopy(bp)
    cat["category"][0]["coding"][0]["system"] = "http://example.org/categories"
    assert ("slice-cardinality", "Observation.category") in _errors(validator, cat)


def test_item_beyond_slice_max(validator, bp):
    res = copy.deepcopy(bp)
    res["component"].append(copy.deepcopy(res["component"][1]))
    assert ("slice-cardinality", "Observation.component[2]") in _errors(validator, res)
    # a prohibited slice (bp: Observation.value[x]:valueQuantity 0..0)
    top = copy.deepcopy(bp)
    top["valueQuantity"] = copy.deepcopy(bp["component"][0]["valueQuantity"])
    assert ("slice-cardinality", "Observation.value.ofType(Quantity)") in _errors(validator, top)


def test_closed_type_slicing(validator, bp, examples_dir):
    res = copy.deepcopy(bp)
    del res["component"][0]["valueQuantity"]
    res["component"][0]["valueString"] = "107 mmHg"
    assert ("slice-closed", "Observation.component[0].value.ofType(string)") in _errors(validator, res)
    bmi = _example(examples_dir, "bmi", "bmi")
    del bmi["valueQuantity"]  # bmi: Observation.value[x]:valueQuantity 1..1
    assert ("slice-cardinality", "Observation.value") in _errors(validator, bmi)


def test_choice_slice_children_are_checked(validator, examples_dir):
    weight = _example(examples_dir, "body-weight-with-arabic-code", "bodyweight")
    assert _errors(validator, weight) == set()
    qty = weight["valueQuantity"]
    qty["system"] = "http://example.org/units"  # valueQuantity.system is fixed to UCUM
    del qty["value"]  # ... and value is 1..1
    errs = _errors(validator, weight)
    assert ("fixed-value", "Observation.value.ofType(Quantity).system") in errs
    assert ("cardinality", "Observation.value.ofType(Quantity).value") in errs


def test_items_are_checked_against_their_slice(validator, bp):
    res = copy.deepcopy(bp)
    qty = res["component"][0]["valueQuantity"]
    qty["code"] = "mmHg"  # SystolicBP.value[x]:valueQuantity.code is fixed to mm[Hg]
    del qty["unit"]  # ... and unit is 1..1
    errs = _errors(validator, res)
    assert ("fixed-value", "Observation.component[0].value.ofType(Quantity).code") in errs
    assert ("cardinality", "Observation.component[0].value.ofType(Quantity).unit") in errs
    # not the diastolic item, and not without the claim (slice rules only apply to the profile)
    assert not any(fp.startswith("Observation.component[1]") for _r, fp in errs)
    del res["meta"]["profile"]
    unclaimed = _errors(validator, res)
    assert ("fixed-value", "Observation.component[0].value.ofType(Quantity).code") not in unclaimed


def test_base_walk_reports_no_slicing(validator, bp):
    res = copy.deepcopy(bp)
    del res["meta"]
    res["component"].append(copy.deepcopy(res["component"][1]))
    del res["component"][0]
    assert _slice_issues(validator, res) == set()


def test_closed_array_slicing_extra_item(variant_validator, bp):
    res = copy.deepcopy(bp)
    res["meta"]["profile"] = ["http://example.org/fhir/StructureDefinition/bp-closed"]
    assert _slice_issues(variant_validator, res) == set()
    extra = copy.deepcopy(res["component"][0])
    extra["code"] = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    res["component"].append(extra)
    assert _slice_issues(variant_validator, res) == {("error", "slice-closed", "Observation.component[2]")}


def test_ordered_slicing(variant_validator, bp):
    res = copy.deepcopy(bp)
    res["meta"]["profile"] = ["http://example.org/fhir/StructureDefinition/bp-ordered"]
    assert _slice_issues(variant_validator, res) == set()
    res["component"].reverse()
    assert _slice_issues(variant_validator, res) == {("error", "slice-order", "Observation.component[1]")}


def test_batch_bundle_closed_slicing_by_request_method(validator):
    bundle = {
        "resourceType": "Bundle",
        "id": "b",
        "meta": {"profile": [SD + "batch-bundle"]},
        "type": "batch",
        "entry": [
            {
                "fullUrl": "http://example.org/fhir/Patient/1",
                "request": {"method": "GET", "url": "Patient/1"},
            },
        ],
    }
    assert _slice_issues(validator, bundle) == set()
    bad = copy.deepcopy(bundle)
    bad["entry"][0]["resource"] = {"resourceType": "Basic", "id": "x", "code": {"text": "x"}}
    assert ("cardinality", "Bundle.entry[0].resource") in _errors(validator, bad)  # entry:get.resource 0..0
    bad = copy.deepcopy(bundle)
    bad["entry"].append({"fullUrl": "http://example.org/fhir/Basic/2"})
    assert ("slice-closed", "Bundle.entry[1]") in _errors(validator, bad)
