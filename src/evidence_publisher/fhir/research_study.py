"""ResearchStudy (R5): the study behind a publication's results, with its design, enrolment
period, recruitment, follow-up and funding.

R5 ResearchStudy has ``url`` and ``version`` elements but no ``url``/``version`` search
parameters, so it is keyed on ``identifier`` for conditional updates (bundle/transaction.py).
R5 has no element for a grant number: each grant is a secondary ``identifier`` whose ``assigner``
is the funder (as ClinicalTrials.gov records carry grant numbers among a study's secondary ids),
and each funding line is an ``associatedParty`` with role ``funding-source``.
"""

from __future__ import annotations

from evidence_publisher.fhir.common import (
    Context,
    base,
    concept,
    external_note,
    fmt,
    narrative,
    ref,
    resource_id,
    unit_words,
)
from evidence_publisher.fhir.evidence import DESIGN_CODES, STUDY_DESIGN
from evidence_publisher.fhir.evidence_variable import codeable
from evidence_publisher.sources.model import CitationSpec, Publication, SourceDocument

PARTY_ROLE = "http://hl7.org/fhir/research-study-party-role"
STUDY_STATUS = "http://hl7.org/fhir/research-study-status"
STUDY_PHASE = "http://hl7.org/fhir/research-study-phase"
ARM_TYPE = "http://hl7.org/fhir/research-study-arm-type"
_PHASES = {"phase-1-dose-escalation": ("phase-1", "Phase 1")}


def research_study_id(pub: Publication) -> str:
    return resource_id(pub.id, "study")


def has_research_study(pub: Publication) -> bool:
    """A study with a known design gets a ResearchStudy; figures whose study (or studies) are not
    identified at all do not."""
    return pub.study is not None and pub.study.design != "unknown"


def follow_up_text(pub: Publication) -> str | None:
    fu = pub.study.follow_up if pub.study else None
    if fu is None:
        return None
    if fu.mean is None:
        return f"Follow-up {fu.description.rstrip('.')}."
    d = fu.dispersion
    text = f"Mean follow-up {fmt(fu.mean)} {unit_words(fu.unit, fu.mean)}"
    if d is not None and d.kind == "unspecified":
        text = f"Mean follow-up {fmt(fu.mean)} ± {fmt(d.value)} {unit_words(fu.unit)} (SD or SE not stated)"
    elif d is not None and d.kind in ("sd", "se"):
        spread = f"± {fmt(d.value)} ({d.kind.upper()})"
        text = f"Mean follow-up {fmt(fu.mean)} {spread} {unit_words(fu.unit, fu.mean)}"
    elif d is not None:
        percent = f"{(d.level or 0) * 100:f}".rstrip("0").rstrip(".")
        label = {"iqr": "IQR", "range": "range", "ci": f"{percent} % CI"}[d.kind]
        text += f" ({label} {fmt(d.low)} to {fmt(d.high)} {unit_words(fu.unit)})"
    if fu.beyond is not None:
        b = fu.beyond
        text += (
            f"; {b.count} patients were followed for more than {fmt(b.value)} {unit_words(b.unit, b.value)}"
        )
    return text + "."


