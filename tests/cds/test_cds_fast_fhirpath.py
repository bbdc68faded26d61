"""Differential test: the compiled fast path agrees with fhirpathpy (the reference).

Both engines come from evidence_publisher.fhirpath, as the service uses them: the compiled
closures (``Expression.compiled_result``) and fhirpathpy with the R5 model
(``Expression.reference_result``), on the same parse."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy.parser import parse as fhirpathpy_parse

from evidence_publisher import fhirpath
from evidence_publisher.cds.evaluate import patient_bundle
from evidence_publisher.cds.knowledge import load_from_path
from evidence_publisher.cds.recommendation import compile_all

from . import synthetic
from .test_cds_real_build import real_dist  # noqa: F401 - module-scoped fixture

SCT = synthetic.SCT

EXPRESSIONS = [
    "true",
    "false",
    "{}",
    "1",
    "'a'",
    "-1 < 2",
    "2.50 >= 2.5",
    "'a' < 'b'",
    "entry.count()",
    "Bundle.entry.count() = 3",
    "Patient.entry.count()",
    "entry.resource.ofType(Patient).exists()",
    "entry.resource.ofType(Condition).count()",
    "entry.resource.ofType(Resource).count()",
    "entry.resource.ofType(DomainResource).count()",
    "%resource.entry.resource.ofType(Patient).id",
    "%rootResource.type = 'collection'",
    "%context.entry.first().resource.id",
    f"entry.resource.ofType(Condition).where(code.coding.where(system = '{SCT}' and code = "
    "'68815009').exists()).exists()",
    "entry.resource.ofType(Condition).clinicalStatus.coding.code",
    "entry.resource.ofType(Condition).where(clinicalStatus.coding.where(code = 'active')"
    ".exists() and severity.exists().not()).exists()",
    "entry.resource.ofType(Observation).value.ofType(Quantity).value > 0.5",
    "entry.resource.ofType(Observation).value.ofType(Quantity).value",
    "entry.resource.ofType(Observation).value.ofType(string).exists()",
    "entry.resource.ofType(Observation).value.unit",
    "entry.resource.ofType(Observation).where(value.ofType(Quantity).value > 1).empty()",
    "entry.resource.ofType(MedicationRequest).medication.concept.coding.code",
    "entry.resource.ofType(MedicationRequest).where(status = 'active' or status = 'completed').exists()",
    "entry.resource.ofType(MedicationRequest).status in ('active' | 'stopped')",
    "('a' | 'b' | 'a').count()",
    "('a' | 'b') contains 'b'",
    "'c' in ('a' | 'b')",
    "entry.resource.ofType(Patient).gender = 'female' xor true",
    "entry.resource.ofType(Patient).gender = 'female' implies false",
    "entry.resource.id.substring(0, 2)",
    "1 + 1",
    "entry[0].resource.id",
    "entry.select(resource).count()",
    "'a\\'b'",
    "entry.resource.ofType(Patient).birthDate = entry.resource.ofType(Patient).birthDate",
    "{} implies true",
    "{} and false",
    "{} or true",
    "{} or false",
    "entry.resource.all(id.exists())",
    "entry.resource.where($this.id = 'pat-1').count()",
    "entry.resource.ofType(Condition).code.coding.code = '68815009'",
    "entry.resource.ofType(Condition).code.coding.code != '68815009'",
    "entry.resource.id = entry.resource.id",
    "entry.resource.ofType(Patient).birthDate = entry.resource.ofType(Patient).birthDate",
    "entry.resource.ofType(Observation).valueQuantity.value",
    "entry.resource.where(resourceType = 'Observation').status",
    "entry.resource.ofType(Encounter).exists().not()",
]


def bundles() -> list[dict[str, Any]]:
    full = [synthetic.patient(), synthetic.condition(), synthetic.protein()]
    string_obs = synthetic.protein(value="0.2")
    del string_obs["valueQuantity"]
    string_obs["valueString"] = "trace"
    severe = synthetic.condition()
    severe["severity"] = {"coding": [{"system": SCT, "code": "24484000"}]}
    med = {
        "resourceType": "MedicationRequest",
        "id": "m",
        "status": "stopped",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "medication": {"concept": {"coding": [dict(synthetic.CYCLOPHOSPHAMIDE)]}},
    }
    return [
        patient_bundle(copy.deepcopy(x))
        for x in (
            [],
            [synthetic.patient()],
            full,
            [synthetic.patient(), synthetic.condition(status="resolved"), string_obs],
            [synthetic.patient(), severe, med, synthetic.protein(value="0.4")],
            [synthetic.patient(), synthetic.protein(), synthetic.protein(value="2.0")],
        )
    ]


Fallback = object()  # the compiled engine handed the evaluation to fhirpathpy


def reference(expr: str, bundle: dict[str, Any]) -> Any:
    try:
        return fhirpath.expression(expr).reference_result(bundle, resource=bundle, root_resource=bundle)
    except fhirpath.FhirPathEvaluationError as exc:
        return type(exc.__cause__)


def fast(expr: str, bundle: dict[str, Any]) -> Any:
    e = fhirpath.expression(expr)
    assert e.compiled is not None, f"{expr!r} should be inside the compiled subset"
    result = e.compiled_result(bundle, resource=bundle, root_resource=bundle)
    return Fallback if result is None else result


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return [Decimal(str(v)) if isinstance(v, float) else v for v in value]
    return value


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_fast_path_agrees_with_fhirpathpy(expr: str) -> None:
    # the reference reads the service's one parse: it must be the tree fhirpathpy builds itself
    assert fhirpath.expression(expr).tree == fhirpathpy_parse(expr)
    decided = 0
    for bundle in bundles():
        got = fast(expr, copy.deepcopy(bundle))
        if got is Fallback:
            continue  # the service then uses fhirpathpy itself
        decided += 1
        assert _norm(got) == _norm(reference(expr, copy.deepcopy(bundle))), bundle["entry"]
    assert decided, f"{expr!r} always fell back; the case is not covered"


@pytest.mark.parametrize(
    "expr",
    [
        "today() > @2020-01-01",
        "%vs-x",
        "$index",
        "entry.aggregate($this)",
        "2 * 3",
    ],
)
def test_outside_the_subset_is_not_compiled(expr: str) -> None:
    assert fhirpath.expression(expr).compiled is None


def test_runtime_fallback_cases() -> None:
    b = bundles()[2]
    for expr in [
        "entry.resource.ofType(Patient).birthDate + 1",
        "entry.resource.id > 1",
        "entry.resource.id and true",
    ]:
        assert fast(expr, b) is Fallback


def test_real_build_conditions_agree(real_dist: Path) -> None:  # noqa: F811
    rec = compile_all(load_from_path(real_dist))[0]
    applies = synthetic.real_build_prefetch("r1")
    data = [
        [
            applies["patient"],
            *(e["resource"] for k in ("condition", "medicationRequest") for e in applies[k]["entry"]),
        ]
    ]
    for bundle in bundles() + [patient_bundle(d) for d in data]:
        for cond in rec.conditions:
            got = fast(cond.expression, copy.deepcopy(bundle))
            assert got is not Fallback
            assert got == reference(cond.expression, copy.deepcopy(bundle))
            # the service's own two modes (fast=False is the benchmarks' fhirpathpy-only baseline)
            assert cond.evaluate(copy.deepcopy(bundle)) == got
            assert dataclasses.replace(cond, fast=False).evaluate(copy.deepcopy(bundle)) == got
