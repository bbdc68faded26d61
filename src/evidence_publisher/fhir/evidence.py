"""Evidence: one single-study, non-comparative Evidence per reported result.

Single-arm before/after designs have no comparator arm, so no between-group effect estimate is
made; each timepoint is its own Evidence, and a within-patient change appears only where it was
derived from reported values (marked as derived, with its formula, never with an invented SD).
Yes/no outcomes reported as "k of n" are published as proportions (THO Proportion, in %, derived
from the counts and marked so); the counts themselves stay in numberAffected and sampleSize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from evidence_publisher.constants import CERTAINTY_TYPE, EBM_SD, SEVCO, SYNTHESIS_TYPE
from evidence_publisher.fhir.common import (
    ATTRIBUTE_ESTIMATE,
    CERTAINTY_RATING,
    STATISTIC_TYPE,
    Context,
    base,
    certainty_phrase,
    coding,
    concept,
    external_note,
    fmt,
    narrative,
    quantity,
    quote_text,
    ref,
    resource_id,
    time_phrase,
    with_unit,
)
from evidence_publisher.sources.derivation import counts_matching_percentage, percentage_text
from evidence_publisher.sources.model import Certainty, Publication, Result, SourceDocument

STATISTIC_CODES = {
    "mean": (STATISTIC_TYPE, "C53319", "Mean"),
    "median": (STATISTIC_TYPE, "C28007", "Median"),
    "proportion": (STATISTIC_TYPE, "C44256", "Proportion"),
    "count": (STATISTIC_TYPE, "C25463", "Count"),
    # THO's 0000457 is a between-group difference; a within-patient change is SEVCO's.
    "mean-change": (SEVCO, "TBD:0000177", "Mean of differences"),
    # the source gives a number without saying which summary statistic it is, or no number
    "none": (STATISTIC_TYPE, "descriptive", "Descriptive"),
    "value": (STATISTIC_TYPE, "descriptive", "Descriptive"),
}
DISPERSION_CODES = {
    "sd": ("C53322", "Standard deviation"),
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
PERCENT_PLACES = Decimal("0.1")  # a proportion derived from counts is published to one decimal of %


def evidence_id(pub: Publication, res: Result) -> str:
    return resource_id(pub.id, res.id)


def evidence_title(pub: Publication, res: Result) -> str:
    outcome = next(o for o in pub.outcomes if o.id == res.outcome)
    return f"{pub.label}: {outcome.name} {time_phrase(res.timepoint.label, res.timepoint.baseline)}"


@dataclass(frozen=True)
class Links:
    """What one Evidence points to (ids of resources of the same build)."""

    population_group: str
    exposure_variable: str
    exposure_name: str
    outcome_variable: str
    measure_variable: str
    covariates: list[tuple[str, str]] = field(default_factory=list)  # (variable id, why)
    source_citation: str | None = None
    study_citation: str | None = None
    research_study: str | None = None


def _variable(role: str, targets: dict, note: str | None = None) -> dict:
    var = {
        "extension": [{"url": EBM_SD + "variable-definition-variable-role-code", "valueCode": role}],
        "note": [{"text": role}],
        "variableRole": {
            "coding": [coding(VARIABLE_ROLE, _ROLE_CODES[role])],
            "text": "Use extension:variableRoleCode instead.",
        },
        **targets,
    }
    if note:
        var["description"] = note
    return var


def participants(res: Result) -> int | None:
    return res.participants or (res.counts.denominator if res.counts else None)


def derived_percentage(res: Result) -> Decimal | int | None:
    """The percentage a proportion result publishes when it gives counts and no value."""
    if res.statistic != "proportion" or res.value is not None or res.counts is None:
        return None
    if not res.counts.denominator:
        return None
    exact = Decimal(100 * res.counts.affected) / Decimal(res.counts.denominator)
    value = exact.quantize(PERCENT_PLACES, rounding=ROUND_HALF_EVEN)
    # a whole percentage is an int, as it reads back from JSON (100, not 100.0)
    return int(value) if value == value.to_integral() else value


def _patients(n: int) -> str:
    return f"{n} patient{'s' if n != 1 else ''}"


def statistic_summary(res: Result) -> str:
    """One plain sentence stating exactly the structured numbers (the validator compares them)."""
    unit = res.unit
    n = participants(res)
    counts = res.counts
    parts: list[str] = []
    n_shown = False
    if res.statistic == "proportion" and counts is not None and counts.denominator:
        n_shown = True
        if counts.derived:
            parts.append(
                f"{with_unit(res.value, '%')} of {_patients(counts.denominator)} ({counts.affected} "
                "patients; this count is derived from the percentage, not reported)"
            )
        else:
            pct = res.value if res.value is not None else derived_percentage(res)
            parts.append(f"{counts.affected} of {_patients(counts.denominator)} ({with_unit(pct, '%')})")
    elif res.statistic == "proportion" and res.value is not None:
        parts.append(with_unit(res.value, unit))
    elif res.statistic == "count" and counts is not None:
        if counts.denominator:
            n_shown = True
            parts.append(f"{counts.affected} of {_patients(counts.denominator)}")
        elif counts.affected == 0:
            parts.append("none reported")
        else:
            parts.append(f"{_patients(counts.affected)}; how many could have had it is not stated")
            n_shown = True
    elif res.statistic == "range" and res.dispersion is not None:
        d = res.dispersion
        parts.append(f"between {with_unit(d.low, unit)} and {with_unit(d.high, unit)}")
        n_shown = True
    elif res.value is not None:
        prefix = {"mean": "mean ", "median": "median ", "mean-change": "mean change "}.get(res.statistic, "")
        text = prefix + with_unit(res.value, unit)
        if res.statistic == "none":
            text += " (mean or median not stated)"
        parts.append(text)
    if res.dispersion is not None and res.statistic != "range" and parts:
        d = res.dispersion
        if d.kind == "unspecified":
            parts[-1] += f" ± {fmt(d.value)} (SD or SE not stated)"
        elif d.kind in ("sd", "se"):
            parts[-1] += f", {d.kind.upper()} {fmt(d.value)}"
        else:
            parts.append(f"{d.kind} {with_unit(d.low, unit)} to {with_unit(d.high, unit)}")
    if res.p_value is not None:
        p = res.p_value
        test = f", {p.test}" if p.test else ""
        lead = "" if parts else "no values reported; "
        parts.append(f"{lead}p {p.comparator} {fmt(p.value)} compared with {p.compared_with}{test}")
    if not parts:
        parts.append("no numbers reported")
    if n is not None and not n_shown:
        parts.append(_patients(n))
    elif n is None and not n_shown:
        parts.append("number of patients not stated")
    return "; ".join(parts)


def _derivation_notes(res: Result) -> list[str]:
    notes = []
    if res.derived is not None:
        inputs = ", ".join(f"{k} = {v}" for k, v in res.derived.inputs.items())
        notes.append(
            f"Derived value: {res.derived.formula} where {inputs}. Computed from reported values, "
            "not reported itself."
        )
    counts = res.counts
    if counts is not None and counts.derived == "from-percentage" and counts.denominator:
        others = [
            percentage_text(k, counts.denominator)
            for k in (counts.affected - 1, counts.affected + 1)
            if 0 <= k <= counts.denominator
        ]
        assert counts_matching_percentage(res.value or 0, counts.denominator) == [counts.affected]
        notes.append(
            f"Derived count: {counts.affected} is not reported. It is the only whole number of the "
            f"{counts.denominator} patients that gives the reported {res.value}% "
            f"({percentage_text(counts.affected, counts.denominator)}; "
            f"{' and '.join(others)} round to other values)."
        )
    pct = derived_percentage(res)
    if pct is not None and counts is not None:
        notes.append(
            f"Derived value: the proportion {pct}% is computed from the reported counts "
            f"({percentage_text(counts.affected, counts.denominator or 1)}, rounded to one decimal); "
            "it is not reported itself."
        )
    return notes


def map_statistic(res: Result) -> dict:
    stat: dict = {"description": statistic_summary(res)}
    kind = res.statistic
    if kind == "range":
        kind = "proportion" if res.unit == "%" else "none"
    system, code, display = STATISTIC_CODES[kind]
    stat["statisticType"] = concept(system, code, display)
    pct = derived_percentage(res)
    if res.value is not None:
        stat["quantity"] = quantity(res.value, res.unit)
    elif pct is not None:
        stat["quantity"] = quantity(pct, "%")
    if res.counts is not None:
        stat["numberAffected"] = res.counts.affected
    sample: dict = {"numberOfStudies": 1}
    n = participants(res)
    if n is not None:
        sample["numberOfParticipants"] = n
    stat["sampleSize"] = sample
    estimates = []
    if res.dispersion is not None:
        d = res.dispersion
        # the mapping model requires value for sd/se/unspecified and low/high for intervals
        if d.kind == "unspecified":
            assert d.value is not None
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
                assert d.value is not None
                est["quantity"] = quantity(d.value, res.unit)
            else:
                assert d.low is not None and d.high is not None
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
    notes = [{"text": t} for t in _derivation_notes(res)]
    notes += [{"text": f"Conflict: {c.source} reports {c.value}. {c.note}"} for c in res.conflicts]
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


def _related(source: SourceDocument, links: Links) -> list[dict]:
    related = []
    standing = "primary" if source.primary else "secondary"
    if links.source_citation:
        related.append(
            {
                "type": "derived-from",
                "label": "Values taken from",
                "display": f"{source.title} ({source.file}, {source.kind}, {standing} source)",
                "resourceReference": ref("Citation", links.source_citation),
            }
        )
    if links.research_study:
        related.append(
            {
                "type": "derived-from",
                "label": "Study",
                "display": "The study that produced the result",
                "resourceReference": ref("ResearchStudy", links.research_study),
            }
        )
    if links.study_citation and links.study_citation != links.source_citation:
        related.append(
            {
                "type": "citation",
                "label": "Study publication",
                "display": "The study's own publication (its bibliographic record)",
                "resourceReference": ref("Citation", links.study_citation),
            }
        )
    return related


def map_evidence(
    ctx: Context,
    pub: Publication,
    res: Result,
    *,
    source: SourceDocument,
    links: Links,
    certainties: list[Certainty],
    baseline_measure: bool = False,
    study_notes: list[str] | None = None,
) -> dict:
    rid = evidence_id(pub, res)
    title = evidence_title(pub, res)
    profiles = ["non-comparative-evidence", "single-study-evidence"]
    if baseline_measure:
        profiles.insert(1, "baseline-measure-evidence")
    evid = base(ctx, "Evidence", rid, title=title, date=pub.date, profiles=profiles)
    evid["description"] = res.description
    standing = "primary" if source.primary else "secondary"
    notes = [{"text": f"Source: {source.file} ({source.kind}, {standing}): {quote_text(res.quote)}"}]
    for text in study_notes or []:
        notes.append({"text": text})
    if pub.study is not None:
        # the design codes below come from the study block: its description and provenance travel too
        notes.append({"text": f"Study: {pub.study.description}"})
        if pub.study.setting:
            notes.append({"text": f"Study setting: {pub.study.setting}"})
        notes += [external_note(e) for e in (*pub.study.external, *pub.study.population.external)]
    notes += [{"text": t} for t in _derivation_notes(res)]
    for c in res.conflicts:
        notes.append(
            {"text": f"Recorded conflict: {c.source} reports {c.value} ({quote_text(c.quote)}). {c.note}"}
        )
    for n in res.notes:
        notes.append({"text": f"{n.kind.capitalize()}: {n.text}"})
    notes += [external_note(e) for e in res.external]
    evid["note"] = notes
    related = _related(source, links)
    if related:
        evid["relatedArtifact"] = related
    variables = [
        _variable("population", {"observed": ref("Group", links.population_group)}),
        _variable(
            "exposure", {"intended": ref("EvidenceVariable", links.exposure_variable, links.exposure_name)}
        ),
    ]
    variables += [
        _variable("covariate", {"intended": ref("EvidenceVariable", var_id)}, why)
        for var_id, why in links.covariates
    ]
    variables.append(
        _variable(
            "outcome",
            {
                "observed": ref("EvidenceVariable", links.outcome_variable),
                "intended": ref("EvidenceVariable", links.measure_variable),
            },
        )
    )
    evid["variableDefinition"] = variables
    evid["synthesisType"] = concept(SYNTHESIS_TYPE, "NotApplicable", "not applicable")
    design = DESIGN_CODES.get(pub.study.design if pub.study else "", [])
    if design:
        evid["studyDesign"] = [concept(STUDY_DESIGN, code, display) for code, display in design]
    evid["statistic"] = [map_statistic(res)]
    if certainties:
        evid["certainty"] = [certainty_element(c) for c in certainties]
    rows = [
        ("Result", res.description),
        ("Numbers", statistic_summary(res)),
        ("Time", res.timepoint.label),
        ("Source", f"{source.title} ({source.file}, {source.kind}, {standing} source)"),
    ]
    rows += [("Co-intervention", why) for _, why in links.covariates]
    rows += [("Certainty", certainty_phrase(c.overall, c.summary)) for c in certainties]
    if not certainties:
        rows.append(("Certainty", "not rated"))
    evid["text"] = narrative(title, rows)
    return evid
