"""Turn a published recommendation PlanDefinition into an executable, pre-compiled object.

Everything a card or an ``$apply`` result says is read here from the published resources:
the PlanDefinition (title, description, conditions, inputs), the Evidence it cites with their
CertaintyOfEvidence ArtifactAssessments, the ActivityDefinition and the Citation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from evidence_publisher import fhirpath
from evidence_publisher.cds.errors import RecommendationError
from evidence_publisher.cds.knowledge import KnowledgeBase
from evidence_publisher.constants import CORE_SD

FHIRPATH = "text/fhirpath"
ECA_RULE = "eca-rule"
SUPPORTED_HOOKS = ("patient-view", "order-select")
# R5 ActivityDefinition.kind values that are orders (request resources).
ORDER_KINDS = frozenset(
    {
        "ServiceRequest",
        "MedicationRequest",
        "DeviceRequest",
        "NutritionOrder",
        "VisionPrescription",
        "SupplyRequest",
        "CommunicationRequest",
        "ImmunizationRecommendation",
    }
)
_SEARCH_NAME = re.compile(r"^[a-z][a-zA-Z0-9-]*$")
# DataRequirement.codeFilter.path -> the R5 token search parameter on that element. Paths not
# listed are not turned into a filter (a broader fetch; the conditions still decide).
_PATH_PARAMS = {
    ("*", "code"): "code",
    ("*", "category"): "category",
    ("*", "status"): "status",
    ("Immunization", "vaccineCode"): "vaccine-code",
    **{
        (t, "medication"): "code"
        for t in (
            "MedicationRequest",
            "MedicationStatement",
            "MedicationAdministration",
            "MedicationDispense",
        )
    },
}
CI_CODE = "C53324"  # attribute-estimate-type: Confidence interval
CERTAINTY_LABELS = {"high": "High", "moderate": "Moderate", "low": "Low", "very-low": "Very low"}
STRENGTH_EXT = CORE_SD + "cqf-strengthOfRecommendation"


@dataclass(frozen=True)
class Condition:
    """One applicability expression, evaluated on the patient Bundle (also %resource and
    %rootResource): compiled closures where they decide, else fhirpathpy (``fast=False``: always
    fhirpathpy, the benchmarks' baseline). Raises FhirPathEvaluationError where fhirpathpy raises."""

    expression: str
    parsed: fhirpath.Expression
    fast: bool = True

    def evaluate(self, bundle: dict[str, Any]) -> list[Any]:
        if self.fast:
            return self.parsed.evaluate(bundle, resource=bundle, root_resource=bundle)
        return self.parsed.reference_result(bundle, resource=bundle, root_resource=bundle)


@dataclass(frozen=True)
class Input:
    """One DataRequirement: the prefetch key and the 2.0-legal query that fetches it."""

    key: str
    resource_type: str
    query: str  # with {{context.patientId}}


@dataclass(frozen=True)
class Statistic:
    description: str | None
    value: str | None
    unit: str | None
    participants: int | None
    ci: str | None


@dataclass(frozen=True)
class EvidenceSummary:
    canonical: str
    url: str
    title: str
    description: str | None
    statistics: tuple[Statistic, ...]
    certainty_code: str | None
    certainty_display: str | None
    certainty_reason: str | None


@dataclass
class Recommendation:
    id: str
    url: str
    version: str | None
    title: str
    description: str
    plan: dict[str, Any]
    action: dict[str, Any]
    hooks: tuple[str, ...]
    inputs: tuple[Input, ...]
    conditions: tuple[Condition, ...]
    evidence: tuple[EvidenceSummary, ...]
    activity: dict[str, Any] | None
    citation: dict[str, Any] | None
    citation_url: str | None
    strength: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    def service_id(self, hook: str) -> str:
        return self.id if hook == self.hooks[0] else f"{self.id}-{hook}"


def _text(cc: dict[str, Any] | None) -> str | None:
    if not cc:
        return None
    if cc.get("text"):
        return cc["text"]
    for coding in cc.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return coding.get("display") or coding.get("code")
    return None


def _num(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_ci(cc: dict[str, Any] | None) -> bool:
    cc = cc or {}
    texts = [cc.get("text") or ""] + [c.get("display") or "" for c in cc.get("coding", [])]
    return any(c.get("code") == CI_CODE for c in cc.get("coding", [])) or any(
        "confidence interval" in t.lower() for t in texts
    )


def _percent(level: Any) -> str:
    text = format((Decimal(str(level)) * 100).normalize(), "f")
    return text


def _statistic(stat: dict[str, Any]) -> Statistic:
    qty = stat.get("quantity") or {}
    value = _num(qty.get("value"))
    if value is not None and qty.get("comparator"):
        value = f"{qty['comparator']}{value}"
    ci = None
    for est in stat.get("attributeEstimate", []):
        if not _is_ci(est.get("type")):
            continue  # SD, ranges, p-values: the statistic's description states them
        rng = est.get("range") or {}
        low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
        if low is not None and high is not None:
            level = est.get("level")
            pct = f"{_percent(level)}% CI" if level is not None else "CI"
            ci = f"{pct} {low} to {high}"
            break
    participants = (stat.get("sampleSize") or {}).get("numberOfParticipants")
    return Statistic(
        description=stat.get("description"),
        value=value,
        unit=qty.get("unit") or qty.get("code"),
        participants=participants if isinstance(participants, int) else None,
        ci=ci,
    )


def _overall_first(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def is_overall(c: dict[str, Any]) -> bool:
        return any(x.get("code") == "Overall" for x in (c.get("type") or {}).get("coding", []))

    return sorted(contents, key=lambda c: not is_overall(c))


def _certainty(kb: KnowledgeBase, evidence: dict[str, Any]) -> tuple[str | None, ...]:
    for aa in kb.assessments_of(evidence):
        for content in _overall_first(aa.get("content", [])):
            for classifier in content.get("classifier", []):
                for coding in classifier.get("coding", []):
                    if coding.get("system", "").endswith("certainty-rating") and coding.get("code"):
                        reason = content.get("summary") or classifier.get("text")
                        return coding["code"], _label(coding), reason
    # Fall back to Evidence.certainty (the same rating, embedded).
    for cert in _overall_first(evidence.get("certainty", [])):
        for coding in (cert.get("rating") or {}).get("coding", []):
            if coding.get("code"):
                return coding["code"], _label(coding), cert.get("description")
    return None, None, None


def _label(coding: dict[str, Any]) -> str:
    return coding.get("display") or CERTAINTY_LABELS.get(coding["code"], coding["code"])


def _evidence(kb: KnowledgeBase, canonical: str, where: str) -> EvidenceSummary:
    ev = kb.resolve(canonical, "Evidence")
    if ev is None:
        raise RecommendationError(
            f"{where}: documentation.resource {canonical!r} does not resolve to a loaded Evidence",
            details=["publish or build the Evidence together with the PlanDefinition"],
        )
    code, display, reason = _certainty(kb, ev)
    return EvidenceSummary(
        canonical=canonical,
        url=ev.get("url", canonical.partition("|")[0]),
        title=ev.get("title") or ev.get("name") or ev.get("id", "Evidence"),
        description=ev.get("description"),
        statistics=tuple(_statistic(s) for s in ev.get("statistic", [])),
        certainty_code=code,
        certainty_display=display,
        certainty_reason=reason,
    )


def _input(req: dict[str, Any], index: int, used: set[str], where: str) -> Input | None:
    rtype = req.get("type")
    if not isinstance(rtype, str) or not rtype:
        raise RecommendationError(f"{where}.input[{index}] has no type")
    if rtype == "Patient":
        return None
    params = ["patient={{context.patientId}}"]
    for cf in req.get("codeFilter", []):
        param = (
            cf.get("searchParam")
            or _PATH_PARAMS.get((rtype, cf.get("path")))
            or _PATH_PARAMS.get(("*", cf.get("path")))
        )
        if not isinstance(param, str) or not _SEARCH_NAME.match(param):
            continue  # the FHIRPath conditions filter anyway; fetch the broader set
        path = param
        codes = [
            f"{c['system']}|{c['code']}" for c in cf.get("code", []) if c.get("system") and c.get("code")
        ]
        if codes:
            params.append(f"{path}={','.join(codes)}")
        elif cf.get("valueSet"):
            params.append(f"{path}:in={cf['valueSet']}")
    key = rtype[0].lower() + rtype[1:]
    n = 2
    while key in used:
        key, n = f"{rtype[0].lower()}{rtype[1:]}{n}", n + 1
    used.add(key)
    return Input(key=key, resource_type=rtype, query=f"{rtype}?{'&'.join(params)}")


def _compile(expr: dict[str, Any], where: str) -> Condition:
    language = expr.get("language")
    text = (expr.get("expression") or "").strip()
    if language != FHIRPATH:
        raise RecommendationError(
            f"{where}: condition language {language!r} is not supported",
            details=[f"the service evaluates {FHIRPATH!r} conditions only"],
        )
    if not text:
        raise RecommendationError(f"{where}: condition has an empty expression")
    try:
        parsed = fhirpath.expression(text)
    except fhirpath.FhirPathSyntaxError as exc:
        raise RecommendationError(f"{where}: {exc}") from exc
    return Condition(expression=text, parsed=parsed)


def _is_recommendation(plan: dict[str, Any]) -> bool:
    codes = {c.get("code") for c in (plan.get("type") or {}).get("coding", [])}
    return ECA_RULE in codes and any(
        t.get("type") == "named-event" for a in plan.get("action", []) for t in a.get("trigger", [])
    )


def compile_recommendation(kb: KnowledgeBase, plan: dict[str, Any]) -> Recommendation:
    pid = plan.get("id")
    where = f"PlanDefinition/{pid}"
    if not isinstance(pid, str) or not pid:
        raise RecommendationError(f"{where}: a PlanDefinition needs an id")
    actions = [a for a in plan.get("action", []) if a.get("trigger")]
    if len(actions) != 1:
        raise RecommendationError(f"{where}: expected exactly one triggered action, got {len(actions)}")
    action = actions[0]
    awhere = f"{where}.action[{plan['action'].index(action)}]"
    hooks = [
        t["name"]
        for t in action["trigger"]
        if t.get("type") == "named-event" and t.get("name") in SUPPORTED_HOOKS
    ]
    activity = None
    if action.get("definitionCanonical"):
        activity = kb.resolve(action["definitionCanonical"], "ActivityDefinition")
        if activity is None:
            raise RecommendationError(
                f"{awhere}.definitionCanonical {action['definitionCanonical']!r} does not resolve"
            )
        if activity.get("kind") in ORDER_KINDS and "order-select" not in hooks:
            hooks.append("order-select")
    if not hooks:
        raise RecommendationError(f"{awhere}: no supported named-event trigger {SUPPORTED_HOOKS!r}")
    used: set[str] = {"patient"}
    inputs = tuple(
        i
        for n, req in enumerate(action.get("input", []))
        if (i := _input(req.get("requirement", req), n, used, awhere)) is not None
    )
    conditions = tuple(
        _compile(c.get("expression") or {}, f"{awhere}.condition[{n}]")
        for n, c in enumerate(action.get("condition", []))
        if c.get("kind") == "applicability"
    )
    evidence = tuple(
        _evidence(kb, d["resource"], awhere) for d in action.get("documentation", []) if d.get("resource")
    )
    citation, citation_url = None, None
    for ra in plan.get("relatedArtifact", []):
        if ra.get("type") == "citation" and ra.get("resource"):
            citation = kb.resolve(ra["resource"], "Citation")
            citation_url = ra["resource"].partition("|")[0]
            break
    strength = None
    for ext in action.get("extension", []):
        if ext.get("url") == STRENGTH_EXT:
            strength = _text(ext.get("valueCodeableConcept"))
    title = str(plan.get("title") or action.get("title") or plan.get("name") or pid)
    return Recommendation(
        id=pid,
        url=plan.get("url", ""),
        version=plan.get("version"),
        title=title,
        description=str(plan.get("description") or action.get("description") or title),
        plan=plan,
        action=action,
        hooks=tuple(hooks),
        inputs=inputs,
        conditions=conditions,
        evidence=evidence,
        activity=activity,
        citation=citation,
        citation_url=citation_url,
        strength=strength,
    )


def compile_all(kb: KnowledgeBase) -> list[Recommendation]:
    """Compile every eca-rule PlanDefinition with a named-event trigger, sorted by id."""
    plans = sorted(
        (p for p in kb.of_type("PlanDefinition") if _is_recommendation(p)),
        key=lambda p: str(p.get("id")),
    )
    return [compile_recommendation(kb, p) for p in plans]
