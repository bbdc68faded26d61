"""Evaluate a recommendation's applicability conditions on a patient's data.

Contract (docs/output-format.md, "Recommendation logic"): each ``text/fhirpath`` condition is
evaluated with a collection Bundle of the patient's data as its context resource (also bound to
``%resource`` and ``%rootResource``); it holds iff the result is exactly ``[true]``; the action
applies iff all applicability conditions hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evidence_publisher import fhirpath
from evidence_publisher.cds.errors import ConditionEvaluationError
from evidence_publisher.cds.fhir_types import type_problems
from evidence_publisher.cds.recommendation import Recommendation

# A resource with the place it came from ("prefetch.observation", "patient file", ...).
Sourced = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Evaluation:
    applies: bool
    results: tuple[tuple[str, bool], ...]  # (expression, held)


def patient_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def evaluate(rec: Recommendation, resources: list[dict[str, Any]]) -> Evaluation:
    bundle = patient_bundle(resources)
    results: list[tuple[str, bool]] = []
    for cond in rec.conditions:
        try:
            value = cond.evaluate(bundle)
        except fhirpath.FhirPathEvaluationError as exc:
            raise ConditionEvaluationError(
                f"PlanDefinition/{rec.id}: condition {cond.expression!r} failed: {exc}"
            ) from exc
        held = len(value) == 1 and value[0] is True
        results.append((cond.expression, held))
        if not held:
            break  # all must hold; the rest cannot change the outcome
    return Evaluation(applies=all(h for _, h in results), results=tuple(results))


def evaluate_data(
    rec: Recommendation,
    sourced: list[Sourced],
    bad_data: Callable[..., Exception],
) -> Evaluation:
    """``evaluate`` on data from outside. When a condition fails to evaluate, the data is checked
    against the R5 types: a malformed element is the sender's mistake and ``bad_data(message,
    details=...)`` is raised (the HTTP layer answers 400, the CLI exits 2), naming where the resource
    came from and the element, never the condition. Well-typed data that still fails is a bug:
    the ConditionEvaluationError goes on (500 / exit 1)."""
    try:
        return evaluate(rec, [res for _, res in sourced])
    except ConditionEvaluationError:
        found = [(origin, res, paths) for origin, res in sourced if (paths := type_problems(res))]
        if not found:
            raise
        details = [f"{origin}: {_label(res)}: {', '.join(paths)}" for origin, res, paths in found]
        details = details if len(details) > 1 else []
        origin, res, paths = found[0]
        raise bad_data(
            f"{origin}: {_label(res)} has a value of the wrong type or form at {', '.join(paths)}; "
            "it is not valid FHIR R5",
            details=details,
        ) from None


def _label(res: dict[str, Any]) -> str:
    rtype, rid = res.get("resourceType"), res.get("id")
    rtype = rtype if isinstance(rtype, str) else "resource"
    return f"{rtype}/{rid}" if isinstance(rid, str) and len(rid) <= 64 else rtype
