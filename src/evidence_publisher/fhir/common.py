"""What every mapper shares: identity (url, id, identifier, name), codes and the narrative."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from decimal import Decimal

from evidence_publisher.constants import CANONICAL_TYPES, CORE_SD, EBM_SD, UCUM
from evidence_publisher.sources.model import Claim, Corpus, External

STATISTIC_TYPE = "http://terminology.hl7.org/CodeSystem/statistic-type"
ATTRIBUTE_ESTIMATE = "http://terminology.hl7.org/CodeSystem/attribute-estimate-type"
CERTAINTY_RATING = "http://hl7.org/fhir/certainty-rating"

_NO_PUBLISHER = frozenset({"Composition", "ResearchStudy"})


@dataclass(frozen=True)
class Context:
    """Corpus-wide settings every resource takes its identity from."""

    base_url: str
    version: str
    publisher: str
    status: str

    @classmethod
    def from_corpus(cls, corpus: Corpus, base_url: str | None = None) -> Context:
        return cls(
            base_url=(base_url or corpus.base_url).rstrip("/"),
            version=corpus.version,
            publisher=corpus.publisher,
            status=corpus.status,
        )

    @property
    def identifier_system(self) -> str:
        return f"{self.base_url}/identifier"

    def url(self, rtype: str, rid: str) -> str:
        return f"{self.base_url}/{rtype}/{rid}"

    def canonical(self, rtype: str, rid: str) -> str:
        return f"{self.url(rtype, rid)}|{self.version}"


def resource_id(*parts: str) -> str:
    """Join slug parts into a FHIR id (<= 64 chars, never all digits), hashing the tail if long."""
    rid = "-".join(p for p in parts if p)
    if len(rid) > 64:
        digest = hashlib.sha256(rid.encode()).hexdigest()[:8]
        rid = f"{rid[:55].rstrip('-')}-{digest}"
    if rid.isdigit():
        rid = f"r-{rid}"
    return rid


def computable_name(rid: str) -> str:
    """A cnl-0 conformant name: ``liang-2010-sledai`` -> ``Liang2010Sledai``."""
    name = "".join(part[:1].upper() + part[1:] for part in rid.replace(".", "-").split("-") if part)
    if not name[:1].isalpha():
        name = "R" + name
    return name[:255]


def ref(rtype: str, rid: str, display: str | None = None) -> dict:
    out = {"reference": f"{rtype}/{rid}"}
    if display:
        out["display"] = display
    return out


def coding(system: str, code: str, display: str | None = None) -> dict:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict:
    out: dict = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


# UCUM code -> the unit as a reader writes it. Every UCUM code a mapping may use is listed here
# (tests/compiler checks the corpus against this table), so a cryptic code never reaches a
# narrative. Annotations ({score}, {cells}) are valid UCUM unity factors.
UNIT_WORDS = {
    "a": "years",
    "mo": "months",
    "wk": "weeks",
    "d": "days",
    "h": "hours",
    "%": "%",
    "{score}": "points",
    "mg/(24.h)": "mg/24 h",
    "10*6{cells}/kg": "×10^6 cells/kg",
}
_SINGULAR = {"years": "year", "months": "month", "weeks": "week", "days": "day", "hours": "hour"}


def unit_words(code: str | None, value: Decimal | int | None = None) -> str:
    """The unit in words ('months'; 'month' for a value of exactly 1)."""
    if not code:
        return ""
    words = UNIT_WORDS.get(code, code)
    if value is not None and Decimal(value) == 1:
        words = _SINGULAR.get(words, words)
    return words


def with_unit(value: Decimal | int | None, code: str | None) -> str:
    """'28.3 years', '60.5%', '3.0 ×10^6 cells/kg'."""
    text = fmt(value)
    words = unit_words(code, value)
    if not words:
        return text
    return f"{text}{words}" if words == "%" else f"{text} {words}"


def quantity(value: Decimal | int, unit: str | None = None, comparator: str | None = None) -> dict:
    out: dict = {"value": value}
    if comparator and comparator != "=":
        out["comparator"] = comparator
    if unit:
        out.update({"unit": unit_words(unit), "system": UCUM, "code": unit})
    return out


_TIME_PREPOSITIONS = ("at ", "by ", "during ", "after ", "before ", "within ", "over ", "in ", "from ")


def time_phrase(label: str, baseline: bool = False) -> str:
    """A timepoint label as it reads after an outcome name: 'at baseline', 'at 12-month
    follow-up', 'by the 12-month visit', 'during follow-up', '(timepoint not stated)'."""
    if label.lower().startswith(_TIME_PREPOSITIONS):
        return label
    if "not stated" in label or "not reported" in label:
        return f"({label})"
    return f"at {label}"


