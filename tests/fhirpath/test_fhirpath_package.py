"""The FHIRPath package's own promises: one strict parse shared by both engines, no global state
changed at import, counted and logged hand-overs to fhirpathpy, a strict mode for the tests, and
its place in the layering (below validate and cds, the only importer of fhirpathpy)."""

from __future__ import annotations

import ast
import dataclasses
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fhirpathpy.engine.nodes import TypeInfo
from fhirpathpy.parser import parse as fhirpathpy_parse

from evidence_publisher import fhirpath
from evidence_publisher.fhirpath import adapter, fallbacks
from evidence_publisher.fhirpath import expressions as expressions_module

SRC = Path(__file__).resolve().parents[2] / "src" / "evidence_publisher"
PACKAGE = SRC / "fhirpath"
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "birthDate": "1970-03-01",
    "name": [{"family": "Doe", "given": ["Jane"]}],
}
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [{"resource": PATIENT}, {"resource": {"resourceType": "Condition", "id": "c"}}],
}


# ---- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr",
    [
        "name.where(use = 'official').given.first()",
        "entry.resource.ofType(Patient).birthDate <= @2000-01-01",
        "a.b[0] | %context.c.extension('u').value as Quantity",
        "iif(x.exists(), 1 + 2.5, 'a' & 'b') implies $this.y.not()",
        "text.`div`.htmlChecks()",
    ],
)
def test_the_tree_is_fhirpathpys_own(expr):
    """Both engines read adapter.parse's tree; for valid input it is what fhirpathpy builds."""
    assert adapter.parse(expr) == fhirpathpy_parse(expr)


@pytest.mark.parametrize(
    ("expr", "detail"),
    [
        ("entry.where((", "column 14: mismatched input '<EOF>'"),
        ("name ## 3", "column 6: token recognition error at: '#'"),
        ("name.given.", "column 12: mismatched input '<EOF>'"),
        ("a b", "unexpected 'b' at column 3"),
        ("", "column 1: mismatched input '<EOF>'"),
    ],
)
def test_invalid_fhirpath_is_refused_where_fhirpathpy_recovers(expr, detail, capsys):
    with pytest.raises(fhirpath.FhirPathSyntaxError) as err:
        fhirpath.expression(expr)
    assert err.value.detail.startswith(detail)
    assert str(err.value).startswith(f"FHIRPath {expr!r} does not parse: ")
    assert capsys.readouterr() == ("", "")  # the ANTLR runtime prints nothing either


def test_invariants_are_repaired_before_parsing_expressions_are_not():
    assert fhirpath.invariant("text.div.exists()").text == "text.`div`.exists()"
    with pytest.raises(fhirpath.FhirPathSyntaxError):
        fhirpath.expression('code = "x"')  # double quotes are not FHIRPath
    assert fhirpath.invariant('code = "x"').text == "code = 'x'"


# ---- no global state at import ------------------------------------------------------------------
_CHILD = """
from fhirpathpy.engine.nodes import TypeInfo
import evidence_publisher.cds.recommendation, evidence_publisher.validate, evidence_publisher.fhirpath as fp
assert TypeInfo.model is None, "changed at import"
bundle = {BUNDLE!r}
e = fp.expression("entry.resource.ofType(Resource).count()")
# the R5 hierarchy applies from the first evaluation on, without any 'is' having run before
assert e.reference_result(bundle) == [2], e.reference_result(bundle)
assert fp.expression("entry.resource.first() is DomainResource").reference_result(bundle) == [True]
assert TypeInfo.model is None, "left set after an evaluation"
print("ok")
"""


def test_importing_and_evaluating_leave_fhirpathpys_type_model_alone():
    code = _CHILD.replace("{BUNDLE!r}", repr(BUNDLE))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_type_model_scope_holds_across_threads():
    """Worker threads evaluate at once (the CDS service); the model stays set until the last ends."""
    e = fhirpath.expression("entry.resource.ofType(DomainResource).count()")
    answers: list = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda: answers.extend(e.reference_result(BUNDLE) for _ in range(100)))
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert answers == [[2]] * 600
    assert TypeInfo.model is None


def test_fhirpathpys_errors_are_reported_without_memory_addresses():
    """eld-11's contains() over several codes: the message names fhirpathpy's nodes, and must read
    the same in every run (validation reports are compared byte for byte)."""
    e = fhirpath.invariant("type.code.contains(':')")
    with pytest.raises(fhirpath.FhirPathEvaluationError) as err:
        e.reference_result({"type": [{"code": "a"}, {"code": "b"}]}, "ElementDefinition")
    assert str(err.value) == "Expected string, but got [<ResourceNode>, <ResourceNode>]"


