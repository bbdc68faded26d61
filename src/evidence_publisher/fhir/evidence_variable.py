"""EvidenceVariable: outcomes at their timepoints, interventions and co-interventions."""

from __future__ import annotations

import re

from evidence_publisher.fhir.common import EBM, Context, base, external_note, narrative, resource_id
from evidence_publisher.sources.model import Agent, Outcome, Timepoint


def timepoint_slug(tp: Timepoint) -> str:
    if tp.baseline:
        label = re.sub(r"[^a-z0-9]+", "-", tp.label.lower()).strip("-")
        return "baseline" if label == "baseline" else f"baseline-{label[:30].strip('-')}"
    if tp.value is not None:
        return f"{tp.value}{tp.unit}".replace(".", "-")
    return re.sub(r"[^a-z0-9]+", "-", tp.label.lower()).strip("-")[:40].strip("-")


def outcome_variable_id(pub_id: str, outcome: Outcome, tp: Timepoint) -> str:
    return resource_id(pub_id, outcome.id, timepoint_slug(tp))


def map_outcome_variable(
    ctx: Context, pub_id: str, label: str, outcome: Outcome, tp: Timepoint, date: str
) -> dict:
    rid = outcome_variable_id(pub_id, outcome, tp)
    title = f"{outcome.name}, {tp.label} ({label})"
    res = base(ctx, "EvidenceVariable", rid, title=title, date=date, profiles=["variable-definition"])
    res["description"] = f"{outcome.description} Timepoint: {tp.label}."
    res["extension"] = [
        {
            "url": EBM + "evidence-variable-definition",
            "valueCodeableReference": {"concept": {"text": f"{outcome.name} at {tp.label}"}},
        }
    ]
    res["handling"] = outcome.handling
    res["text"] = narrative(
        title, [("Outcome", outcome.description), ("Timepoint", tp.label), ("Handling", outcome.handling)]
    )
    return res


def map_agent_variable(ctx: Context, agent: Agent, role: str, date: str) -> dict:
    res = base(
        ctx, "EvidenceVariable", agent.id, title=agent.name, date=date, profiles=["variable-definition"]
    )
    parts = [agent.description or agent.name]
    if agent.dose:
        parts.append(f"Dose as reported: {agent.dose}.")
    else:
        parts.append("Dose: not reported in the corpus.")
    res["description"] = " ".join(parts)
    res["extension"] = [
        {
            "url": EBM + "evidence-variable-definition",
            "valueCodeableReference": {"concept": {"text": agent.name}},
        }
    ]
    res["handling"] = "dichotomous"
    notes = [{"text": f"Role in the study: {role}."}]
    res["note"] = notes + [external_note(ext) for ext in agent.external]
    rows = [
        ("Role", role),
        ("Description", agent.description or agent.name),
        ("Dose", agent.dose or "not reported"),
    ]
    res["text"] = narrative(agent.name, rows)
    return res
