"""Composition: the Recommendation (EBM Recommendation profile) tying statement, population,
action, evidence and justification together."""

from __future__ import annotations

import html

from evidence_publisher.fhir.common import FEVIR_179423, Context, base, concept, narrative, ref, resource_id
from evidence_publisher.sources.model import Recommendation


def composition_id(rec: Recommendation) -> str:
    return resource_id(rec.id)


def _text(value: str) -> dict:
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(value)}</p></div>',
    }


def _section(code: str, title: str, **fields: object) -> dict:
    sec: dict = {"title": title, "code": concept(FEVIR_179423, code)}
    sec.update({k: v for k, v in fields.items() if v})
    return sec


def map_recommendation(
    ctx: Context,
    rec: Recommendation,
    *,
    citation_id: str,
    population_group: str,
    plan_id: str,
    evidence: list[tuple[str, str]],
    justification_id: str,
) -> dict:
    rid = composition_id(rec)
    res = base(ctx, "Composition", rid, title=rec.title, date=rec.date, profiles=["recommendation"])
    res["type"] = concept(FEVIR_179423, "Recommendation", "Recommendation")
    res["author"] = [{"display": ctx.publisher}]
    res["relatesTo"] = [
        {
            "type": "derived-from",
            "label": "Derived from",
            "display": "Document that states the advice",
            "resourceReference": ref("Citation", citation_id),
        }
    ]
    ratings = (
        "No source states a strength of recommendation, a direction or a level of evidence; none is given."
        if rec.strength is None and rec.direction is None
        else "; ".join(
            f"{k}: {v.value}" for k, v in (("strength", rec.strength), ("direction", rec.direction)) if v
        )
    )
    spec = _section(
        "recommendation-specification",
        "Recommendation specification",
        section=[
            _section("recommendation-statement", "Statement", text=_text(rec.statement)),
            _section("ratings", "Ratings", text=_text(ratings)),
            _section(
                "population",
                "Population",
                text=_text(rec.population.description),
                entry=[ref("Group", population_group)],
            ),
            _section(
                "action", "Action", text=_text(rec.action.description), entry=[ref("PlanDefinition", plan_id)]
            ),
        ],
    )
    sections = [
        spec,
        _section("evidence", "Evidence", entry=[ref("Evidence", eid, t) for eid, t in evidence]),
        _section("justification", "Justification", entry=[ref("ArtifactAssessment", justification_id)]),
    ]
    if rec.considerations:
        sections.append(
            _section(
                "considerations", "Considerations", text=_text(" ".join(c.text for c in rec.considerations))
            )
        )
    res["section"] = sections
    if rec.claims:
        res["note"] = [{"text": f"Attribution claim ({c.status}): {c.claim} {c.note}"} for c in rec.claims]
    res["text"] = narrative(rec.title, [("Statement", rec.statement), ("Ratings", ratings)])
    return res
