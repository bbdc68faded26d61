"""Group: enumerated study populations (with counts) and definitional eligibility groups.

A Group characteristic states what every member has (here: the condition). Summaries of the
members (14 of 15 women, a mean age) are not characteristics of each member; they are published
as BaselineMeasureEvidence and listed in the Group's description and narrative.
"""

from __future__ import annotations

from evidence_publisher.constants import ARTIFACT_EXPERIMENTAL_EXT
from evidence_publisher.fhir.common import Context, base, narrative
from evidence_publisher.fhir.evidence_variable import codeable
from evidence_publisher.sources.model import Population, RecPopulation


def map_study_group(ctx: Context, pop: Population, date: str, baseline: list[tuple[str, str]]) -> dict:
    """``baseline``: (characteristic, summary in words) of the BaselineMeasureEvidence."""
    res = base(ctx, "Group", pop.id, title=pop.name, date=date, profiles=["study-group"])
    res["name"] = pop.name
    res["type"] = "person"
    res["membership"] = "enumerated"
    if pop.count is not None:
        res["quantity"] = pop.count
    lines = [pop.description.rstrip(".") + "."]
    lines += [f"{name}: {summary}." for name, summary in baseline]
    res["description"] = " ".join(lines)
    characteristic = {"code": {"text": "Study population"}, "valueCodeableConcept": {"text": pop.description}}
    characteristics = [{**characteristic, "exclude": False}]
    if pop.condition:
        characteristics.append(
            {
                "code": {"text": "Condition every member has"},
                "valueCodeableConcept": codeable(pop.condition, pop.condition[0].display or "condition"),
                "exclude": False,
            }
        )
    res["characteristic"] = characteristics
    rows = [("Description", pop.description)]
    rows.append(("Patients", str(pop.count) if pop.count is not None else "number not stated"))
    rows += [(c.display or c.code, f"condition of every member (SNOMED CT {c.code})") for c in pop.condition]
    rows += baseline
    res["text"] = narrative(pop.name, rows)
    return res


def map_eligibility_group(
    ctx: Context, pop: RecPopulation, title: str, date: str, experimental: bool = False
) -> dict:
    res = base(ctx, "Group", pop.id, title=title, date=date, profiles=["cohort-definition"])
    if experimental:
        res["extension"].append({"url": ARTIFACT_EXPERIMENTAL_EXT, "valueBoolean": True})
    res["name"] = title
    res["type"] = "person"
    res["membership"] = "definitional"
    res["description"] = pop.description
    res["characteristic"] = [
        {
            "code": {"text": crit.description},
            "valueCodeableConcept": codeable(crit.codes, crit.reading),
            "exclude": False,
        }
        for crit in pop.criteria
    ]
    rows = [("Description", pop.description)] + [(crit.description, crit.reading) for crit in pop.criteria]
    res["text"] = narrative(title, rows)
    return res
