"""Evidence: one single-study, non-comparative Evidence per reported result.

Single-arm before/after designs have no comparator arm, so no between-group effect estimate is
made; each timepoint is its own Evidence, and a within-patient change appears only where it was
derived from reported values (marked as derived, with its formula, never with an invented SD).
"""

from __future__ import annotations

from evidence_publisher.fhir.common import (
    ATTRIBUTE_ESTIMATE,
    CERTAINTY_RATING,
    CERTAINTY_TYPE,
    EBM,
    SEVCO,
    STATISTIC_TYPE,
    Context,
    base,
    coding,
    concept,
    external_note,
    fmt,
    narrative,
    quantity,
    quote_text,
    ref,
    resource_id,
)
from evidence_publisher.sources.model import Certainty, Publication, Result, SourceDocument

STATISTIC_CODES = {
    "mean": (STATISTIC_TYPE, "C53319", "Mean"),
    "median": (STATISTIC_TYPE, "C28007", "Median"),
    "proportion": (STATISTIC_TYPE, "C44256", "Proportion"),
    "count": (STATISTIC_TYPE, "C25463", "Count"),
    # THO's 0000457 is a between-group difference; a within-patient change is SEVCO's.
    "mean-change": (SEVCO, "TBD:0000177", "Mean of differences"),
}
DISPERSION_CODES = {
    "sd": ("C53322", "Standard Deviation"),
    "se": ("0000037", "Standard error of the mean"),
    "ci": ("C53324", "Confidence interval"),
    "iqr": ("C53245", "Interquartile range"),
    "range": ("C38013", "Range"),
}
STUDY_DESIGN = "http://hl7.org/fhir/study-design"
DESIGN_CODES = {
    "single-arm-before-after": [
        ("SEVCO:01016", "Uncontrolled cohort design"),
        ("SEVCO:01019", "Before and after comparison"),
    ],
    "single-arm": [("SEVCO:01016", "Uncontrolled cohort design")],
    "phase-1-dose-escalation": [("SEVCO:01016", "Uncontrolled cohort design")],
    "cohort": [("SEVCO:01016", "Uncontrolled cohort design")],
}
VARIABLE_ROLE = "http://terminology.hl7.org/CodeSystem/variable-role"
_ROLE_CODES = {
    "population": "population",
    "exposure": "exposure",
    "outcome": "measuredVariable",
    "covariate": "confounder",
}


def evidence_id(pub: Publication, res: Result) -> str:
    return resource_id(pub.id, res.id)


def _variable(role: str, target_key: str, target: dict, note: str | None = None) -> dict:
    var = {
        "extension": [{"url": EBM + "variable-definition-variable-role-code", "valueCode": role}],
        "note": [{"text": role}],
        "variableRole": {
            "coding": [coding(VARIABLE_ROLE, _ROLE_CODES[role])],
            "text": "Use extension:variableRoleCode instead.",
        },
        target_key: target,
    }
    if note:
        var["description"] = note
    return var


def statistic_summary(res: Result) -> str:
    """A one-line statement of exactly the structured numbers (the validator compares them)."""
    parts = []
    unit = f" {res.unit}" if res.unit else ""
    if res.value is not None:
        name = res.statistic if res.statistic not in ("none",) else "value (statistic not reported)"
        parts.append(f"{name} {fmt(res.value)}{unit}")
    if res.dispersion is not None:
        d = res.dispersion
        if d.kind in ("sd", "se"):
            parts.append(f"{d.kind.upper()} {fmt(d.value)}")
        elif d.kind == "unspecified":
            parts.append(f"± {fmt(d.value)} (SD or SE not stated)")
        else:
            parts.append(f"{d.kind} {fmt(d.low)} to {fmt(d.high)}{unit}")
    if res.counts is not None:
        den = f" of {res.counts.denominator}" if res.counts.denominator else " (denominator not stated)"
        parts.append(f"{res.counts.affected}{den} with the outcome")
    if res.participants is not None:
        parts.append(f"n = {res.participants}")
    if res.p_value is not None:
        p = res.p_value
        test = f", {p.test}" if p.test else ""
        parts.append(f"p {p.comparator} {fmt(p.value)} vs {p.compared_with}{test}")
    return "; ".join(parts) if parts else "no numeric result reported"