CERTAINTY_LABELS = {"high": "High", "moderate": "Moderate", "low": "Low", "very-low": "Very low"}
RATING_LABELS = {
    "no-concern": "no concern",
    "serious-concern": "serious concern",
    "very-serious-concern": "very serious concern",
    "extremely-serious-concern": "extremely serious concern",
    "present": "present",
    "absent": "absent",
}
DOMAIN_LABELS = {
    "RiskOfBias": "Risk of bias",
    "Inconsistency": "Inconsistency",
    "Indirectness": "Indirectness",
    "Imprecision": "Imprecision",
    "PublicationBias": "Publication bias",
    "DoseResponseGradient": "Dose-response gradient",
    "PlausibleConfounding": "Plausible confounding",
    "LargeEffect": "Large effect",
}


def certainty_phrase(overall: str, summary: str) -> str:
    """'Very low certainty: ...' once, whether or not the curated summary already starts so."""
    label = CERTAINTY_LABELS[overall]
    if summary.lower().startswith(label.lower()):
        return summary
    return f"{label} certainty: {summary}"


def base(
    ctx: Context,
    rtype: str,
    rid: str,
    *,
    title: str | None,
    date: str,
    profiles: list[str] | None = None,
) -> dict:
    """Identity and metadata common to the project's resources, by what R5 allows per type."""
    res: dict = {"resourceType": rtype, "id": rid}
    if profiles:
        res["meta"] = {"profile": [EBM_SD + p for p in profiles]}
    res["identifier"] = [{"system": ctx.identifier_system, "value": f"{rtype}/{rid}"}]
    if rtype in CANONICAL_TYPES:
        res["url"] = ctx.url(rtype, rid)
        res["version"] = ctx.version
        res["name"] = computable_name(rid)
        if title:
            res["title"] = title
        res["status"] = _composition_status(ctx.status) if rtype == "Composition" else ctx.status
        res["date"] = date
        if rtype not in _NO_PUBLISHER:
            res["publisher"] = ctx.publisher
    else:
        # R5 Group and ArtifactAssessment have no url/version/name/status/publisher elements; the
        # core artifact-* extensions (hl7.fhir.uv.extensions.r5) carry them, and for Group also
        # title and date, which ArtifactAssessment has natively. artifact-status is defined as a
        # modifier extension (a retired artifact changes how the rest is read), so it goes in
        # modifierExtension; the EBM GroupR6 profile declares it there too.
        ext = [
            {"url": CORE_SD + "artifact-url", "valueUri": ctx.url(rtype, rid)},
            {"url": CORE_SD + "artifact-version", "valueString": ctx.version},
            {"url": CORE_SD + "artifact-name", "valueString": computable_name(rid)},
            {"url": CORE_SD + "artifact-publisher", "valueString": ctx.publisher},
        ]
        res["modifierExtension"] = [{"url": CORE_SD + "artifact-status", "valueCode": ctx.status}]
        if rtype == "ArtifactAssessment":
            if title:
                res["title"] = title
            res["date"] = date
        elif title:
            ext.append({"url": CORE_SD + "artifact-title", "valueString": title})
            ext.append({"url": CORE_SD + "artifact-date", "valueDateTime": date})
        res["extension"] = ext
    return res


def _composition_status(status: str) -> str:
    return {"active": "final", "draft": "preliminary", "retired": "amended"}.get(status, "final")


def narrative(title: str, rows: list[tuple[str, str]]) -> dict:
    """Generated XHTML narrative; every value is escaped (mapping text is never trusted as markup)."""
    parts = [f'<div xmlns="http://www.w3.org/1999/xhtml"><h3>{html.escape(title)}</h3>']
    if rows:
        parts.append("<table>")
        for label, value in rows:
            label = label.rstrip(".")  # a row label is not a sentence: "Condition:", not "Condition.:"
            parts.append(f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>")
        parts.append("</table>")
    parts.append("</div>")
    return {"status": "generated", "div": "".join(parts)}


def fmt(value: Decimal | int | None) -> str:
    return "" if value is None else str(value)


def quote_text(quotes: str | list[str] | None) -> str:
    if quotes is None:
        return ""
    items = [quotes] if isinstance(quotes, str) else quotes
    return " … ".join(f"“{q}”" for q in items)


def external_note(ext: External) -> dict:
    """An Annotation saying which values were found outside the corpus, where, and with what status."""
    text = f"{', '.join(ext.fields)}: found outside the corpus at {ext.url} (status: {ext.status})"
    if ext.note:
        text += f". {ext.note}"
    return {"text": text}


def claim_text(claim: Claim) -> str:
    return f"Attribution claim ({claim.status.replace('-', ' ')}): {claim.claim} {claim.note}"
