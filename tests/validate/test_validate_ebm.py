"""EBM R5 profile rules and evidence arithmetic, each broken on its own."""

from __future__ import annotations

from decimal import Decimal

import pytest

from . import ebm_fixtures as fx
from .conftest import rule_of


def _issues(validator, bundle: dict) -> list[tuple[str, str, str]]:
    report = validator.validate([bundle])
    return [
        (i["severity"], rule_of(i), i["expression"][0])
        for _r, o in report.outcomes
        for i in o["issue"]
        if i["severity"] != "information"
    ]


def test_fixture_is_valid(validator):
    issues = _issues(validator, fx.bundle())
    assert [i for i in issues if i[0] in ("error", "fatal")] == []
    assert issues == []  # not even warnings: EBM extensions resolve from the local package


def _ev(mutate) -> dict:
    ev = fx.evidence()
    mutate(ev)
    return fx.bundle(ev=ev)


def _stat(ev: dict) -> dict:
    return ev["statistic"][0]


CASES = [
    # (id, mutation of the Evidence, rule, FHIRPath)
    (
        "role-ext",
        lambda e: e["variableDefinition"][0].pop("extension"),
        "ebm-evd-role-ext",
        "Evidence.variableDefinition[0].extension",
    ),
    (
        "role-text",
        lambda e: e["variableDefinition"][1]["variableRole"].__setitem__("text", "x"),
        "ebm-evd-role-text",
        "Evidence.variableDefinition[1].variableRole.text",
    ),
    (
        "note",
        lambda e: e["variableDefinition"][1]["note"][0].__setitem__("text", "result"),
        "ebm-evd-note",
        "Evidence.variableDefinition[1].note[0].text",
    ),
    (
        "no-population",
        lambda e: e["variableDefinition"].pop(0),
        "ebm-nce-population",
        "Evidence.variableDefinition",
    ),
    (
        "no-outcome",
        lambda e: e["variableDefinition"].pop(1),
        "ebm-nce-outcome",
        "Evidence.variableDefinition",
    ),
    (
        "population-target",
        lambda e: e["variableDefinition"][0]["observed"].__setitem__(
            "reference", "EvidenceVariable/remission"
        ),
        "ebm-nce-population",
        "Evidence.variableDefinition[0].observed",
    ),
    ("synthesis", lambda e: e.pop("synthesisType"), "ebm-sse-synthesis", "Evidence.synthesisType"),
    (
        "proportion-counts",
        lambda e: _stat(e).__setitem__("numberAffected", 52),
        "ebm-stat-proportion-counts",
        "Evidence.statistic[0].quantity.value",
    ),
    (
        "proportion-range",
        lambda e: _stat(e)["quantity"].__setitem__("value", Decimal("60.5")),
        "ebm-stat-proportion-range",
        "Evidence.statistic[0].quantity.value",
    ),
    (
        "counts",
        lambda e: _stat(e)["sampleSize"].__setitem__("numberOfParticipants", 40),
        "ebm-stat-counts",
        "Evidence.statistic[0].numberAffected",
    ),
    (
        "ci-brackets",
        lambda e: _stat(e)["attributeEstimate"][0]["range"]["low"].__setitem__("value", Decimal("0.62")),
        "ebm-ci-brackets",
        "Evidence.statistic[0].attributeEstimate[0].range",
    ),
    (
        "ci-level",
        lambda e: _stat(e)["attributeEstimate"][0].pop("level"),
        "ebm-ci-level",
        "Evidence.statistic[0].attributeEstimate[0].level",
    ),
    (
        "ci-level-range",
        lambda e: _stat(e)["attributeEstimate"][0].__setitem__("level", 95),
        "ebm-ci-level",
        "Evidence.statistic[0].attributeEstimate[0].level",
    ),
    (
        "p-range",
        lambda e: _stat(e)["attributeEstimate"][1]["quantity"].__setitem__("value", Decimal("1.3")),
        "ebm-p-range",
        "Evidence.statistic[0].attributeEstimate[1].quantity.value",
    ),
    (
        "description",
        lambda e: _stat(e).__setitem__("description", "49 of 81 (65.0%)"),
        "ebm-stat-description",
        "Evidence.statistic[0].description",
    ),
    (
        "c53245",
        lambda e: _stat(e)["statisticType"]["coding"][0].__setitem__("code", "C53245"),
        "ebm-stat-type-c53245",
        "Evidence.statistic[0].statisticType",
    ),
]


@pytest.mark.parametrize(
    ("rule", "path", "mutate"), [(c[2], c[3], c[1]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_fires_alone(validator, rule, path, mutate):
    issues = _issues(validator, _ev(mutate))
    assert ("error", rule, path) in issues, issues


def test_sd_must_not_be_negative(validator):
    def mutate(e):
        _stat(e)["attributeEstimate"].append(
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/attribute-estimate-type",
                            "code": "C53322",
                        }
                    ]
                },
                "quantity": {"value": Decimal("-1.2")},
            }
        )
        _stat(e)["description"] = "49 of 81 patients (60.5%)"

    assert ("error", "ebm-sd-nonneg", "Evidence.statistic[0].attributeEstimate[2].quantity.value") in (
        _issues(validator, _ev(mutate))
    )


