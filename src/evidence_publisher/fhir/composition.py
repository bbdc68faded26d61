"""Composition: the Recommendation (EBM Recommendation profile) tying statement, population,
action, evidence and justification together."""

from __future__ import annotations

import html
from dataclasses import dataclass

from evidence_publisher.constants import FEVIR_EBM_CODES
from evidence_publisher.fhir.common import Context, base, claim_text, concept, narrative, ref, resource_id
from evidence_publisher.sources.model import Recommendation


def composition_id(rec: Recommendation) -> str:
    return resource_id(rec.id)


def _text(value: str) -> dict:
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(value)}</p></div>',
    }


def _section(code: str, title: str, **fields: object) -> dict:
    sec: dict = {"title": title, "code": concept(FEVIR_EBM_CODES, code)}
    sec.update({k: v for k, v in fields.items() if v})
    return sec


@dataclass(frozen=True)
class StudyResults:
    """Every Evidence of one publication, for the Evidence section's per-study subsections."""

    label: str
    research_study: str | None
    evidence: list[tuple[str, str]]  # (Evidence id, title)


def map_recommendation(
    ctx: Context,
    rec: Recommendation,
    *,
    citation_id: str,
    population_group: str,
    plan_id: str,
    evidence: list[tuple[str, str]],
    justification_id: str,
    studies: list[StudyResults],
) -> dict:
    rid = composition_id(rec)
    res = base(ctx, "Composition", rid, title=rec.title, date=rec.date, profiles=["recommendation"])
    res["type"] = concept(FEVIR_EBM_CODES, "Recommendation", "Recommendation")
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
    cited = {eid for eid, _ in evidence}
    others = []
    for study in studies:
        rest = [(eid, t) for eid, t in study.evidence if eid not in cited]
        if rest:
            others.append(
                {
                    "title": f"Other results reported for {study.label}",
                    **({"focus": ref("ResearchStudy", study.research_study)} if study.research_study else {}),
                    "text": _text(
                        f"Results reported for {study.label} that the recommendation does not cite; "
                        "listed so that every published result can be reached from here."
                    ),
                    "entry": [ref("Evidence", eid, t) for eid, t in rest],
                }
            )
    sections = [
        spec,
        _section(
            "evidence",
            "Evidence",
            text=_text("Results the recommendation cites, then every other result of the same sources."),
            entry=[ref("Evidence", eid, t) for eid, t in evidence],
            section=others,
        ),
        _section("justification", "Justification", entry=[ref("ArtifactAssessment", justification_id)]),
    ]
    considerations = ([rec.caution] if rec.caution else []) + [c.text for c in rec.considerations]
    if considerations:
        sections.append(_section("considerations", "Considerations", text=_text(" ".join(considerations))))
    res["section"] = sections
    if rec.claims:
        res["note"] = [{"text": claim_text(c)} for c in rec.claims]
    rows = [("Statement", rec.statement), ("Ratings", ratings)]
    if rec.experimental:
        rows.append(("Status", "experimental: not for use as a vetted decision rule"))
    if rec.caution:
        rows.append(("Caution", rec.caution))
    res["text"] = narrative(rec.title, rows)
    return res
