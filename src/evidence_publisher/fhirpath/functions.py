"""FHIR's additions to FHIRPath that fhirpathpy lacks, as fhirpathpy user functions.

The compiled engine implements the same functions in compiler/fhir.py on top of the same
semantics (``has_value``, ``conforms_to``, boundaries.py, narrative.py), so both engines answer
alike. ``trace()`` is replaced too: fhirpathpy's prints to stdout.
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.constants import CORE_SD
from evidence_publisher.fhirpath.adapter import resource_node
from evidence_publisher.fhirpath.boundaries import boundary, comparable
from evidence_publisher.fhirpath.hooks import Hooks
from evidence_publisher.fhirpath.narrative import html_checks


def has_value(inputs: list) -> list:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


def conforms_to(inputs: list, url: str) -> list:
    """True/False for the base resource profiles (by resourceType), empty (unknown) otherwise."""
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        return []
    if url.startswith(CORE_SD):
        name = url.rsplit("/", 1)[1]
        if name[:1].isupper() and "-" not in name:
            return [inputs[0].get("resourceType") == name]
    return []


_FIXED: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": has_value, "arity": {0: []}},
    "conformsTo": {"fn": conforms_to, "arity": {1: ["String"]}},
    "lowBoundary": {"fn": lambda i, *a: boundary(i, False), "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": lambda i, *a: boundary(i, True), "arity": {0: [], 1: ["Integer"]}},
    "comparable": {"fn": comparable, "arity": {1: ["AnyAtRoot"]}},
    "htmlChecks": {"fn": html_checks, "arity": {0: []}},
    "trace": {"fn": lambda i, *a: i, "arity": {0: [], 1: ["String"], 2: ["String", "AnyAtRoot"]}},
}


def for_fhirpathpy(hooks: Hooks) -> dict[str, dict[str, Any]]:
    """fhirpathpy's ``userInvocationTable`` with ``resolve()`` and ``memberOf()`` bound to ``hooks``."""

    def resolve(inputs: list) -> list:
        if hooks.resolve is None:
            return []
        out = []
        for item in inputs:
            ref = item.get("reference") if isinstance(item, dict) else item
            if not isinstance(ref, str):
                continue
            target = hooks.resolve(ref)
            if target is not None:
                out.append(resource_node(target, target.get("resourceType")))
        return out

    def member_of(inputs: list, url: str) -> list:
        if hooks.member_of is None or len(inputs) != 1:
            return []
        answer = hooks.member_of(inputs[0], url)
        return [] if answer is None else [answer]

    return {
        **_FIXED,
        "resolve": {"fn": resolve, "arity": {0: []}},
        "memberOf": {"fn": member_of, "arity": {1: ["String"]}},
    }
