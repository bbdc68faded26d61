"""EBM-on-FHIR profile rules (R5 era, HL7/ebm@06becf90) and evidence arithmetic.

Profiles are not validated from StructureDefinitions (the IG's R5 package is not installable);
instead each rule stated in docs/ebm-encoding.md §3-§4 is an explicit function with a rule id that
appears in the diagnostics. Evidence arithmetic (``ebm-stat-*``, ``ebm-ci-*`` ...) applies to every
Evidence, profiled or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from evidence_publisher.constants import (
    CERTAINTY_TYPE,
    CITATION_ARTIFACT_CLASSIFIER,
    CITATION_CLASSIFICATION_TYPE,
    EBM_SD,
    FEVIR_EBM_CODES,
    PLAN_DEFINITION_TYPE,
    SYNTHESIS_TYPE,
)
from evidence_publisher.jsonio import as_object
from evidence_publisher.validate.outcome import Issue
from evidence_publisher.validate.terminology import Terminology

ROLE_EXT = EBM_SD + "variable-definition-variable-role-code"
COMPARATOR_EXT = EBM_SD + "variable-definition-comparator-category"
DEFINITION_EXT = EBM_SD + "evidence-variable-definition"
ROLE_TEXT = "Use extension:variableRoleCode instead."
ROLE_CODES = ("population", "exposure", "outcome", "covariate")
CERTAINTY_RATING_THO = "http://terminology.hl7.org/CodeSystem/certainty-rating"

Resolve = Callable[[str], dict | None]

# profile id -> base resource type (the ids listed in docs/ebm-encoding.md §3)
PROFILES: dict[str, str] = {
    "journal-article-citation": "Citation",
    "evidence-r6": "Evidence",
    "non-comparative-evidence": "Evidence",
    "intervention-only-evidence": "Evidence",
    "comparator-only-evidence": "Evidence",
    "baseline-measure-evidence": "Evidence",
    "comparative-evidence": "Evidence",
    "single-study-evidence": "Evidence",
    "evidence-synthesis-evidence": "Evidence",
    "variable-definition": "EvidenceVariable",
    "group-assignment": "EvidenceVariable",
    "group-r6": "Group",
    "study-group": "Group",
    "exposure-group": "Group",
    "comparator-group": "Group",
    "cohort-definition": "Group",
    "exposure-definition": "Group",
    "comparator-definition": "Group",
    "outcome-definition": "Group",
    "study-eligibility-criteria": "Group",
    "recommendation-eligibility-criteria": "Group",
    "certainty-of-evidence": "ArtifactAssessment",
    "risk-of-bias": "ArtifactAssessment",
    "rating": "ArtifactAssessment",
    "recommendation-justification": "ArtifactAssessment",
    "recommendation-plan": "PlanDefinition",
    "recommendation-action": "ActivityDefinition",
    "evidence-report": "Composition",
    "evidence-report-package": "Composition",
    "guideline": "Composition",
    "recommendation": "Composition",
    "summary-of-findings": "Composition",
}
NON_COMPARATIVE = {
    "non-comparative-evidence",
    "intervention-only-evidence",
    "comparator-only-evidence",
    "baseline-measure-evidence",
}
COHORT = {
    "cohort-definition",
    "exposure-definition",
    "comparator-definition",
    "outcome-definition",
    "study-eligibility-criteria",
    "recommendation-eligibility-criteria",
}

# statistic / attribute-estimate type codes (THO, SEVCO)
PROPORTION = {"C44256", "TBD:0000018"}
PERCENTAGE = {"TBD:0000017"}
CI = {"C53324", "STATO:0000196"}
PVALUE = {"C44185", "TBD:0000076"}
SD = {"C53322", "TBD:0000052", "STATO:0000237"}


class _Ctx:
    def __init__(self, res: dict, resolve: Resolve) -> None:
        self.res = res
        self.rtype = res.get("resourceType", "")
        self.resolve = resolve
        self.issues: list[Issue] = []

    def add(self, rule: str, path: str, message: str, severity: str = "error") -> None:
        code = "business-rule" if severity != "information" else "informational"
        self.issues.append(Issue(severity, code, path, message, rule))


def claimed_profiles(res: dict) -> list[str]:
    meta = res.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    out = []
    for p in profiles or ():
        if isinstance(p, str) and p.split("|", 1)[0].startswith(EBM_SD):
            out.append(p.split("|", 1)[0][len(EBM_SD) :])
    return out


def check_profiles(res: dict, resolve: Resolve, terminology: Terminology | None = None) -> list[Issue]:
    """All EBM rules that apply to ``res``."""
    if not isinstance(res, dict):
        return []
    ctx = _Ctx(res, resolve)
    ids = claimed_profiles(res)
    for pid in ids:
        base = PROFILES.get(pid)
        if base is None:
            ctx.add(
                "ebm-profile-unknown",
                f"{ctx.rtype}.meta.profile",
                f"EBM profile {EBM_SD + pid!r} is not known to this validator; its rules were not checked",
                "warning",
            )
        elif base != ctx.rtype:
            ctx.add(
                "ebm-profile-type",
                f"{ctx.rtype}.meta.profile",
                f"profile {pid!r} constrains {base}, not {ctx.rtype}",
            )
    known = {p for p in ids if PROFILES.get(p) == ctx.rtype}
    for rule in _RULES.get(ctx.rtype, ()):
        rule(ctx, known)
    return ctx.issues


# ------------------------------------------------------------------------------ helpers
def _codings(cc: Any) -> list[dict]:
    if not isinstance(cc, dict):
        return []
    return [c for c in cc.get("coding") or () if isinstance(c, dict)]


def _has_code(cc: Any, system: str | None, code: str) -> bool:
    return any(c.get("code") == code and (system is None or c.get("system") == system) for c in _codings(cc))


def _codes(cc: Any) -> set[str]:
    return {c["code"] for c in _codings(cc) if isinstance(c.get("code"), str)}


def _ext(node: dict, url: str) -> list[dict]:
    return [e for e in node.get("extension") or () if isinstance(e, dict) and e.get("url") == url]


def _dec(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _half_ulp(value: Decimal) -> Decimal:
    exp = value.as_tuple().exponent
    return Decimal(5).scaleb(int(exp) - 1) if isinstance(exp, int) else Decimal(0)


def _list(node: Any, key: str) -> list:
    v = node.get(key) if isinstance(node, dict) else None
    return v if isinstance(v, list) else []


def _role(vd: dict) -> str | None:
    exts = _ext(vd, ROLE_EXT)
    code = exts[0].get("valueCode") if exts else None
    return code if isinstance(code, str) else None  # a malformed value is the walker's json-type error


def _resolved_type(ctx: _Ctx, ref: Any) -> tuple[str | None, dict | None]:
    if not isinstance(ref, dict):
        return None, None
    r = ref.get("reference")
    target = ctx.resolve(r) if isinstance(r, str) else None
    if target is not None:
        return target.get("resourceType"), target
    if isinstance(r, str):
        m = re.search(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(/_history/.*)?$", r)
        if m:
            return m[1], None
    return ref.get("type") if isinstance(ref.get("type"), str) else None, None


# ------------------------------------------------------------------------------ Evidence
def _evidence_r6(ctx: _Ctx, ids: set[str]) -> None:
    if not ids:
        return
    for i, vd in enumerate(_list(ctx.res, "variableDefinition")):
        if not isinstance(vd, dict):
            continue
        p = f"Evidence.variableDefinition[{i}]"
        exts = _ext(vd, ROLE_EXT)
        if len(exts) != 1:
            ctx.add(
                "ebm-evd-role-ext",
                f"{p}.extension",
                f"EvidenceR6 requires exactly one {ROLE_EXT} extension (found {len(exts)})",
            )
        elif exts[0].get("valueCode") not in ROLE_CODES:
            ctx.add(
                "ebm-evd-role-ext",
                f"{p}.extension",
                f"variable role code {exts[0].get('valueCode')!r} is not one of {', '.join(ROLE_CODES)}",
            )
        role = vd.get("variableRole")
        if not isinstance(role, dict) or role.get("text") != ROLE_TEXT:
            ctx.add(
                "ebm-evd-role-text",
                f"{p}.variableRole.text",
                f"EvidenceR6 requires variableRole.text = {ROLE_TEXT!r}",
            )
    for i, st in enumerate(_list(ctx.res, "statistic")):
        for j, mc in enumerate(_list(st, "modelCharacteristic")):
            if isinstance(mc, dict) and "value" in mc:
                ctx.add(
                    "ebm-evd-model-value",
                    f"Evidence.statistic[{i}].modelCharacteristic[{j}].value",
                    "EvidenceR6 forbids modelCharacteristic.value (0..0): use the "
                    "statistic-model-value-* extensions",
                )
        if isinstance(st, dict):
            if "statisticType" not in st:
                ctx.add(
                    "ebm-stat-type",
                    f"Evidence.statistic[{i}]",
                    "every statistic should have a statisticType",
                    "warning",
                )
            ss = st.get("sampleSize")
            if not isinstance(ss, dict) or "numberOfParticipants" not in ss:
                ctx.add(
                    "ebm-stat-sample-size",
                    f"Evidence.statistic[{i}].sampleSize",
                    "every statistic should give sampleSize.numberOfParticipants",
                    "warning",
                )


def _sliced_roles(ctx: _Ctx) -> dict[str, list[tuple[int, dict]]]:
    out: dict[str, list[tuple[int, dict]]] = {}
    for i, vd in enumerate(_list(ctx.res, "variableDefinition")):
        if not isinstance(vd, dict):
            continue
        notes = _list(vd, "note")
        text = notes[0].get("text") if notes and isinstance(notes[0], dict) else None
        role = _role(vd)
        if role is not None and text != role:
            ctx.add(
                "ebm-evd-note",
                f"Evidence.variableDefinition[{i}].note[0].text",
                f"the slice discriminator note[0].text must equal the role code {role!r} (found {text!r})",
            )
        out.setdefault(role or str(text), []).append((i, vd))
    return out


def _check_target(
    ctx: _Ctx, vd: dict, i: int, element: str, expected: str, rule: str, profiles: set[str] | None
) -> None:
    ref = vd.get(element)
    if ref is None:
        return
    rtype, target = _resolved_type(ctx, ref)
    path = f"Evidence.variableDefinition[{i}].{element}"
    if rtype is not None and rtype != expected:
        ctx.add(rule, path, f"{element} must reference a {expected}, not a {rtype}")
        return
    if target is not None and profiles:
        claimed = set(claimed_profiles(target))
        if claimed and not claimed & profiles:
            ctx.add(
                rule,
                path,
                f"{element} must reference one of the profiles {', '.join(sorted(profiles))} "
                f"(target claims {', '.join(sorted(claimed))})",
            )


def _variable_definitions(ctx: _Ctx, profile: str, prefix: str, minimum: int) -> dict[str, list]:
    """The shared part of both Evidence profiles: how many variableDefinitions, and that a
    population and an outcome are among them. Returns the variableDefinitions by role."""
    vds = _list(ctx.res, "variableDefinition")
    if len(vds) < minimum:
        ctx.add(
            f"{prefix}-count",
            "Evidence.variableDefinition",
            f"{profile} needs at least {minimum} variableDefinitions (found {len(vds)})",
        )
    roles = _sliced_roles(ctx)
    for role in ("population", "outcome"):
        if not roles.get(role):
            ctx.add(
                f"{prefix}-{role}",
                "Evidence.variableDefinition",
                f"{profile} needs at least one {role} variableDefinition",
            )
    return roles


def _non_comparative(ctx: _Ctx, ids: set[str]) -> None:
    if not ids & NON_COMPARATIVE:
        return
    roles = _variable_definitions(ctx, "NonComparativeEvidence", "ebm-nce", 2)
    groups = {"study-group", "exposure-group", "comparator-group", "metaanalysis-study-group"}
    for i, vd in roles.get("population", ()):
        _check_target(ctx, vd, i, "observed", "Group", "ebm-nce-population", groups)
        _check_target(ctx, vd, i, "intended", "Group", "ebm-nce-population", None)
    for i, vd in roles.get("outcome", ()):
        _check_target(
            ctx,
            vd,
            i,
            "observed",
            "EvidenceVariable",
            "ebm-nce-outcome",
            {"variable-definition", "group-assignment"},
        )
        _check_target(ctx, vd, i, "intended", "EvidenceVariable", "ebm-nce-outcome", None)


def _comparative(ctx: _Ctx, ids: set[str]) -> None:
    if "comparative-evidence" not in ids:
        return
    roles = _variable_definitions(ctx, "ComparativeEvidence", "ebm-ce", 3)
    exposures = roles.get("exposure", [])
    if len(exposures) != 1:
        ctx.add(
            "ebm-ce-exposure",
            "Evidence.variableDefinition",
            f"ComparativeEvidence needs exactly one exposure variableDefinition (found {len(exposures)})",
        )
    for i, vd in exposures:
        comp = _ext(vd, COMPARATOR_EXT)
        if len(comp) != 1:
            ctx.add(
                "ebm-ce-exposure",
                f"Evidence.variableDefinition[{i}].extension",
                f"the exposure needs exactly one {COMPARATOR_EXT} extension",
            )
        _check_target(ctx, vd, i, "observed", "EvidenceVariable", "ebm-ce-exposure", {"group-assignment"})
        _rtype, target = _resolved_type(ctx, vd.get("observed"))
        if comp and target is not None:
            names = {c.get("name") for c in _list(target, "category") if isinstance(c, dict)}
            if comp[0].get("valueString") not in names:
                ctx.add(
                    "ebm-ce-comparator-category",
                    f"Evidence.variableDefinition[{i}].extension",
                    f"comparator category {comp[0].get('valueString')!r} is not a category "
                    f"name of the GroupAssignment ({', '.join(sorted(map(str, names)))})",
                )
    for i, vd in roles.get("outcome", ()):
        if _ext(vd, COMPARATOR_EXT):
            ctx.add(
                "ebm-ce-outcome",
                f"Evidence.variableDefinition[{i}].extension",
                "outcome variableDefinitions must not carry a comparator category",
            )


def _single_study(ctx: _Ctx, ids: set[str]) -> None:
    if "single-study-evidence" not in ids:
        return
    st = ctx.res.get("synthesisType")
    if not _has_code(st, SYNTHESIS_TYPE, "NotApplicable"):
        ctx.add(
            "ebm-sse-synthesis",
            "Evidence.synthesisType",
            f"SingleStudyEvidence requires synthesisType {SYNTHESIS_TYPE}#NotApplicable",
        )


# ------------------------------------------------------------------------------ arithmetic
def _stat_kind(cc: Any) -> set[str]:
    codes = _codes(cc)
    texts = {str(c.get("display", "")).lower() for c in _codings(cc)}
    if isinstance(cc, dict) and isinstance(cc.get("text"), str):
        texts.add(cc["text"].lower())
    kinds = set()
    if codes & PROPORTION or "proportion" in texts:
        kinds.add("proportion")
    if codes & PERCENTAGE or "percentage" in texts:
        kinds.add("percentage")
    if codes & CI or any("confidence interval" in t for t in texts):
        kinds.add("ci")
    if codes & PVALUE or any(t.replace("-", " ") == "p value" for t in texts):
        kinds.add("p")
    if codes & SD or any(t.startswith("standard deviation") for t in texts):
        kinds.add("sd")
    return kinds


def _is_percent(q: Any) -> bool:
    return isinstance(q, dict) and (q.get("code") == "%" or q.get("unit") == "%")


def _estimates(st: dict, base: str) -> Iterator[tuple[str, dict]]:
    for j, ae in enumerate(_list(st, "attributeEstimate")):
        if isinstance(ae, dict):
            p = f"{base}.attributeEstimate[{j}]"
            yield p, ae
            yield from _estimates(ae, p)


_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")


def _arithmetic(ctx: _Ctx, ids: set[str]) -> None:
    for i, st in enumerate(_list(ctx.res, "statistic")):
        if not isinstance(st, dict):
            continue
        base = f"Evidence.statistic[{i}]"
        q = as_object(st.get("quantity"))
        value = _dec(q.get("value"))
        kinds = _stat_kind(st.get("statisticType"))
        if "C53245" in _codes(st.get("statisticType")):
            ctx.add(
                "ebm-stat-type-c53245",
                f"{base}.statisticType",
                "C53245 is Interquartile range (an attribute-estimate type), never a "
                "statistic type; Mean is C53319",
            )
        ss = as_object(st.get("sampleSize"))
        n = _dec(ss.get("numberOfParticipants"))
        affected = _dec(st.get("numberAffected"))
        if "proportion" in kinds and value is not None:
            frac = value / 100 if _is_percent(q) else value
            if not Decimal(0) <= frac <= Decimal(1):
                ctx.add(
                    "ebm-stat-proportion-range",
                    f"{base}.quantity.value",
                    f"proportion {value} is outside [0, 1]"
                    + (" (as %: [0, 100])" if _is_percent(q) else "; percentages need unit '%'"),
                )
            elif affected is not None and n:
                tol = _half_ulp(value) / (100 if _is_percent(q) else 1)
                if abs(affected / n - frac) > tol + Decimal("1e-12"):
                    ctx.add(
                        "ebm-stat-proportion-counts",
                        f"{base}.quantity.value",
                        f"proportion {value} does not agree with numberAffected/"
                        f"numberOfParticipants = {affected}/{n} = "
                        f"{(affected / n):.6f} (tolerance {tol})",
                    )
        if affected is not None and n is not None and affected > n:
            ctx.add(
                "ebm-stat-counts",
                f"{base}.numberAffected",
                f"numberAffected {affected} exceeds numberOfParticipants {n}",
            )
        for p, ae in _estimates(st, base):
            k = _stat_kind(ae.get("type"))
            aq = as_object(ae.get("quantity"))
            av = _dec(aq.get("value"))
            rng = as_object(ae.get("range"))
            low = _dec((rng.get("low") or {}).get("value")) if isinstance(rng.get("low"), dict) else None
            high = _dec((rng.get("high") or {}).get("value")) if isinstance(rng.get("high"), dict) else None
            if low is not None and high is not None and low > high:
                ctx.add("ebm-range-order", f"{p}.range", f"range low {low} is above high {high}")
            if "ci" in k:
                level = _dec(ae.get("level"))
                if level is None:
                    ctx.add(
                        "ebm-ci-level", f"{p}.level", "a confidence interval must state its level (e.g. 0.95)"
                    )
                elif not Decimal(0) < level < Decimal(1):
                    ctx.add("ebm-ci-level", f"{p}.level", f"confidence level {level} must lie in (0, 1)")
                if value is not None and p.count("attributeEstimate") == 1:
                    if (low is not None and value < low) or (high is not None and value > high):
                        ctx.add(
                            "ebm-ci-brackets",
                            f"{p}.range",
                            f"the CI [{low}, {high}] does not contain the estimate {value}",
                        )
            if "p" in k and av is not None and not Decimal(0) <= av <= Decimal(1):
                ctx.add("ebm-p-range", f"{p}.quantity.value", f"p-value {av} is outside [0, 1]")
            if "sd" in k and av is not None and av < 0:
                ctx.add("ebm-sd-nonneg", f"{p}.quantity.value", f"standard deviation {av} is negative")
        if "p" in kinds and value is not None and not Decimal(0) <= value <= Decimal(1):
            ctx.add("ebm-p-range", f"{base}.quantity.value", f"p-value {value} is outside [0, 1]")
        if "sd" in kinds and value is not None and value < 0:
            ctx.add("ebm-sd-nonneg", f"{base}.quantity.value", f"standard deviation {value} is negative")
        _description(ctx, st, base, value, q)


def _structured_numbers(st: dict, value: Decimal | None) -> list[Decimal]:
    nums: list[Decimal] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        else:
            d = _dec(node) if isinstance(node, int | Decimal | float) else None
            if d is not None:
                nums.extend((d, d * 100))

    walk({k: v for k, v in st.items() if k not in ("description", "note")})
    return nums


def _description(ctx: _Ctx, st: dict, base: str, value: Decimal | None, q: dict) -> None:
    text = st.get("description")
    if not isinstance(text, str):
        return
    quoted = [Decimal(m) for m in _NUMBER.findall(text)]
    if not quoted:
        return
    structured = _structured_numbers(st, value)
    for number in quoted:
        tol = _half_ulp(number)
        if not any(abs(number - s) <= tol for s in structured):
            ctx.add(
                "ebm-stat-description",
                f"{base}.description",
                f"the description quotes {number} but no structured value of this statistic "
                f"rounds to it (quantity.value is {value})",
            )


# ------------------------------------------------------------------------------ other types
def _variable_definition(ctx: _Ctx, ids: set[str]) -> None:
    if not ids & {"variable-definition", "group-assignment"}:
        return
    if len(_ext(ctx.res, DEFINITION_EXT)) != 1:
        ctx.add(
            "ebm-vd-definition",
            "EvidenceVariable.extension",
            f"VariableDefinition requires exactly one {DEFINITION_EXT} extension",
        )
    if ctx.res.get("characteristic"):
        ctx.add(
            "ebm-vd-characteristic",
            "EvidenceVariable.characteristic",
            "VariableDefinition forbids characteristic (0..0)",
        )
    if "handling" not in ctx.res:
        ctx.add("ebm-vd-handling", "EvidenceVariable.handling", "VariableDefinition requires handling")
    if "group-assignment" in ids:
        cats = _list(ctx.res, "category")
        if len(cats) < 2 or not all(isinstance(c, dict) and c.get("name") for c in cats):
            ctx.add(
                "ebm-ga-category",
                "EvidenceVariable.category",
                "GroupAssignment needs at least 2 categories, each with a name",
            )


def _group(ctx: _Ctx, ids: set[str]) -> None:
    if "study-group" in ids:
        if ctx.res.get("membership") != "enumerated":
            ctx.add("ebm-sg-membership", "Group.membership", "StudyGroup requires membership = enumerated")
        if "quantity" not in ctx.res:
            ctx.add(
                "ebm-sg-quantity",
                "Group.quantity",
                "a StudyGroup should state quantity (the number of participants)",
                "warning",
            )
    if ids & COHORT:
        if ctx.res.get("membership") != "definitional":
            ctx.add(
                "ebm-cd-membership", "Group.membership", "CohortDefinition requires membership = definitional"
            )
        for el in ("quantity", "member"):
            if el in ctx.res:
                ctx.add("ebm-cd-" + el, f"Group.{el}", f"CohortDefinition forbids {el} (0..0)")


def _citation(ctx: _Ctx, ids: set[str]) -> None:
    if "journal-article-citation" not in ids:
        return
    if "effectivePeriod" in ctx.res:
        ctx.add(
            "ebm-jac-effective-period",
            "Citation.effectivePeriod",
            "JournalArticleCitation forbids effectivePeriod (0..0)",
        )
    art = ctx.res.get("citedArtifact") if isinstance(ctx.res.get("citedArtifact"), dict) else {}
    found = False
    for c in _list(art, "classification"):
        if isinstance(c, dict) and _has_code(
            c.get("type"),
            CITATION_CLASSIFICATION_TYPE,
            "knowledge-artifact-type",
        ):
            found = any(
                _has_code(cl, CITATION_ARTIFACT_CLASSIFIER, "D016428") for cl in _list(c, "classifier")
            )
    if not found:
        ctx.add(
            "ebm-jac-classification",
            "Citation.citedArtifact.classification",
            "JournalArticleCitation requires a knowledge-artifact-type classification with "
            "classifier citation-artifact-classifier#D016428 (Journal Article)",
        )


def _certainty_systems(ctx: _Ctx, ids: set[str]) -> None:
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("system") == CERTAINTY_RATING_THO:
                ctx.add(
                    "ebm-certainty-system",
                    path,
                    f"use the R5 core system http://hl7.org/fhir/certainty-rating, not the "
                    f"THO look-alike {CERTAINTY_RATING_THO}",
                    "warning",
                )
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for j, v in enumerate(node):
                walk(v, f"{path}[{j}]")

    for key in ("certainty", "content"):
        if key in ctx.res:
            walk(ctx.res[key], f"{ctx.rtype}.{key}")


def _artifact_assessment(ctx: _Ctx, ids: set[str]) -> None:
    content = _list(ctx.res, "content")
    if "rating" in ids:
        if not content:
            ctx.add("ebm-rating-content", "ArtifactAssessment.content", "Rating requires content (1..*)")
        for j, c in enumerate(content):
            q = c.get("quantity") if isinstance(c, dict) else None
            if not isinstance(q, dict) or "value" not in q:
                ctx.add(
                    "ebm-rating-content",
                    f"ArtifactAssessment.content[{j}].quantity.value",
                    "Rating requires content.quantity.value",
                )
    if "certainty-of-evidence" in ids:
        for j, c in enumerate(content):
            if (
                isinstance(c, dict)
                and c.get("type") is not None
                and not any(x.get("system") == CERTAINTY_TYPE for x in _codings(c.get("type")))
            ):
                ctx.add(
                    "ebm-coe-type",
                    f"ArtifactAssessment.content[{j}].type",
                    f"CertaintyOfEvidence content.type should come from {CERTAINTY_TYPE}",
                    "warning",
                )
    if "recommendation-justification" in ids:
        if not 1 <= len(content) <= 5:
            ctx.add(
                "ebm-rj-content",
                "ArtifactAssessment.content",
                f"RecommendationJustification allows 1..5 content (found {len(content)})",
            )
        specs = [
            j
            for j, c in enumerate(content)
            if isinstance(c, dict)
            and _has_code(c.get("type"), FEVIR_EBM_CODES, "recommendation-specification")
        ]
        if len(specs) != 1:
            ctx.add(
                "ebm-rj-spec",
                "ArtifactAssessment.content",
                "RecommendationJustification needs exactly one content with type "
                f"{FEVIR_EBM_CODES}#recommendation-specification (found {len(specs)})",
            )
        for j in specs:
            if content[j].get("informationType") != "container":
                ctx.add(
                    "ebm-rj-spec",
                    f"ArtifactAssessment.content[{j}].informationType",
                    "recommendationSpecification requires informationType = container",
                )
            _rj_components(ctx, content[j], j)


#: The closed component slices of RecommendationJustification's recommendationSpecification:
#: 179423 type code -> (slice, fixed informationType) (HL7/ebm@06becf90,
#: input/fsh/artifact-assessment/p-recommendation-justification.fsh).
RJ_SPEC_COMPONENTS = {
    "rating-system": ("ratingSystem", "classifier"),
    "strength-of-recommendation": ("strengthOfRecommendation", "rating"),
    "direction-of-recommendation": ("directionOfRecommendation", "classifier"),
    "ratings": ("otherRatings", "rating"),
    "discussion": ("discussion", "comment"),
}


def _rj_components(ctx: _Ctx, spec: dict, j: int) -> None:
    """Each component must fall into one of the closed slices, which are told apart by type."""
    for k, comp in enumerate(spec.get("component") or ()):
        if not isinstance(comp, dict):
            continue
        where = f"ArtifactAssessment.content[{j}].component[{k}]"
        codes = [c.get("code") for c in _codings(comp.get("type")) if c.get("system") == FEVIR_EBM_CODES]
        hit = next((RJ_SPEC_COMPONENTS[c] for c in codes if c in RJ_SPEC_COMPONENTS), None)
        if hit is None:
            slices = ", ".join(
                f"{name} ({FEVIR_EBM_CODES}#{code})" for code, (name, _i) in RJ_SPEC_COMPONENTS.items()
            )
            found = "no type" if comp.get("type") is None else "another type"
            ctx.add(
                "ebm-rj-component",
                f"{where}.type",
                f"a component of recommendationSpecification has {found}; its slices are closed and "
                f"told apart by type: {slices}",
            )
        elif comp.get("informationType") != hit[1]:
            ctx.add(
                "ebm-rj-component",
                f"{where}.informationType",
                f"the {hit[0]} component of recommendationSpecification requires informationType "
                f"{hit[1]!r} (found {comp.get('informationType')!r})",
            )


def _plan_definition(ctx: _Ctx, ids: set[str]) -> None:
    if "recommendation-plan" not in ids:
        return
    for el in ("url", "version", "title", "description"):
        if el not in ctx.res:
            ctx.add("ebm-rp-required", f"PlanDefinition.{el}", f"RecommendationPlan requires {el}")
    if not _has_code(ctx.res.get("type"), PLAN_DEFINITION_TYPE, "eca-rule"):
        ctx.add(
            "ebm-rp-type",
            "PlanDefinition.type",
            "RecommendationPlan requires type plan-definition-type#eca-rule",
        )
    if not _list(ctx.res, "action"):
        ctx.add("ebm-rp-required", "PlanDefinition.action", "RecommendationPlan requires action (1..*)")
    if "topic" in ctx.res:
        ctx.add("ebm-rp-topic", "PlanDefinition.topic", "RecommendationPlan forbids topic (0..0)")


def _activity_definition(ctx: _Ctx, ids: set[str]) -> None:
    if "recommendation-action" in ids and "topic" in ctx.res:
        ctx.add("ebm-ra-topic", "ActivityDefinition.topic", "RecommendationAction forbids topic (0..0)")


def _composition(ctx: _Ctx, ids: set[str]) -> None:
    wanted = {
        "recommendation": "Recommendation",
        "guideline": "Guideline",
        "summary-of-findings": "SummaryOfFindings",
    }
    for pid, code in wanted.items():
        if pid in ids and not _has_code(ctx.res.get("type"), FEVIR_EBM_CODES, code):
            ctx.add(f"ebm-{pid}-type", "Composition.type", f"{pid} requires type {FEVIR_EBM_CODES}#{code}")
    if "recommendation" in ids:
        specs = [
            s
            for s in _list(ctx.res, "section")
            if isinstance(s, dict)
            and _has_code(s.get("code"), FEVIR_EBM_CODES, "recommendation-specification")
        ]
        if len(specs) != 1:
            ctx.add(
                "ebm-recommendation-spec",
                "Composition.section",
                "Recommendation needs exactly one section with code "
                f"{FEVIR_EBM_CODES}#recommendation-specification (found {len(specs)})",
            )
    if ids & {
        "evidence-report",
        "evidence-report-package",
        "guideline",
        "recommendation",
        "summary-of-findings",
    }:
        subject = ctx.res.get("subject")
        if isinstance(subject, list) and len(subject) > 1:
            ctx.add("ebm-er-subject", "Composition.subject", "EvidenceReport allows one subject (0..1)")


_RULES: dict[str, tuple[Callable[[_Ctx, set[str]], None], ...]] = {
    "Evidence": (
        _evidence_r6,
        _non_comparative,
        _comparative,
        _single_study,
        _arithmetic,
        _certainty_systems,
    ),
    "EvidenceVariable": (_variable_definition,),
    "Group": (_group,),
    "Citation": (_citation,),
    "ArtifactAssessment": (_artifact_assessment, _certainty_systems),
    "PlanDefinition": (_plan_definition,),
    "ActivityDefinition": (_activity_definition,),
    "Composition": (_composition,),
}
