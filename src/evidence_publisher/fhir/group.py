"""Group: enumerated study populations (with counts) and definitional eligibility groups."""

from __future__ import annotations

from evidence_publisher.fhir.common import Context, base, fmt, narrative
from evidence_publisher.sources.model import Population, RecPopulation


def map_study_group(ctx: Context, pop: Population, date: str) -> dict:
    res = base(ctx, "Group", pop.id, title=pop.name, date=date, profiles=["study-group"])
    res["name"] = pop.name
    res["type"] = "person"
    res["membership"] = "enumerated"
    if pop.count is not None:
        res["quantity"] = pop.count
    lines = [pop.description]
    for ch in pop.characteristics:
        stat = f"{ch.statistic} " if ch.statistic else ""
        unit = f" {ch.unit}" if ch.unit else ""
        lines.append(f"{ch.description}: {stat}{fmt(ch.value)}{unit}".rstrip(": "))
    res["description"] = "; ".join(lines)
    res["characteristic"] = [
        {
            "code": {"text": "Study population"},
            "valueCodeableConcept": {"text": pop.description},
            "exclude": False,
        }
    ]
    rows = [("Description", pop.description)]
    if pop.count is not None:
        rows.append(("Participants", str(pop.count)))
    rows += [(ch.description, f"{fmt(ch.value)} {ch.unit or ''}".strip()) for ch in pop.characteristics]
    res["text"] = narrative(pop.name, rows)
    return res


def map_eligibility_group(ctx: Context, pop: RecPopulation, title: str, date: str) -> dict:
    res = base(ctx, "Group", pop.id, title=title, date=date, profiles=["cohort-definition"])
    res["name"] = title
    res["type"] = "person"
    res["membership"] = "definitional"
    res["description"] = pop.description
    res["characteristic"] = [
        {
            "code": {"text": crit.description},
            "valueCodeableConcept": {
                "coding": [{k: v for k, v in c.model_dump().items() if v is not None} for c in crit.codes],
                "text": crit.reading,
            },
            "exclude": False,
        }
        for crit in pop.criteria
    ]
    rows = [("Description", pop.description)] + [(crit.description, crit.reading) for crit in pop.criteria]
    res["text"] = narrative(title, rows)
    return res
