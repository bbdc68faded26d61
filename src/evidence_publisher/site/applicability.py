"""Applicability in plain words, read from a PlanDefinition condition's FHIRPath.

The words are generated from the expression itself (parsed by the ``fhirpath`` package), not copied
from the curator's description, so a reader sees what the rule actually tests. Only the shapes the
conditions are built from are put into words (a resource of a type with a ``where`` over codes,
statuses and their alternatives); anything else raises ``NotInWords`` and the page shows the
FHIRPath alone, saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evidence_publisher import fhirpath

SYSTEM_NAMES = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}
TYPE_WORDS = {
    "Condition": "a condition (Condition)",
    "MedicationRequest": "a medication order (MedicationRequest)",
    "MedicationStatement": "a medication statement (MedicationStatement)",
    "Observation": "an observation (Observation)",
    "Procedure": "a procedure (Procedure)",
}
_SKIP_STEPS = {"coding", "concept"}


class NotInWords(ValueError):
    """The expression has a shape the plain-words reading does not cover."""


@dataclass(frozen=True)
class Path:
    steps: tuple  # member names (str) and calls (name, args)


@dataclass(frozen=True)
class Op:
    op: str  # "and", "or", "="
    left: object
    right: object


@dataclass(frozen=True)
class Lit:
    value: str


def _simplify(node: dict) -> object:
    kind = node.get("type", "EntireExpression")
    kids = node.get("children", [])
    if kind in ("EntireExpression", "TermExpression", "ParenthesizedTerm", "InvocationTerm", "LiteralTerm"):
        if len(kids) != 1:
            raise NotInWords(kind)
        return _simplify(kids[0])
    if kind == "InvocationExpression":
        left = _simplify(kids[0])
        right = _simplify(kids[1])
        if not isinstance(left, Path) or not isinstance(right, Path):
            raise NotInWords(kind)
        return Path(left.steps + right.steps)
    if kind == "MemberInvocation":
        return Path((kids[0]["text"].strip("`"),))
    if kind == "FunctionInvocation":
        fn = kids[0]
        name = fn["children"][0]["text"]
        params = fn["children"][1]["children"] if len(fn["children"]) > 1 else []
        return Path(((name, tuple(_simplify(p) for p in params)),))
    if kind in ("AndExpression", "OrExpression", "EqualityExpression"):
        op = node["terminalNodeText"][0]
        if op not in ("and", "or", "="):
            raise NotInWords(op)
        return Op(op, _simplify(kids[0]), _simplify(kids[1]))
    if kind == "StringLiteral":
        return Lit(_unquote(node["text"]))
    raise NotInWords(kind)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _flatten(node: object, op: str) -> list[object]:
    if isinstance(node, Op) and node.op == op:
        return _flatten(node.left, op) + _flatten(node.right, op)
    return [node]


def _equals(node: object, name: str) -> str:
    """The literal of ``name = 'literal'``."""
    if (
        isinstance(node, Op)
        and node.op == "="
        and isinstance(node.left, Path)
        and node.left.steps == (name,)
        and isinstance(node.right, Lit)
    ):
        return node.right.value
    raise NotInWords(f"expected {name} = '...'")


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _label(steps: tuple) -> str:
    names = [s for s in steps if isinstance(s, str) and s not in _SKIP_STEPS]
    if not names or len(names) != len([s for s in steps if isinstance(s, str)]) - sum(
        1 for s in steps if isinstance(s, str) and s in _SKIP_STEPS
    ):
        raise NotInWords("path")
    return " ".join(re.sub(r"(?<!^)(?=[A-Z])", " ", n).lower() for n in names)


class Words:
    def __init__(self, displays: dict[tuple[str, str], str]) -> None:
        self.displays = displays

    def code(self, system: str, code: str) -> str:
        display = self.displays.get((system, code))
        name = SYSTEM_NAMES.get(system)
        if name is None:  # a FHIR code system (statuses): the code is the word
            return f"{display} ({code})" if display else code
        return f"{display} ({name} {code})" if display else f"{name} {code}"

    def condition(self, expression: str) -> str:
        tree = _simplify(fhirpath.expression(expression).tree)
        if not isinstance(tree, Path) or len(tree.steps) != 5 or tree.steps[:2] != ("entry", "resource"):
            raise NotInWords("expected entry.resource.ofType(T).where(...).exists()")
        of_type, where, exists = tree.steps[2:]
        if not (isinstance(of_type, tuple) and of_type[0] == "ofType" and len(of_type[1]) == 1):
            raise NotInWords("ofType")
        if not (isinstance(where, tuple) and where[0] == "where" and exists == ("exists", ())):
            raise NotInWords("where/exists")
        type_path = of_type[1][0]
        if not isinstance(type_path, Path) or len(type_path.steps) != 1:
            raise NotInWords("type")
        rtype = type_path.steps[0]
        clauses = [self.clause(c) for c in _flatten(where[1][0], "and")]
        joined = clauses[0] if len(clauses) == 1 else "; ".join(clauses[:-1]) + "; and " + clauses[-1]
        return f"The patient's data holds {TYPE_WORDS.get(rtype, f'a {rtype}')} {joined}."

    def clause(self, node: object) -> str:
        if isinstance(node, Path) and len(node.steps) >= 3 and node.steps[-1] == ("exists", ()):
            where = node.steps[-2]
            if isinstance(where, tuple) and where[0] == "where" and len(where[1]) == 1:
                return f"whose {_label(node.steps[:-2])} is {self.codes(where[1][0])}"
        alternatives = _flatten(node, "or")
        if all(isinstance(a, Op) and a.op == "=" for a in alternatives):
            first = alternatives[0]
            assert isinstance(first, Op)
            if isinstance(first.left, Path) and len(first.left.steps) == 1:
                name = first.left.steps[0]
                values = [_equals(a, name) for a in alternatives]
                return f"whose {_label((name,))} is {_alternatives(values)}"
        raise NotInWords("clause")

    def codes(self, node: object) -> str:
        """``(system = S and code = C) or ...`` or ``system = S and (code = a or code = b)``."""
        parts = _flatten(node, "and")
        if len(parts) == 2:
            try:
                system = _equals(parts[0], "system")
            except NotInWords:
                system = None
            if system is not None:
                codes = [_equals(c, "code") for c in _flatten(parts[1], "or")]
                return _alternatives([self.code(system, c) for c in codes])
        found = []
        for alt in _flatten(node, "or"):
            pair = _flatten(alt, "and")
            if len(pair) != 2:
                raise NotInWords("coding")
            found.append(self.code(_equals(pair[0], "system"), _equals(pair[1], "code")))
        return _alternatives(found)


def displays_of(plan: dict) -> dict[tuple[str, str], str]:
    """Code displays the PlanDefinition itself gives (its actions' input code filters)."""
    found: dict[tuple[str, str], str] = {}
    for action in plan.get("action", []):
        for inp in action.get("input", []):
            for cf in inp.get("requirement", {}).get("codeFilter", []):
                for c in cf.get("code", []):
                    if c.get("display"):
                        found.setdefault((c.get("system", ""), c.get("code", "")), c["display"])
    return found


def in_words(expression: str, displays: dict[tuple[str, str], str]) -> str | None:
    """The condition in plain words, or None when its shape is not covered."""
    try:
        return Words(displays).condition(expression)
    except (NotInWords, fhirpath.FhirPathSyntaxError, KeyError, IndexError, TypeError):
        return None
