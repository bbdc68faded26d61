"""The CDS service answers every malformed request with 4xx and an OperationOutcome that names the
problem and nothing internal; 500 only for a bug, with a reference (issue 9, point 4)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import pytest

from cds import synthetic
from evidence_publisher.jsonio import dumps

from .cds_fixtures import *  # noqa: F403 - the fixtures
from .cds_fixtures import ORDER_SVC, SVC, assert_nothing_internal, assert_outcome, diagnostics, post_raw


def good() -> dict[str, Any]:
    return synthetic.hook_request(prefetch=synthetic.prefetch())


def test_a_good_request_still_gets_its_card(cds) -> None:
    resp = cds.post(SVC, content=dumps(good(), indent=None), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and len(resp.json()["cards"]) == 1


# ---------------------------------------------------------------------------------- the body
def test_body_nested_200000_deep_is_400_not_recursion(cds) -> None:
    resp = post_raw(cds, SVC, "[" * 100_000 + "]" * 100_000)  # 200,000 bytes of nesting
    body = assert_outcome(resp, 400)
    assert "nested more than 100 levels" in body["issue"][0]["diagnostics"]
    resp = post_raw(cds, SVC, '{"a":' * 30_000 + "1" + "}" * 30_000)
    assert "nested more than 100 levels" in diagnostics(assert_outcome(resp, 400))


def test_body_over_the_limit_is_413(cds) -> None:
    big = dumps({**good(), "extension": {"x": "a" * 250_000}}, indent=None)
    body = assert_outcome(post_raw(cds, SVC, big), 413)
    assert "max_body_bytes" in dumps(body)

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(30):
            yield b" " * 10_000

    resp = cds.post(SVC, content=chunks(), headers={"Content-Type": "application/json"})
    assert_outcome(resp, 413)


@pytest.mark.parametrize(
    ("ctype", "shown"),
    [("text/plain", "'text/plain'"), ("application/xml", "'application/xml'"), (None, "missing")],
)
def test_wrong_or_missing_content_type_is_415(cds, ctype, shown) -> None:
    resp = post_raw(cds, SVC, dumps(good(), indent=None), ctype)
    assert f"Content-Type {shown} is not accepted" in diagnostics(assert_outcome(resp, 415))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"hook": "patient-view",', "request body is not valid JSON (line 1, column 25)"),
        ("", "request body is not valid JSON (line 1, column 1)"),
        (b"\xff\xfe{}", "request body is not UTF-8 encoded JSON"),
        ("NaN", "not valid JSON"),
    ],
)
def test_not_json_is_400_with_a_position_and_no_parser_message(cds, content, needle) -> None:
    resp = post_raw(cds, SVC, content)
    text = diagnostics(assert_outcome(resp, 400))
    assert needle in text
    assert "Expecting" not in text  # simplejson's own wording stays inside


def test_duplicate_keys_are_400_with_the_path(cds) -> None:
    text = dumps(good(), indent=None).replace('"context":{', '"context":{"patientId":"pat-evil",', 1)
    resp = post_raw(cds, SVC, text)
    assert "duplicate JSON key at context.patientId" in diagnostics(assert_outcome(resp, 400))


# ------------------------------------------------------------------------ the request's shape
def _with(path: str, value: Any) -> dict[str, Any]:
    body = good()
    node: Any = body
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return body


SHAPES = [
    # the issue's own case: a number for resourceType
    (
        "prefetch.patient",
        {"resourceType": 7},
        "prefetch.patient.resourceType must be a string naming a FHIR R5 resource type, got a number",
    ),
    (
        "prefetch.patient",
        {"resourceType": "Patiënt"},
        "prefetch.patient.resourceType 'Patiënt' is not a FHIR R5",
    ),
    ("prefetch.patient", {"resourceType": "Quantity"}, "'Quantity' is not a FHIR R5 resource type"),
    ("prefetch.patient", {"id": "x"}, "prefetch.patient.resourceType must be a string"),
    (
        "prefetch.patient",
        [synthetic.patient()],
        "prefetch.patient must be a FHIR resource (a JSON object) or null, got an array",
    ),
    ("prefetch.patient", "Patient/pat-1", "got a string"),
    (
        "prefetch.condition.entry",
        {"resource": {}},
        "prefetch.condition.entry must be an array, got an object",
    ),
    ("prefetch.condition.entry.0", 5, "prefetch.condition.entry[0] must be an object, got a number"),
    (
        "prefetch.condition.entry.0.resource",
        {"resourceType": ["Condition"]},
        "prefetch.condition.entry[0].resource.resourceType must be a string",
    ),
    ("prefetch.condition.entry.0.search", "match", "prefetch.condition.entry[0].search must be an object"),
    (
        "prefetch.patient.contained",
        {"resourceType": "Patient"},
        "prefetch.patient.contained must be an array",
    ),
    ("prefetch", ["x"], "prefetch must be an object, got an array"),
    ("context", "pat-1", "context must be an object, got a string"),
    ("context.patientId", 42, "context.patientId must be a string (the patient's FHIR id), got a number"),
    ("context.patientId", "pat-1\n", "is not a valid FHIR id"),
    ("context.patientId", "../../Patient", "is not a valid FHIR id"),
    ("context.userId", {"reference": "Practitioner/1"}, "context.userId must be a string, got an object"),
    ("context.draftOrders", [], "context.draftOrders must be a FHIR resource"),
    ("context.selections", "MedicationRequest/1", "context.selections must be an array of strings"),
    ("hook", 1, "hook must be a string, got a number"),
    ("hookInstance", {"id": 1}, "hookInstance must be a string (a UUID), got an object"),
    ("fhirServer", 443, "fhirServer must be a string, got a number"),
    (
        "fhirServer",
        "https://ehr.example.org/fhir?access_token=abc",
        "fhirServer must not contain credentials: it has the query parameter 'access_token'",
    ),
    (
        "fhirServer",
        "https://u:p@ehr.example.org/fhir",
        "fhirServer must not contain credentials (user:password@)",
    ),
    ("extension", "x", "extension must be an object, got a string"),
]


@pytest.mark.parametrize(
    ("path", "value", "needle"), SHAPES, ids=[s[0] + "=" + repr(s[1])[:20] for s in SHAPES]
)
def test_wrong_shapes_are_400_naming_the_field(cds, path, value, needle) -> None:
    resp = post_raw(cds, SVC, dumps(_with(path, value), indent=None))
    text = diagnostics(assert_outcome(resp, 400))
    assert needle in text
    assert "abc" not in text and ":p@" not in text  # a credential is never repeated


def test_non_object_bodies_are_400(cds) -> None:
    for body in ("[]", "7", '"x"', "null", "true"):
        assert "the request body must be a JSON object" in diagnostics(
            assert_outcome(post_raw(cds, SVC, body), 400)
        )


def test_order_select_draft_orders_with_odd_entries(cds) -> None:
    body = synthetic.hook_request("order-select", prefetch=synthetic.prefetch())
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "ServiceRequest", "instantiatesCanonical": 5}}, {}],
    }
    resp = post_raw(cds, ORDER_SVC, dumps(body, indent=None))
    assert resp.status_code == 200, resp.text  # odd but well-formed: not a crash, not a refusal


# ------------------------------------------------------------------ data the conditions trip on
def test_wrongly_typed_data_that_breaks_a_condition_is_400_naming_key_and_element(cds) -> None:
    pre = synthetic.prefetch()
    pre["observation"]["entry"][0]["resource"]["valueQuantity"]["value"] = "abc"
    resp = post_raw(cds, SVC, dumps(synthetic.hook_request(prefetch=pre), indent=None))
    text = diagnostics(assert_outcome(resp, 400))
    assert text.startswith(
        "prefetch.observation: Observation/pat-1-prot has a value of the wrong type or form at "
        "valueQuantity.value"
    )


@pytest.mark.parametrize("value", ["1.2", "2.0", "true"])
def test_a_number_written_as_a_string_is_400_not_a_crash(cds, value) -> None:
    """fhir.resources accepts "1.2" for a decimal (pydantic's lax mode), so the type check behind
    the 400 must look at JSON kinds itself: FHIR JSON writes numbers and booleans unquoted."""
    pre = synthetic.prefetch()
    pre["observation"]["entry"][0]["resource"]["valueQuantity"]["value"] = value
    resp = post_raw(cds, SVC, dumps(synthetic.hook_request(prefetch=pre), indent=None))
    text = diagnostics(assert_outcome(resp, 400))
    assert text.startswith(
        "prefetch.observation: Observation/pat-1-prot has a value of the wrong type or form at "
        "valueQuantity.value"
    )


def test_a_bug_is_a_bare_500_with_a_reference_that_the_log_explains(cds, monkeypatch, caplog) -> None:
    from evidence_publisher.cds import evaluate as evaluate_module
    from evidence_publisher.cds.errors import ConditionEvaluationError

    def broken(rec, resources):
        raise ConditionEvaluationError(
            "PlanDefinition/rec-msc-ln: condition 'entry.resource.secret()' failed: boom"
        )

    monkeypatch.setattr(evaluate_module, "evaluate", broken)
    with caplog.at_level(logging.ERROR, logger="evidence_publisher.cds"):
        resp = post_raw(cds, SVC, dumps(good(), indent=None))
    assert resp.status_code == 500
    text = diagnostics(resp)
    match = re.fullmatch(r"internal error, reference ([0-9a-f]{12})", text)
    assert match, text
    assert_nothing_internal(resp.text)
    record = next(r for r in caplog.records if match.group(1) in r.getMessage())
    assert record.exc_info is not None and "entry.resource.secret()" in str(record.exc_info[1])


def test_an_unexpected_exception_anywhere_is_the_same_bare_500(cds, monkeypatch, caplog) -> None:
    from evidence_publisher.cds import service as service_module

    monkeypatch.setattr(service_module, "validate_feedback", lambda body: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="evidence_publisher.cds"):
        resp = post_raw(cds, SVC + "/feedback", '{"feedback": []}')
    assert resp.status_code == 500 and diagnostics(resp).startswith("internal error, reference ")
    assert "ZeroDivisionError" not in resp.text
    assert any(r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError) for r in caplog.records)


# ---------------------------------------------------------------------------------- $apply
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "$apply body must be a FHIR Parameters resource or a JSON object, got an array"),
        (
            {"resourceType": "Parameters", "parameter": 5},
            "Parameters.parameter must be an array, got a number",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "url", "valueUri": "rec-msc-ln"}, {"name": "data", "resource": [1]}],
            },
            "patient data must be a Patient or a Bundle, got an array",
        ),
        (
            {"planDefinition": "rec-msc-ln", "patient": {"resourceType": "Bundle", "entry": [7]}},
            "patient data.entry[0] must be an object, got a number",
        ),
        (
            {"planDefinition": "rec-msc-ln", "patient": {"resourceType": "Patient", "id": 5}},
            "must contain exactly one Patient with an id",
        ),
        (
            {"planDefinition": "rec-msc-ln", "patient": synthetic.patient(), "practitioner": {"x": 1}},
            "practitioner must be a reference string, got an object",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "url", "valueUri": "rec-msc-ln"},
                    {"name": "data", "resource": synthetic.patient()},
                    {"name": "practitioner", "valueReference": "Practitioner/1"},
                ],
            },
            None,
        ),
        (
            {"planDefinition": "x" * 5000, "patient": synthetic.patient()},
            "no recommendation PlanDefinition 'xxxx",
        ),
    ],
)
def test_apply_malformed_parameters(cds, body, needle) -> None:
    resp = post_raw(cds, "/PlanDefinition/$apply", dumps(body, indent=None))
    if needle is None:
        assert resp.status_code == 200, resp.text
        return
    text = diagnostics(assert_outcome(resp, (400, 404)))
    assert needle in text and len(text) < 500


def test_apply_data_that_breaks_a_condition_is_400(cds) -> None:
    obs = copy.deepcopy(synthetic.protein())
    obs["valueQuantity"]["value"] = "lots"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (synthetic.patient(), synthetic.condition(), obs)],
    }
    resp = post_raw(cds, "/PlanDefinition/$apply", dumps({"planDefinition": "rec-msc-ln", "patient": bundle}))
    assert "patient data: Observation/pat-1-prot has a value of the wrong type" in diagnostics(
        assert_outcome(resp, 400)
    )


@pytest.mark.parametrize("token", ["a b", "a\nb", "tök"])
def test_fhir_authorization_token_that_cannot_be_a_header_is_400(cds, token) -> None:
    body = good()
    body["fhirServer"] = "http://127.0.0.1:9/fhir"
    body["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds",
    }
    del body["prefetch"]["observation"]
    text = diagnostics(assert_outcome(post_raw(cds, SVC, dumps(body, indent=None)), 400))
    assert "fhirAuthorization.access_token cannot be sent in an HTTP header" in text
