"""PlanDefinition: the recommendation as an ECA rule with computable applicability conditions.

Each criterion of the mapping becomes one ``text/fhirpath`` applicability condition, evaluated with
a collection Bundle of the patient's data as its context (docs/output-format.md). The expressions
are this project's reading of the advice; the reading is published with each condition.
"""

from __future__ import annotations

from evidence_publisher.constants import PLAN_DEFINITION_TYPE
from evidence_publisher.fhir.common import Context, base, concept, narrative, resource_id
from evidence_publisher.sources.model import Coding, Criterion, Recommendation

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _lit(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _any_code(path: str, codes: list[Coding]) -> str:
    alts = " or ".join(f"(system = {_lit(c.system)} and code = {_lit(c.code)})" for c in codes)
    return f"{path}.where({alts}).exists()"


def criterion_fhirpath(crit: Criterion) -> str:
    """The FHIRPath of one criterion over a Bundle of patient data."""
    if crit.resource == "Condition":
        parts = [_any_code("code.coding", crit.codes)]
        if crit.clinical_status:
            states = " or ".join(f"code = {_lit(s)}" for s in crit.clinical_status)
            parts.append(
                f"clinicalStatus.coding.where(system = {_lit(CONDITION_CLINICAL)} and ({states})).exists()"
            )
        if crit.severity:
            parts.append(_any_code("severity.coding", crit.severity))
    elif crit.resource == "MedicationRequest":
        parts = [_any_code("medication.concept.coding", crit.codes)]
        if crit.request_status:
            parts.append("(" + " or ".join(f"status = {_lit(s)}" for s in crit.request_status) + ")")
    else:
        parts = [_any_code("code.coding", crit.codes)]
    where = " and ".join(parts)
    return f"entry.resource.ofType({crit.resource}).where({where}).exists()"


def _codings(codes: list[Coding]) -> list[dict]:
    return [
        {"system": c.system, "code": c.code, **({"display": c.display} if c.display else {})} for c in codes
    ]


def _data_requirement(crit: Criterion) -> dict:
    path = "medication" if crit.resource == "MedicationRequest" else "code"
    filters = [{"path": path, "code": _codings(crit.codes)}]
    if crit.resource == "Condition" and crit.severity:
        filters.append({"path": "severity", "code": _codings(crit.severity)})
    return {"type": crit.resource, "codeFilter": filters}


def plan_definition_id(rec: Recommendation) -> str:
    return resource_id(rec.id, "plan")


def map_plan_definition(
    ctx: Context,
    rec: Recommendation,
    *,
    activity_id: str,
    citation_id: str,
    evidence: list[tuple[str, str]],
    justification_id: str,
    certainty_ids: list[str],
) -> dict:
    rid = plan_definition_id(rec)
    res = base(ctx, "PlanDefinition", rid, title=rec.title, date=rec.date, profiles=["recommendation-plan"])
    res["experimental"] = rec.experimental
    res["type"] = concept(PLAN_DEFINITION_TYPE, "eca-rule", "ECA Rule")
    res["description"] = rec.statement
    reading = (
        "Applicability conditions are this project's computable reading of the advice (see each "
        "condition's description); a clinician confirms that standard treatment has failed."
    )
    res["usage"] = f"{rec.caution} {reading}" if rec.caution else reading
    res["relatedArtifact"] = [
        {
            "type": "citation",
            "display": "Document that states the advice",
            "resource": ctx.canonical("Citation", citation_id),
        },
        {
            "type": "justification",
            "display": "Recommendation justification",
            "resourceReference": {"reference": f"ArtifactAssessment/{justification_id}"},
        },
    ] + [
        {
            "type": "justification",
            "display": "Certainty of evidence",
            "resourceReference": {"reference": f"ArtifactAssessment/{cid}"},
        }
        for cid in certainty_ids
    ]
    action: dict = {
        "title": rec.action.title,
        "description": rec.action.description,
        "priority": "routine",
        "documentation": [
            {"type": "justification", "display": title, "resource": ctx.canonical("Evidence", eid)}
            for eid, title in evidence
        ],
        "trigger": [
            {"type": "named-event", "name": "patient-view"},
            {"type": "named-event", "name": "order-select"},
        ],
        "input": [
            {"title": crit.id, "requirement": _data_requirement(crit)} for crit in rec.population.criteria
        ],
        "condition": [
            {
                "kind": "applicability",
                "expression": {
                    "description": f"{crit.description} Reading: {crit.reading}",
                    "name": crit.id.replace("-", "_"),
                    "language": "text/fhirpath",
                    "expression": criterion_fhirpath(crit),
                },
            }
            for crit in rec.population.criteria
        ],
        "definitionCanonical": ctx.canonical("ActivityDefinition", activity_id),
    }
    res["action"] = [action]
    rows = [("Statement", rec.statement), ("Action", rec.action.title)]
    if rec.experimental:
        rows.append(("Status", "experimental: not for use as a vetted decision rule"))
    if rec.caution:
        rows.append(("Caution", rec.caution))
    rows += [(f"Condition {c.id}", c.reading) for c in rec.population.criteria]
    res["text"] = narrative(rec.title, rows)
    return res
