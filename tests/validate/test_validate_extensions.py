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


VERSION_USE = "http://hl7.org/fhir/StructureDefinition/version-specific-use"
UP_TO_R4B = {"url": VERSION_USE, "extension": [{"url": "endFhirVersion", "valueCode": "4.3"}]}
FROM_R5 = {"url": VERSION_USE, "extension": [{"url": "startFhirVersion", "valueCode": "5.0"}]}


def _versioned_sd(base_extension: dict, url: str, *, on_definition=None, contexts=()) -> dict:
    """The complex test extension under another url, limited to FHIR versions by
    version-specific-use on the definition and/or on its contexts."""
    sd = _complex_sd(base_extension)
    sd["url"] = url
    sd["snapshot"]["element"][5]["fixedUri"] = url
    if on_definition is not None:
        sd["extension"] = [on_definition]
    if contexts:
        sd["context"] = [{"type": "element", "expression": e, **x} for e, x in contexts]
    return sd


OLD_EXT = "http://example.org/fhir/StructureDefinition/up-to-r4b"
R5_CONTEXT_EXT = "http://example.org/fhir/StructureDefinition/basic-in-r5-only"
R4_CONTEXT_EXT = "http://example.org/fhir/StructureDefinition/basic-in-r4b-only"


@pytest.fixture(scope="module")
def versioned_validator(definitions):
    base = definitions.structure_definition("Extension")
    extra = {
        OLD_EXT: _versioned_sd(base, OLD_EXT, on_definition=UP_TO_R4B),
        R5_CONTEXT_EXT: _versioned_sd(
            base, R5_CONTEXT_EXT, contexts=[("Basic", {"extension": [FROM_R5]}), ("Group", {})]
        ),
        R4_CONTEXT_EXT: _versioned_sd(
            base, R4_CONTEXT_EXT, contexts=[("Basic", {"extension": [UP_TO_R4B]}), ("Group", {})]
        ),
    }
    return Validator(_WithExtra(definitions, extra))


def test_extension_limited_to_earlier_fhir_versions(versioned_validator):
    """version-specific-use on the definition: an extension for FHIR up to 4.3 is not for R5."""
    ext = {"url": OLD_EXT, "extension": [{"url": "part", "valueString": "a"}]}
    assert ("extension-version", "Basic.extension[0]") in _errs(versioned_validator, _basic(ext))


def test_extension_context_limited_to_fhir_versions(versioned_validator):
    """A context limited to versions R5 is not in does not allow the extension in R5."""
    part = [{"url": "part", "valueString": "a"}]
    assert _errs(versioned_validator, _basic({"url": R5_CONTEXT_EXT, "extension": part})) == set()
    assert ("extension-context", "Basic.extension[0]") in _errs(
        versioned_validator, _basic({"url": R4_CONTEXT_EXT, "extension": part})
    )


def test_version_limits_of_the_installed_extensions(validator, examples_dir):
    """codesystem-concept-comments (in R5's registry) is limited to CodeSystem.concept up to
    FHIR 4.3; operationdefinition-allowed-type (only in the ballot) to FHIR up to 4.3 outright,
    a warning naming the ballot."""
    import json

    comments = json.loads((examples_dir / "CodeSystem-administrative-gender.json").read_text())
    assert ("error", "extension-context", "CodeSystem.concept[0].extension[0]") in _issues(
        validator, comments
    )
    lookup = json.loads((examples_dir / "OperationDefinition-CodeSystem-lookup.json").read_text())
    issues = _issues(validator, lookup)
    assert (
        "warning",
        "extension-version",
        "OperationDefinition.parameter[13].part[1].extension[0]",
    ) in issues
    assert not [i for i in issues if i[0] == "error"]


class _WithPackage(_WithExtra):
    """The installed definitions, plus the name of a package that is not really there."""

    def __init__(self, inner, name: str) -> None:
        super().__init__(inner, {})
        self.packages = [*inner.packages, type("Pkg", (), {"name": name})()]


TOOLS_TYPO = {"url": "http://hl7.org/fhir/tools/StructureDefinition/no-bindingg", "valueBoolean": True}


def test_unknown_extension_in_an_hl7_namespace(validator, definitions):
    """Under http://hl7.org/fhir/StructureDefinition/ an unknown url is an error (the extensions
    package is installed); under http://hl7.org/fhir/tools/ only once hl7.fhir.uv.tools is, since
    without it a real tools extension (no-binding) cannot be told from a typo."""
    core_typo = {"url": "http://hl7.org/fhir/StructureDefinition/artifact-statuss", "valueCode": "active"}
    assert ("error", "extension-unknown", "Group.extension[0].url") in _issues(
        validator, _group(extension=[core_typo])
    )
    assert ("warning", "extension-unknown", "Group.extension[0].url") in _issues(
        validator, _group(extension=[TOOLS_TYPO])
    )
    with_tools = Validator(_WithPackage(definitions, "hl7.fhir.uv.tools.r5"))
    assert ("error", "extension-unknown", "Group.extension[0].url") in _issues(
        with_tools, _group(extension=[TOOLS_TYPO])
    )
