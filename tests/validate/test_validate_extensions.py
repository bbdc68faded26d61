"""Extensions resolve from the packages and validate against their own snapshots."""

from __future__ import annotations

import copy

import pytest

from evidence_publisher.validate import Validator

from .conftest import errors_of, rule_of

URL = "http://example.org/fhir/StructureDefinition/complex-test"


def _el(eid: str, path: str, mn: int, mx: str, types=None, **extra) -> dict:
    el = {
        "id": eid,
        "path": path,
        "min": mn,
        "max": mx,
        "base": {"path": path.split(":")[0], "min": 0, "max": "*" if path == "Extension.extension" else mx},
    }
    if types:
        el["type"] = [{"code": t} for t in types]
    el.update(extra)
    return el


def _complex_sd(base_extension: dict) -> dict:
    sd = copy.deepcopy(base_extension)
    sd.update(
        url=URL,
        id="complex-test",
        name="ComplexTest",
        derivation="constraint",
        baseDefinition="http://hl7.org/fhir/StructureDefinition/Extension",
        context=[{"type": "element", "expression": "Basic"}],
    )
    uri = "http://hl7.org/fhirpath/System.String"
    sd["snapshot"] = {
        "element": [
            _el("Extension", "Extension", 0, "*"),
            _el("Extension.extension", "Extension.extension", 1, "*", ["Extension"]),
            _el("Extension.extension:part", "Extension.extension", 1, "1", ["Extension"], sliceName="part"),
            _el("Extension.extension:part.url", "Extension.extension.url", 1, "1", [uri], fixedUri="part"),
            _el("Extension.extension:part.value[x]", "Extension.extension.value[x]", 1, "1", ["string"]),
            _el("Extension.url", "Extension.url", 1, "1", [uri], fixedUri=URL),
            _el("Extension.value[x]", "Extension.value[x]", 0, "0", ["string"]),
        ]
    }
    return sd


class _WithExtra:
    def __init__(self, inner, extra: dict) -> None:
        self.inner, self.extra = inner, extra

    def structure_definition(self, url_or_type: str):
        return self.extra.get(url_or_type) or self.inner.structure_definition(url_or_type)

    def by_url(self, url: str, version=None):
        return self.extra.get(url) or self.inner.by_url(url, version)

    def value_set(self, url: str):
        return self.inner.value_set(url)

    def code_system(self, url: str):
        return self.inner.code_system(url)


@pytest.fixture(scope="module")
def ext_validator(definitions):
    base = definitions.structure_definition("Extension")
    return Validator(_WithExtra(definitions, {URL: _complex_sd(base)}))


def _basic(ext: dict) -> dict:
    return {
        "resourceType": "Basic",
        "code": {"text": "x"},
        "extension": [ext],
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    }


def _errs(v, res) -> set[tuple[str, str]]:
    return {(rule_of(i), i["expression"][0]) for i in errors_of(v.validate_resource(res))}


def test_valid_complex_extension(ext_validator):
    ok = {"url": URL, "extension": [{"url": "part", "valueString": "a"}]}
    assert _errs(ext_validator, _basic(ok)) == set()


def test_complex_extension_faults(ext_validator):
    assert ("extension-type", "Basic.extension[0].extension[0].valueInteger") in _errs(
        ext_validator, _basic({"url": URL, "extension": [{"url": "part", "valueInteger": 1}]})
    )
    assert ("extension-unknown", "Basic.extension[0].extension[1].url") in _errs(
        ext_validator,
        _basic(
            {
                "url": URL,
                "extension": [{"url": "part", "valueString": "a"}, {"url": "other", "valueString": "b"}],
            }
        ),
    )
    errs = _errs(
        ext_validator,
        _basic({"url": URL, "valueString": "x", "extension": [{"url": "part", "valueString": "a"}]}),
    )
    assert ("ext-1", "Basic.extension[0]") in errs
    assert ("cardinality", "Basic.extension[0].value") in errs


def test_complex_extension_slice_cardinality(ext_validator):
    missing = {"url": URL, "extension": [{"url": "other", "valueString": "b"}]}
    assert ("cardinality", "Basic.extension[0].extension") in _errs(ext_validator, _basic(missing))
    twice = {
        "url": URL,
        "extension": [{"url": "part", "valueString": "a"}, {"url": "part", "valueString": "b"}],
    }
    assert ("cardinality", "Basic.extension[0].extension") in _errs(ext_validator, _basic(twice))


def test_extension_context(ext_validator):
    res = {
        "resourceType": "Evidence",
        "status": "active",
        "variableDefinition": [{"variableRole": {"text": "x"}}],
        "extension": [{"url": URL, "extension": [{"url": "part", "valueString": "a"}]}],
    }
    assert ("extension-context", "Evidence.extension[0]") in _errs(ext_validator, res)


def test_unknown_modifier_extension_is_an_error(validator):
    res = _basic({"url": "http://example.org/x", "valueString": "y"})
    res["modifierExtension"] = res.pop("extension")
    assert ("extension-unknown", "Basic.modifierExtension[0].url") in _errs(validator, res)


ARTIFACT_STATUS = "http://hl7.org/fhir/StructureDefinition/artifact-status"  # isModifier, in R5's registry
IS_SELECTIVE = "http://hl7.org/fhir/StructureDefinition/cqf-isSelective"  # only in the ballot package


def _group(**extra) -> dict:
    text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    return {"resourceType": "Group", "text": text, "type": "person", "membership": "definitional", **extra}


def _issues(v, res) -> set[tuple[str, str, str]]:
    return {
        (i["severity"], rule_of(i), i["expression"][0])
        for i in v.validate_resource(res)["issue"]
        if i["severity"] != "information"
    }


def test_modifier_extension_placement(validator):
    status = {"url": ARTIFACT_STATUS, "valueCode": "active"}
    assert _issues(validator, _group(modifierExtension=[status])) == set()
    misplaced = _issues(validator, _group(extension=[status]))
    assert ("error", "extension-modifier", "Group.extension[0]") in misplaced
    plain = {"url": "http://hl7.org/fhir/StructureDefinition/artifact-version", "valueString": "1"}
    assert ("error", "extension-modifier", "Group.modifierExtension[0]") in _issues(
        validator, _group(modifierExtension=[plain])
    )


def test_extension_defined_only_in_a_ballot_is_a_warning(validator):
    """cqf-isSelective (DataRequirement only, boolean) is defined by 5.3.0-ballot-tc1 alone."""
    wrong = {"url": IS_SELECTIVE, "valueString": "yes"}
    issues = _issues(validator, _group(extension=[wrong]))
    assert ("warning", "extension-context", "Group.extension[0]") in issues
    assert not [i for i in issues if i[0] == "error"]
    released = {"url": ARTIFACT_STATUS, "valueString": "active"}  # in R5's registry: still an error
    assert ("error", "extension-modifier", "Group.extension[0]") in _issues(
        validator, _group(extension=[released])
    )
