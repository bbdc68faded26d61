"""EvidenceVariable: outcomes at their timepoints, interventions and co-interventions.

Each outcome at a timepoint gets two variables:

- the *observed* VariableDefinition (EBM profile; its definition is the coded concept, and the
  profile forbids ``characteristic``), referenced by ``Evidence.variableDefinition.observed``;
- the *measure* (a plain R5 EvidenceVariable) with the same coded definition in a
  ``characteristic`` and the timing in ``characteristic.timeFromEvent`` (time after the study's
  intervention), referenced by ``Evidence.variableDefinition.intended``.
"""

from __future__ import annotations

import re

from evidence_publisher.constants import EBM_SD, UCUM
from evidence_publisher.fhir.common import (
    Context,
    base,
    external_note,
    narrative,
    ref,
    resource_id,
    time_phrase,
    unit_words,
    with_unit,
)
from evidence_publisher.sources.model import Agent, Coding, Outcome, Timepoint


def timepoint_slug(tp: Timepoint) -> str:
    if tp.baseline:
        label = re.sub(r"[^a-z0-9]+", "-", tp.label.lower()).strip("-")
        return "baseline" if label == "baseline" else f"baseline-{label[:30].strip('-')}"
    if tp.value is not None:
        return ("by-" if tp.cumulative else "") + f"{tp.value}{tp.unit}".replace(".", "-")
    return re.sub(r"[^a-z0-9]+", "-", tp.label.lower()).strip("-")[:40].strip("-")


def outcome_variable_id(pub_id: str, outcome: Outcome, tp: Timepoint) -> str:
    return resource_id(pub_id, outcome.id, timepoint_slug(tp))


def measure_variable_id(pub_id: str, outcome: Outcome, tp: Timepoint) -> str:
    return resource_id(outcome_variable_id(pub_id, outcome, tp), "measure")


def codeable(codes: list[Coding], text: str) -> dict:
    out: dict = {}
    if codes:
        out["coding"] = [{k: v for k, v in c.model_dump().items() if v is not None} for c in codes]
    out["text"] = text
    return out


def _definition_ext(codes: list[Coding], text: str) -> list[dict]:
    return [
        {
            "url": EBM_SD + "evidence-variable-definition",
            "valueCodeableReference": {"concept": codeable(codes, text)},
        }
    ]


def _coding_rows(codes: list[Coding]) -> list[tuple[str, str]]:
    return [("Code", f"{c.display} ({_system_name(c.system)} {c.code})") for c in codes]


def _system_name(system: str) -> str:
    return {
        "http://snomed.info/sct": "SNOMED CT",
        "http://loinc.org": "LOINC",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    }.get(system, system)


def map_outcome_variable(
    ctx: Context, pub_id: str, label: str, outcome: Outcome, tp: Timepoint, date: str
) -> dict:
    rid = outcome_variable_id(pub_id, outcome, tp)
    when = time_phrase(tp.label, tp.baseline)
    title = f"{label}: {outcome.name} {when}"
    res = base(ctx, "EvidenceVariable", rid, title=title, date=date, profiles=["variable-definition"])
    res["description"] = f"{outcome.description} Measured {when}."
    res["extension"] = _definition_ext(outcome.codes, f"{outcome.name} {when}")
    if not outcome.codes:
        res["note"] = [{"text": "No standard code fits this variable; it is defined by its text."}]
    res["handling"] = outcome.handling
    rows = [("Variable", outcome.description), ("Time", tp.label), ("Handling", outcome.handling)]
    res["text"] = narrative(title, rows + _coding_rows(outcome.codes))
    return res


def time_from_event(tp: Timepoint, event_variable: str, event_name: str) -> dict:
    """R5 ``EvidenceVariable.characteristic.timeFromEvent``: the time after the intervention."""
    out: dict = {
        "description": tp.label,
        "eventReference": ref("EvidenceVariable", event_variable, event_name),
    }
    if tp.value is not None and tp.unit is not None:
        q = {"value": tp.value, "unit": unit_words(tp.unit, tp.value), "system": UCUM, "code": tp.unit}
        if tp.cumulative:
            out["range"] = {"high": q}
        else:
            out["quantity"] = q
    return out


def map_outcome_measure(
    ctx: Context,
    pub_id: str,
    label: str,
    outcome: Outcome,
    tp: Timepoint,
    date: str,
    *,
    event_variable: str,
    event_name: str,
) -> dict:
    rid = measure_variable_id(pub_id, outcome, tp)
    when = time_phrase(tp.label, tp.baseline)
    title = f"{label}: {outcome.name} {when} (outcome measure with its timing)"
    res = base(ctx, "EvidenceVariable", rid, title=title, date=date)
    res["description"] = f"{outcome.description} Measured {when}" + (
        ", counted from the intervention." if tp.value is not None else "."
    )
    characteristic: dict = {
        "description": f"{outcome.name} {when}",
        "definitionCodeableConcept": codeable(outcome.codes, outcome.name),
    }
    if not tp.label.startswith(("not ", "timepoint not")) and "not stated" not in tp.label:
        characteristic["timeFromEvent"] = [time_from_event(tp, event_variable, event_name)]
    res["characteristic"] = [characteristic]
    res["handling"] = outcome.handling
    rows = [("Variable", outcome.description), ("Time", tp.label)]
    if tp.value is not None:
        span = "up to " if tp.cumulative else ""
        rows.append(("Time after the intervention", f"{span}{tp.value} {unit_words(tp.unit, tp.value)}"))
    res["text"] = narrative(title, rows + _coding_rows(outcome.codes))
    return res


def map_agent_variable(ctx: Context, agent: Agent, role: str, date: str) -> dict:
    res = base(
        ctx, "EvidenceVariable", agent.id, title=agent.name, date=date, profiles=["variable-definition"]
    )
    parts = [(agent.description or agent.name).rstrip(".") + "."]
    parts.append(f"Dose as reported: {agent.dose}." if agent.dose else "Dose: not reported in the corpus.")
    if agent.starts is not None:
        parts.append(
            f"Starts {agent.starts.value} {unit_words(agent.starts.unit, agent.starts.value)} "
            "after the study intervention."
        )
    res["description"] = " ".join(parts)
    res["extension"] = _definition_ext(agent.codes, agent.name)
    res["handling"] = "dichotomous"
    notes = [{"text": f"Role in the study: {role}."}]
    res["note"] = notes + [external_note(ext) for ext in agent.external]
    rows = [("Role", role)]
    if agent.description:
        rows.append(("Description", agent.description))
    rows.append(("Dose", agent.dose or "not reported in the corpus"))
    if agent.starts is not None:
        rows.append(
            (
                "Starts",
                f"{with_unit(agent.starts.value, agent.starts.unit)} after the intervention",
            )
        )
    res["text"] = narrative(agent.name, rows + _coding_rows(agent.codes))
    return res
