"""The FHIR functions added to fhirpathpy, and expression preparation (the fhirpath package's
reference engine; the compiled engine is compared with it in test_validate_fhirpath_compiler.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence_publisher import fhirpath
from evidence_publisher.fhirpath.boundaries import boundary
from evidence_publisher.fhirpath.narrative import html_ok


def ev(expr: str, data, type_path: str = "Basic", hooks: fhirpath.Hooks = fhirpath.NO_HOOKS) -> list:
    return fhirpath.invariant(expr).reference_result(
        data, type_path, resource=data, root_resource=data, hooks=hooks
    )


def test_reserved_words_and_double_quoted_literals():
    assert fhirpath.quote_reserved("text.div.exists()") == "text.`div`.exists()"
    assert fhirpath.quote_reserved('code.contains(":")') == "code.contains(':')"
    assert ev("text.div.exists()", {"resourceType": "Basic", "text": {"div": "<div/>"}}) == [True]


@pytest.mark.parametrize("expr", ["name ## 3", "name.where((", "name.given.", ""])
def test_unparseable_expression_raises_without_printing(capsys, expr):
    for _ in range(2):  # the failure is remembered, and raised again each time
        with pytest.raises(fhirpath.FhirPathSyntaxError, match="does not parse: column"):
            fhirpath.invariant(expr)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2020-01-01", "2020-01-01", True),
        ("2020", "2020-06-01", True),  # boundaries of a partial date
        ("2021-01-01", "2020-12-31", False),
        ("2020-01-01T10:00:00+01:00", "2020-01-01T09:30:00Z", True),
        ("2020-01-01T12:00:00+01:00", "2020-01-01T09:30:00Z", False),
    ],
)
def test_per_1_with_boundaries(start, end, ok):
    period = {"start": start, "end": end}
    expr = "start.hasValue().not() or end.hasValue().not() or (start.lowBoundary() <= end.highBoundary())"
    assert fhirpath.invariant(expr).reference_result(period, "Period") == [ok]


@pytest.mark.parametrize(
    ("low", "high", "ok"),
    [
        ({"value": Decimal("1.0")}, {"value": Decimal("2")}, True),
        ({"value": Decimal("3.0")}, {"value": Decimal("2.0")}, False),
        # integers have precision 0: 3 -> [2.5, 3.5] overlaps 2 -> [1.5, 2.5], as the spec says
        ({"value": 3}, {"value": 2}, True),
        ({"value": 1, "code": "mg"}, {"value": 2, "code": "g"}, True),  # not comparable: passes
    ],
)
def test_rng_2(low, high, ok):
    expr = (
        "low.value.empty() or high.value.empty() or low.lowBoundary().comparable("
        "high.highBoundary()).not() or (low.lowBoundary() <= high.highBoundary())"
    )
    assert fhirpath.invariant(expr).reference_result({"low": low, "high": high}, "Range") == [ok]


def test_decimal_boundaries():
    assert boundary([Decimal("1.0")], False) == [Decimal("0.95")]
    assert boundary([Decimal("1.0")], True) == [Decimal("1.05")]


@pytest.mark.parametrize(
    ("div", "ok"),
    [
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>text</p></div>', True),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>', False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">t</p></div>', False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">t</a></div>', False),
        ('<div xmlns="http://www.w3.org/1999/xhtml"></div>', False),
        ("<div>no namespace</div>", False),
        ("not xml", False),
    ],
)
def test_html_checks(div, ok):
    assert (html_ok(div) is None) is ok


def test_resolve_and_member_of_use_the_hooks_given(validator):
    res = {
        "resourceType": "Basic",
        "code": {"text": "x"},
        "contained": [{"resourceType": "Group", "id": "g", "type": "person", "membership": "enumerated"}],
        "subject": {"reference": "#g"},
    }
    hooks = fhirpath.Hooks(
        lambda ref: res["contained"][0] if ref == "#g" else None, validator.walker.member_of
    )
    assert ev("subject.resolve() is Group", res, hooks=hooks) == [True]
    assert ev("subject.resolve().membership", res, hooks=hooks) == ["enumerated"]
    assert ev("'active'.memberOf('http://hl7.org/fhir/ValueSet/publication-status')", res, hooks=hooks) == [
        True
    ]
    assert ev("'bogus'.memberOf('http://hl7.org/fhir/ValueSet/publication-status')", res, hooks=hooks) == [
        False
    ]
    # without hooks: nothing resolves and membership is unknown
    assert ev("subject.resolve().exists()", res) == [False]
    assert ev("'active'.memberOf('http://hl7.org/fhir/ValueSet/publication-status')", res) == []
