"""The FHIRPath compiler, probe by probe: every compiled function and operator against fhirpathpy.

The examples-wide differential (test_validate_compiled_differential.py) compares verdicts of the
core invariants; these probes compare whole results, including the corners the invariants rarely
reach (primitive extensions, choice types, mixed collections, errors that must fall back).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from fhirpathpy.engine.nodes import FP_Type

from evidence_publisher import fhirpath
from evidence_publisher.constants import UCUM
from evidence_publisher.fhirpath import fallbacks

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "gender": "female",
    "_gender": {"extension": [{"url": "http://example.org/g", "valueString": "x"}]},
    "birthDate": "1970-03",
    "name": [
        {"family": "Doe", "given": ["Jane", "J."], "use": "official"},
        {"family": "Roe", "given": ["Jane"], "period": {"start": "2001-01-01", "end": "2000"}},
    ],
    "multipleBirthInteger": 2,
    "deceasedBoolean": False,
    "contact": [{"name": {"text": "A"}}, {"name": {"text": "B"}, "gender": "male"}],
    "managingOrganization": {"reference": "#org"},
    "contained": [{"resourceType": "Organization", "id": "org", "name": "Org A"}],
    "extension": [
        {"url": "http://example.org/a", "valueDecimal": Decimal("1.50")},
        {"url": "http://example.org/b", "valueQuantity": {"value": 3, "code": "mg", "system": UCUM}},
    ],
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
}

PROBES = [
    # navigation, choice types, primitive extensions, resources
    "name.given",
    "name.family | name.given",
    "gender",
    "multipleBirth",
    "deceased",
    "extension.value",
    "extension.value.value",
    "contained.name",
    "Patient.name.family",
    "children().count()",
    "descendants().count()",
    "descendants().given.isDistinct()",
    "name.given.distinct()",
    "name.given.isDistinct()",
    "name.first().given",
    "name.tail().family",
    "name[1].family",
    "name[5].family",
    "name.select(given)",
    "name.select(given.first())",
    "name.where(use = 'official').family",
    "name.where(use).family",
    "name.where(given.count() > 1).exists()",
    "name.exists(family = 'Roe')",
    "name.all(family.exists())",
    "name.all(given.count() = 2)",
    "contact.all(gender.exists())",
    "contact.repeat(name)",
    "iif(active, 'yes', 'no')",
    "iif(deceased, 'dead')",
    # literals, arithmetic, strings
    "1 + 2",
    "1.5 + 2",
    "2 - 3.25",
    "'a' + 'b'",
    "'a' & {} & 'c'",
    "id.length()",
    "id.substring(1)",
    "id.substring(0, 1)",
    "id.substring(7)",
    "id.startsWith('p')",
    "id.endsWith('1')",
    "id.contains('x')",
    "id.matches('^p[0-9]$')",
    "id.replaceMatches('([a-z])', '$1$1')",
    "id.toString()",
    "active.toString()",
    "multipleBirth.toInteger()",
    "'12'.toInteger()",
    "'1.5'.toInteger()",
    "name.family.trace('f')",
    "%ucum",
    "'\\'quoted\\''",
    # comparison, equality, membership, types
    "gender = 'female'",
    "gender != 'female'",
    "name.family = 'Doe'",
    "name.given = name.given",
    "multipleBirth = 2.0",
    "multipleBirth > 1",
    "multipleBirth <= 1.5",
    "id < 'q'",
    "active = true",
    "'female' in gender",
    "name.family contains 'Roe'",
    "{} in name.family",
    "gender in {}",
    "multipleBirth is integer",
    "multipleBirth is FHIR.integer",
    "deceased is boolean",
    "name.first() is HumanName",
    "name.first() is Element",
    "contained.first() is Organization",
    "contained.first() is DomainResource",
    "1 is Integer",
    "'x' is System.String",
    "multipleBirth as integer",
    "multipleBirth.is(integer)",
    "extension.value.ofType(Quantity).value",
    "extension.value.ofType(decimal)",
    "name.period.start.lowBoundary() <= name.period.end.highBoundary()",
    "name.period.end.highBoundary()",
    # logic, three-valued
    "active and deceased",
    "active or deceased",
    "active xor deceased",
    "deceased implies active",
    "{} and true",
    "{} or false",
    "{} implies true",
    "false implies {}",
    "active.not()",
    "name.not()",
    "{}.not()",
    "(1 | 2).combine(2 | 3).count()",
    "(active | deceased).allFalse()",
    "name.given.intersect('Jane' | 'x')",
    # FHIR functions
    "managingOrganization.resolve().name",
    "text.div.htmlChecks()",
    "gender.hasValue()",
    "name.hasValue()",
    "extension('http://example.org/a').value",
    "%resource.id",
    "%rootResource.name.count()",
    "%context.id",
    "name.where(%context.name.count() = 2).count()",
]

# fhirpathpy raises or converts here; the compiled closure must hand over rather than answer
FALLBACKS = [
    "name.family.length()",  # string function on two strings
    "name.family < 'x'",  # comparison of a collection
    "name.given + 'x'",
    "extension.value.ofType(Quantity) = extension.value.ofType(Quantity)",  # Quantity equality
    "gender.exists() and gender.count()",
    "-(multipleBirth)",  # polarity of a node (fhirpathpy wants a plain number)
    "active and 'x'",  # non-boolean operand
    "birthDate + 1",  # date arithmetic
    "name.given.allTrue()",  # allTrue of strings
]


def _resolver(ref: str) -> dict | None:
    return PATIENT["contained"][0] if ref == "#org" else None


HOOKS = fhirpath.Hooks(_resolver, lambda *_: None)


def _normal(values: list) -> list:
    return [str(v) if isinstance(v, FP_Type) else v for v in values]


def _fhirpathpy(expr: str) -> Any:
    try:
        return _normal(
            fhirpath.invariant(expr).reference_result(
                PATIENT, "Patient", resource=PATIENT, root_resource=PATIENT, hooks=HOOKS
            )
        )
    except fhirpath.FhirPathEvaluationError as exc:
        return f"error: {type(exc.__cause__).__name__}"


def _compiled(expr: str, data: dict = PATIENT) -> list | None:
    """The compiled engine's result, or None when it handed the evaluation to fhirpathpy."""
    e = fhirpath.invariant(expr)
    assert e.compiled is not None, f"{expr!r} does not compile"
    result = e.compiled_result(data, data["resourceType"], resource=data, root_resource=data, hooks=HOOKS)
    return None if result is None else _normal(result)