def map_statistic(res: Result) -> dict | None:
    has_numbers = any(
        x is not None for x in (res.value, res.dispersion, res.p_value, res.counts, res.participants)
    )
    if not has_numbers:
        return None
    stat: dict = {"description": statistic_summary(res)}
    if res.statistic in STATISTIC_CODES:
        system, code, display = STATISTIC_CODES[res.statistic]
        stat["statisticType"] = concept(system, code, display)
    if res.value is not None:
        stat["quantity"] = quantity(res.value, res.unit)
    if res.counts is not None:
        stat["numberAffected"] = res.counts.affected
    n = res.participants or (res.counts.denominator if res.counts else None)
    if n is not None:
        stat["sampleSize"] = {"numberOfStudies": 1, "numberOfParticipants": n}
    estimates = []
    if res.dispersion is not None:
        d = res.dispersion
        if d.kind == "unspecified":
            estimates.append(
                {
                    "description": "± as reported; the source does not say whether it is an SD or an SE",
                    "type": {"text": "± (SD or SE not stated)"},
                    "quantity": quantity(d.value, res.unit),
                }
            )
        else:
            code, display = DISPERSION_CODES[d.kind]
            est: dict = {"type": concept(ATTRIBUTE_ESTIMATE, code, display)}
            if d.kind in ("sd", "se"):
                est["quantity"] = quantity(d.value, res.unit)
            else:
                est["range"] = {"low": quantity(d.low, res.unit), "high": quantity(d.high, res.unit)}
            if d.level is not None:
                est["level"] = d.level
            estimates.append(est)
    if res.p_value is not None:
        p = res.p_value
        desc = f"p {p.comparator} {fmt(p.value)} compared with {p.compared_with}"
        if p.test:
            desc += f" ({p.test})"
        estimates.append(
            {
                "description": desc,
                "type": concept(ATTRIBUTE_ESTIMATE, "C44185", "P-value"),
                "quantity": quantity(p.value, None, p.comparator),
            }
        )
    if estimates:
        stat["attributeEstimate"] = estimates
    notes = []
    if res.derived is not None:
        inputs = ", ".join(f"{k} = {v}" for k, v in res.derived.inputs.items())
        notes.append(
            {
                "text": f"Derived value: {res.derived.formula} where {inputs}. Computed from "
                "reported values, not reported itself."
            }
        )
    for c in res.conflicts:
        notes.append({"text": f"Conflict: {c.source} reports {c.value}. {c.note}"})
    if notes:
        stat["note"] = notes
    return stat


def certainty_element(cert: Certainty) -> dict:
    out: dict = {
        "description": cert.summary,
        "type": concept(CERTAINTY_TYPE, "Overall"),
        "rating": concept(CERTAINTY_RATING, cert.overall),
        "rater": cert.assessor,
    }
    if cert.domains:
        out["subcomponent"] = [
            {
                "description": d.reason,
                "type": concept(CERTAINTY_TYPE, d.domain),
                "rating": concept(CERTAINTY_RATING, d.rating),
            }
            for d in cert.domains
        ]
    return out


def map_evidence(
    ctx: Context,
    pub: Publication,
    res: Result,
    *,
    source: SourceDocument,
    source_citation: str | None,
    study_citation: str | None,
    population_group: str,
    exposure_variable: str,
    outcome_variable: str,
    certainties: list[Certainty],
) -> dict:
    rid = evidence_id(pub, res)
    outcome = next(o for o in pub.outcomes if o.id == res.outcome)
    title = f"{pub.label}: {outcome.name}, {res.timepoint.label}"
    evid = base(
        ctx,
        "Evidence",
        rid,
        title=title,
        date=pub.date,
        profiles=["non-comparative-evidence", "single-study-evidence"],
    )
    evid["description"] = res.description
    notes = [
        {
            "text": f"Source: {source.file} ({source.kind}, {'primary' if source.primary else 'secondary'}): "
            f"{quote_text(res.quote)}"
        }
    ]
    if pub.study is not None:
        # the design codes below come from the study block: its description and provenance travel too
        notes.append({"text": f"Study: {pub.study.description}"})
        notes += [external_note(e) for e in (*pub.study.external, *pub.study.population.external)]
    if res.derived is not None:
        notes.append(
            {
                "text": f"Derived: {res.derived.formula} "
                f"({', '.join(f'{k} = {v}' for k, v in res.derived.inputs.items())})."
            }
        )
    for c in res.conflicts:
        notes.append(
            {"text": f"Recorded conflict: {c.source} reports {c.value} ({quote_text(c.quote)}). {c.note}"}
        )
    for n in res.notes:
        notes.append({"text": f"{n.kind.capitalize()}: {n.text}"})
    evid["note"] = notes
    related = []
    if source_citation:
        related.append(
            {
                "type": "derived-from",
                "display": f"Values taken from {source.file}",
                "resourceReference": ref("Citation", source_citation),
            }
        )
    if study_citation and study_citation != source_citation:
        related.append(
            {
                "type": "citation",
                "display": "The study's publication",
                "resourceReference": ref("Citation", study_citation),
            }
        )
    if related:
        evid["relatedArtifact"] = related
    evid["variableDefinition"] = [
        _variable("population", "observed", ref("Group", population_group)),
        _variable("exposure", "intended", ref("EvidenceVariable", exposure_variable)),
        _variable("outcome", "observed", ref("EvidenceVariable", outcome_variable)),
    ]
    evid["synthesisType"] = concept(
        "http://terminology.hl7.org/CodeSystem/synthesis-type", "NotApplicable", "not applicable"
    )
    design = DESIGN_CODES.get(pub.study.design if pub.study else "", [])
    if design:
        evid["studyDesign"] = [concept(STUDY_DESIGN, code, display) for code, display in design]
    stat = map_statistic(res)
    if stat:
        evid["statistic"] = [stat]
    if certainties:
        evid["certainty"] = [certainty_element(c) for c in certainties]
    rows = [
        ("Result", res.description),
        ("Numbers", statistic_summary(res)),
        ("Timepoint", res.timepoint.label),
        ("Source", f"{source.file} ({source.kind})"),
    ]
    rows += [("Certainty", f"{c.overall}: {c.summary}") for c in certainties]
    evid["text"] = narrative(title, rows)
    return evid
