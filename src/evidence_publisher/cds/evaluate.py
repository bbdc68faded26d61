"""Evaluate a recommendation's applicability conditions on a patient's data.

Contract (docs/output-format.md, "Recommendation logic"): each ``text/fhirpath`` condition is
evaluated with a collection Bundle of the patient's data as its context resource (also bound to
``%resource`` and ``%rootResource``); it holds iff the result is exactly ``[true]``; the action
applies iff all applicability conditions hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evidence_publisher.cds.errors import ConditionEvaluationError
from evidence_publisher.cds.recommendation import Recommendation


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
        except Exception as exc:  # fhirpathpy raises bare Exceptions
            raise ConditionEvaluationError(
                f"PlanDefinition/{rec.id}: condition {cond.expression!r} failed: {exc}"
            ) from exc
        held = len(value) == 1 and value[0] is True
        results.append((cond.expression, held))
        if not held:
            break  # all must hold; the rest cannot change the outcome
    return Evaluation(applies=all(h for _, h in results), results=tuple(results))