def map_research_study(
    ctx: Context,
    pub: Publication,
    source: SourceDocument,
    *,
    population_group: str,
    intervention_variable: str,
    study_citation: str | None,
    citation: CitationSpec | None,
    reported_in: str | None,
    extra_notes: list[str],
) -> dict:
    """``citation`` is the study's own citation (``pub``'s, or the one its ``citation_in`` names)."""
    study = pub.study
    assert study is not None
    rid = research_study_id(pub)
    cit = citation
    title = cit.title if cit is not None else pub.label
    res = base(ctx, "ResearchStudy", rid, title=title, date=pub.date)
    grants: dict[str, str] = {}
    for fund in cit.funding if cit else []:
        for grant in fund.grants:
            grants.setdefault(grant, fund.funder)  # one identifier per grant number
    res["identifier"] += [
        {
            "use": "secondary",
            "type": {"text": "Grant number"},
            "value": grant,
            "assigner": {"display": funder},
        }
        for grant, funder in grants.items()
    ]
    related = []
    if study_citation:
        related.append(
            {
                "type": "citation",
                "label": "Study publication",
                "resourceReference": ref("Citation", study_citation),
            }
        )
    if reported_in:
        related.append(
            {
                "type": "derived-from",
                "label": "Known only through",
                "display": f"{source.title} ({source.file}, {source.kind})",
                "resourceReference": ref("Citation", reported_in),
            }
        )
    if related:
        res["relatedArtifact"] = related
    res["primaryPurposeType"] = concept(
        "http://hl7.org/fhir/research-study-prim-purp-type", "treatment", "Treatment"
    )
    if study.design in _PHASES:
        code, display = _PHASES[study.design]
        res["phase"] = concept(STUDY_PHASE, code, display)
    design = DESIGN_CODES.get(study.design, [])
    if design:
        res["studyDesign"] = [concept(STUDY_DESIGN, code, display) for code, display in design]
    res["focus"] = [{"reference": ref("EvidenceVariable", intervention_variable, study.intervention.name)}]
    if study.population.condition:
        res["condition"] = [codeable([c], c.display or c.code) for c in study.population.condition]
    res["description"] = study.description
    if study.enrolment is not None:
        res["progressStatus"] = [
            {
                "state": concept(STUDY_STATUS, "recruiting", "Recruiting"),
                "actual": True,
                "period": {"start": study.enrolment.start, "end": study.enrolment.end},
            }
        ]
    parties = []
    for fund in cit.funding if cit else []:
        parties.append(
            {
                "name": fund.funder,
                "role": concept(PARTY_ROLE, "funding-source", "funding-source"),
            }
        )
    if parties:
        res["associatedParty"] = parties
    recruitment: dict = {"actualGroup": ref("Group", population_group)}
    if study.population.count is not None:
        recruitment["actualNumber"] = study.population.count
    res["recruitment"] = recruitment
    res["comparisonGroup"] = [
        {
            "linkId": "intervention",
            "name": study.intervention.name,
            "type": concept(ARM_TYPE, "experimental", "Experimental"),
            "description": "The only group of this single-arm study; there is no control group.",
            "intendedExposure": [ref("EvidenceVariable", intervention_variable)],
            "observedGroup": ref("Group", population_group),
        }
    ]
    notes: list[str] = [f"Setting: {study.setting}"] if study.setting else []
    fu = follow_up_text(pub)
    if fu:
        notes.append(fu)
    for i, fund in enumerate(cit.funding if cit else [], start=1):
        grants_text = f" [{', '.join(fund.grants)}]" if fund.grants else " (no grant number printed)"
        note = f"Funding line {i}: {fund.funder}{grants_text}"
        notes.append(note + (f". {fund.note}" if fund.note else "."))
    notes += extra_notes
    all_notes = [{"text": t} for t in notes]
    all_notes += [external_note(e) for e in (*study.external, *study.population.external)]
    if all_notes:
        res["note"] = all_notes
    rows = [("Design", study.description)]
    if study.setting:
        rows.append(("Setting", study.setting))
    if study.enrolment is not None:
        rows.append(("Enrolment", f"{study.enrolment.start} to {study.enrolment.end}"))
    if study.population.count is not None:
        rows.append(("Patients enrolled", str(study.population.count)))
    if fu:
        rows.append(("Follow-up", fu.removeprefix("Follow-up ").replace("Mean follow-up ", "mean ", 1)))
    rows.append(("Intervention", study.intervention.name))
    rows += [("Co-intervention", a.name + (f", {a.dose}" if a.dose else "")) for a in study.co_interventions]
    for fund in cit.funding if cit else []:
        grants_text = ", ".join(fund.grants) if fund.grants else "no grant number printed"
        rows.append(("Funder", f"{fund.funder} ({grants_text})"))
    rows += [(n.kind.capitalize(), n.text) for n in study.notes]
    if reported_in:
        rows.append(("Known only through", f"{source.title} ({source.file}, {source.kind}); not identified"))
    res["text"] = narrative(title, rows)
    return res