# ---- hand-overs to fhirpathpy -----------------------------------------------------------------
def _kinds(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (kind, expr, _), n in fallbacks.counts().items():
        if expr == text:
            out[kind] = out.get(kind, 0) + n
    return out


def test_a_run_time_hand_over_is_counted_and_logged_at_debug(caplog):
    e = fhirpath.expression("birthDate + 1")  # date arithmetic: only fhirpathpy decides
    before = _kinds(e.text).get("fallback", 0)
    with caplog.at_level(logging.DEBUG, logger="evidence_publisher.fhirpath.fallbacks"):
        with pytest.raises(fhirpath.FhirPathEvaluationError):  # fhirpathpy: date + number
            e.evaluate(PATIENT, "Patient")
    assert _kinds(e.text)["fallback"] == before + 1
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "'birthDate + 1'" in caplog.records[0].getMessage()
    assert "date arithmetic" in caplog.records[0].getMessage()


def test_an_expression_outside_the_compiled_set_is_counted_per_evaluation():
    e = fhirpath.expression("name.given.aggregate($this)")
    assert e.compiled is None and e.handover == ("unsupported", "function aggregate() with 1 parameters")
    before = _kinds(e.text).get("unsupported", 0)
    e.evaluate(PATIENT, "Patient")
    e.evaluate(PATIENT, "Patient")
    assert _kinds(e.text)["unsupported"] == before + 2


def _broken(env, this):
    raise TypeError("a case the compiler did not foresee")


def test_an_unforeseen_closure_error_goes_to_fhirpathpy_unless_strict():
    e = dataclasses.replace(fhirpath.expression("name.family"), compiled=_broken)
    with fallbacks.strict_mode(False):
        before = _kinds(e.text).get("error", 0)
        assert e.compiled_result(PATIENT, "Patient") is None
        assert _kinds(e.text)["error"] == before + 1
        assert e.evaluate(PATIENT, "Patient") == ["Doe"]  # fhirpathpy's answer, not a crash
    with fallbacks.strict_mode(True), pytest.raises(TypeError, match="did not foresee"):
        e.evaluate(PATIENT, "Patient")


def test_an_unforeseen_compiler_error_goes_to_fhirpathpy_unless_strict(monkeypatch):
    def boom(tree):
        raise KeyError("children")

    monkeypatch.setattr(expressions_module, "compile_tree", boom)
    monkeypatch.setattr(expressions_module, "_EXPRESSIONS", {})
    with fallbacks.strict_mode(False):
        e = fhirpath.expression("name.family")
        assert e.compiled is None and e.handover == ("error", "KeyError: 'children'")
        assert e.evaluate(PATIENT, "Patient") == ["Doe"]
    with fallbacks.strict_mode(True):
        with pytest.raises(RuntimeError, match="compiler failed"):
            e.evaluate(PATIENT, "Patient")  # remembered from before strict mode: still fails
        monkeypatch.setattr(expressions_module, "_EXPRESSIONS", {})
        with pytest.raises(KeyError):
            fhirpath.expression("name.family")


def test_the_suite_runs_in_strict_mode():
    assert fallbacks.is_strict()


# ---- layering -----------------------------------------------------------------------------------
def _imports(path: Path) -> list[str]:
    """Modules imported by ``path`` (``from a import b`` -> ``a.b`` when that is a module)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (SRC.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    SRC.parent / sub.replace(".", "/")
                ).is_dir()
                out.append(sub if is_module else node.module)
    return out


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_only_the_adapter_imports_fhirpathpy_or_antlr():
    importers = sorted(
        _module(p)
        for p in SRC.rglob("*.py")
        if any(m.split(".")[0] in ("fhirpathpy", "antlr4") for m in _imports(p))
    )
    assert importers == ["evidence_publisher.fhirpath.adapter"]


def test_the_package_sits_below_validate_and_cds_and_has_no_cycles():
    graph = {_module(p): set(_imports(p)) for p in PACKAGE.rglob("*.py")}
    ours = [m for deps in graph.values() for m in deps if m.startswith("evidence_publisher.")]
    # outside itself, only the two leaf modules of the first layer: the error base and the shared
    # FHIR facts (constants imports nothing, so the package stays free of every stage)
    assert {m for m in ours if not m.startswith("evidence_publisher.fhirpath")} == {
        "evidence_publisher.constants",
        "evidence_publisher.errors",
    }
    # both users import it (the validator from its walk's invariants)
    for user in ("validate", "cds"):
        assert any("evidence_publisher.fhirpath" in _imports(p) for p in (SRC / user).rglob("*.py"))

    def visit(module: str, stack: tuple[str, ...]) -> None:
        assert module not in stack, f"import cycle: {' -> '.join((*stack, module))}"
        for dep in graph.get(module, ()):
            if dep != module and dep.startswith("evidence_publisher.fhirpath"):
                visit(dep, (*stack, module))

    for module in graph:
        if module != "evidence_publisher.fhirpath":  # the package imports its modules, none imports it
            visit(module, ())