def _handovers(expr: str) -> dict[str, int]:
    """kind -> evaluations of ``expr`` handed to fhirpathpy so far."""
    out: dict[str, int] = {}
    for (kind, text, _), n in fallbacks.counts().items():
        if text == fhirpath.quote_reserved(expr):
            out[kind] = out.get(kind, 0) + n
    return out


@pytest.mark.parametrize("expr", PROBES)
def test_compiled_result_equals_fhirpathpy(expr):
    theirs = _fhirpathpy(expr)
    ours = _compiled(expr)
    assert ours is not None, f"{expr!r} fell back (fhirpathpy: {theirs!r})"
    assert ours == theirs


@pytest.mark.parametrize("expr", FALLBACKS)
def test_compiled_hands_over_where_fhirpathpy_is_the_authority(expr):
    before = _handovers(expr).get("fallback", 0)
    assert _compiled(expr) is None
    assert _handovers(expr).get("fallback", 0) == before + 1  # counted, as a designed hand-over
    # and the entry point then answers what fhirpathpy answers, or raises where it raises
    e = fhirpath.invariant(expr)

    def ours():
        return e.evaluate(PATIENT, "Patient", resource=PATIENT, root_resource=PATIENT, hooks=HOOKS)

    theirs = _fhirpathpy(expr)
    if isinstance(theirs, str):
        with pytest.raises(fhirpath.FhirPathEvaluationError):
            ours()
    else:
        assert _normal(ours()) == theirs


def test_probes_reach_both_outcomes():
    results = [_fhirpathpy(e) for e in PROBES]
    assert [True] in results and [False] in results and [] in results
    assert not any(isinstance(r, str) for r in results), "a probe that fhirpathpy cannot run proves nothing"


@pytest.mark.parametrize(
    "expr", ["name.aggregate($this)", "now()", "name.given[%index]", "%vs-foo", "a * b", "a ~ b"]
)
def test_outside_the_compiled_set_is_refused_at_compile_time(expr):
    e = fhirpath.invariant(expr)
    assert e.compiled is None and e.handover is not None and e.handover[0] == "unsupported"
    before = _handovers(expr).get("unsupported", 0)
    with contextlib.suppress(fhirpath.FhirPathEvaluationError):  # fhirpathpy answers, or raises
        e.evaluate(PATIENT, "Patient", resource=PATIENT, root_resource=PATIENT)
    assert _handovers(expr).get("unsupported", 0) == before + 1


def test_short_circuit_answers_where_fhirpathpy_evaluates_both_sides():
    # the right operand would raise (string function on two strings); the left decides
    assert _compiled("active or name.family.length() > 1") == [True]
    assert _compiled("deceased and name.family.length() > 1") == [False]
    assert _compiled("deceased implies name.family.length() > 1") == [True]
    assert _fhirpathpy("active or name.family.length() > 1").startswith("error")


def test_independent_subexpressions_are_remembered_per_evaluation_only():
    expr = "name.where(family in %context.name.family).count()"
    other = {"resourceType": "Patient", "name": [{"family": "X"}, {"family": "Y"}, {"family": "Z"}]}
    assert _compiled(expr) == [2] and _compiled(expr, other) == [3]