def test_mean_description_mismatch_45_4_vs_415_4(validator):
    """The IG's own BMI example: description says 45.4, the value is 415.4."""

    def mutate(e):
        st = _stat(e)
        st.update(
            description="(n = 81) mean 45.4 kg/m2, SD 6.2 kg/m2",
            statisticType={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/statistic-type",
                        "code": "C53319",
                        "display": "Mean",
                    }
                ]
            },
            quantity={"value": Decimal("415.4"), "unit": "kg/m2"},
        )
        st.pop("numberAffected")
        st["attributeEstimate"] = [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/attribute-estimate-type",
                            "code": "C53322",
                        }
                    ]
                },
                "quantity": {"value": Decimal("6.2"), "unit": "kg/m2"},
            }
        ]

    issues = _issues(validator, _ev(mutate))
    assert ("error", "ebm-stat-description", "Evidence.statistic[0].description") in issues
    assert len([i for i in issues if i[1] == "ebm-stat-description"]) == 1  # 81 and 6.2 agree


def test_synthesis_type_not_applicable_is_whitelisted(validator):
    issues = _issues(validator, fx.bundle())
    assert not [i for i in issues if "synthesis" in i[1] or "synthesisType" in i[2]]


def test_ig_only_code_systems_are_not_terminology_errors(validator):
    def mutate(e):
        _stat(e)["statisticType"]["coding"].append(
            {"system": "https://fevir.net/resources/CodeSystem/181513", "code": "TBD:0000018"}
        )
        e["studyDesign"] = [
            {"coding": [{"system": "https://fevir.net/resources/CodeSystem/179423", "code": "anything"}]}
        ]

    assert [i for i in _issues(validator, _ev(mutate)) if i[0] == "error"] == []


def test_group_and_variable_profiles(validator):
    grp = fx.group()
    grp["membership"] = "definitional"
    var = fx.variable()
    var.pop("handling")
    var["characteristic"] = [{"description": "x", "definitionCodeableConcept": {"text": "x"}}]
    issues = _issues(validator, fx.bundle(grp=grp, var=var))
    assert ("error", "ebm-sg-membership", "Group.membership") in issues
    assert ("error", "ebm-vd-handling", "EvidenceVariable.handling") in issues
    assert ("error", "ebm-vd-characteristic", "EvidenceVariable.characteristic") in issues


def test_unknown_ebm_profile_is_a_warning(validator):
    ev = fx.evidence()
    ev["meta"]["profile"].append(fx.EBM + "made-up-profile")
    assert ("warning", "ebm-profile-unknown", "Evidence.meta.profile") in _issues(validator, fx.bundle(ev=ev))


def test_ebm_extension_validates_like_core(validator):
    ev = fx.evidence()
    ev["variableDefinition"][0]["extension"][0] = {"url": fx.ROLE, "valueString": "population"}
    ev["extension"] = [{"url": fx.ROLE, "valueCode": "population"}]
    issues = _issues(validator, fx.bundle(ev=ev))
    assert ("error", "unknown-element", "Evidence.variableDefinition[0].extension[0].valueString") in issues
    assert ("error", "extension-context", "Evidence.extension[0]") in issues


def test_undefined_extension_is_a_warning_naming_its_url(validator):
    ev = fx.evidence()
    ev["extension"] = [{"url": "http://example.org/fhir/StructureDefinition/nowhere", "valueString": "x"}]
    report = validator.validate([fx.bundle(ev=ev)])
    warnings = [i for _r, o in report.outcomes for i in o["issue"] if rule_of(i) == "extension-unknown"]
    assert len(warnings) == 1 and warnings[0]["severity"] == "warning"
    assert "http://example.org/fhir/StructureDefinition/nowhere" in warnings[0]["diagnostics"]
    assert report.error_count == 0


def test_validate_resource_on_a_bundle_includes_entry_rules(validator):
    ev = fx.evidence()
    ev.pop("synthesisType")
    outcome = validator.validate_resource(fx.bundle(ev=ev))
    found = {(rule_of(i), i["expression"][0]) for i in outcome["issue"]}
    assert ("ebm-sse-synthesis", "Bundle.entry[0].resource.synthesisType") in found


def _justification(components: list[dict]) -> dict:
    fevir = "https://fevir.net/resources/CodeSystem/179423"
    return {
        "resourceType": "ArtifactAssessment",
        "meta": {"profile": ["http://hl7.org/fhir/uv/ebm/StructureDefinition/recommendation-justification"]},
        "artifactReference": {"reference": "Composition/x"},
        "content": [
            {
                "informationType": "container",
                "type": {"coding": [{"system": fevir, "code": "recommendation-specification"}]},
                "component": components,
            }
        ],
    }


def test_recommendation_specification_components_need_a_slice_type(validator):
    fevir = "https://fevir.net/resources/CodeSystem/179423"
    typed = {
        "informationType": "comment",
        "type": {"coding": [{"system": fevir, "code": "discussion"}]},
        "summary": "why",
    }
    untyped = {"informationType": "comment", "summary": "why"}

    def rj_errors(components):
        outcome = validator.validate_resource(_justification(components))
        return [
            (rule_of(i), i["expression"][0]) for i in outcome["issue"] if rule_of(i) == "ebm-rj-component"
        ]

    assert rj_errors([typed]) == []
    assert rj_errors([typed, untyped]) == [
        ("ebm-rj-component", "ArtifactAssessment.content[0].component[1].type")
    ]
    other = {**typed, "type": {"coding": [{"system": fevir, "code": "evidence"}]}}
    assert rj_errors([other]) == [("ebm-rj-component", "ArtifactAssessment.content[0].component[0].type")]
    rated = {**typed, "informationType": "rating"}
    assert rj_errors([rated]) == [
        ("ebm-rj-component", "ArtifactAssessment.content[0].component[0].informationType")
    ]
