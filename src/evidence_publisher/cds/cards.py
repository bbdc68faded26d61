"""CDS Hooks 2.0 cards built from a compiled recommendation (nothing recommendation-specific)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from evidence_publisher.cds.config import OverrideReason
from evidence_publisher.cds.recommendation import (
    CERTAINTY_LABELS,
    EvidenceSummary,
    Recommendation,
    Statistic,
)
from evidence_publisher.cds.requests_from_definition import service_request

SUMMARY_MAX = 139
PRIORITY_INDICATOR = {"routine": "info", "urgent": "warning", "asap": "warning", "stat": "critical"}
UuidFactory = Callable[[], str]


def _uuid4() -> str:
    return str(uuid.uuid4())


def summary_text(rec: Recommendation) -> str:
    text = " ".join(str(rec.action.get("title") or rec.title).split())
    if len(text) <= SUMMARY_MAX:
        return text
    cut = text[: SUMMARY_MAX - 1].rsplit(" ", 1)[0]
    return cut + "…"


def escape_md(text: str) -> str:
    """Neutralise raw HTML so the detail stays plain GitHub-flavoured markdown."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sample_size(st: Statistic) -> str | None:
    if st.participants is None:
        return None
    text = st.description or ""
    if re.search(rf"\b(n\s*=\s*|of\s+){st.participants}\b", text):
        return None  # the published description already states it
    return f"n = {st.participants}"


def _evidence_line(ev: EvidenceSummary) -> str:
    parts: list[str] = []
    for st in ev.statistics:
        text = st.description or " ".join(x for x in (st.value, st.unit) if x)
        extras = [x for x in (_sample_size(st), st.ci) if x and x not in (text or "")]
        if text:
            parts.append(text + (f" ({'; '.join(extras)})" if extras else ""))
    line = f"- **{escape_md(ev.title)}**"
    if parts:
        line += ": " + escape_md("; ".join(parts))
    elif ev.description:
        line += ": " + escape_md(ev.description)
    if ev.certainty_code:
        label = ev.certainty_display or ev.certainty_code
        line += f". Certainty of evidence: **{escape_md(label)}**"
        if ev.certainty_reason:
            line += f" ({escape_md(' '.join(ev.certainty_reason.split()))})"
    else:
        line += ". Certainty of evidence: not rated"
    return line


CERTAINTY_ORDER = ("high", "moderate", "low", "very-low")


def certainty_overview(rec: Recommendation) -> str | None:
    """'very low for all 9 cited results' / 'at best low; 2 of 9 results not rated'."""
    if not rec.evidence:
        return None
    rated = [ev.certainty_code for ev in rec.evidence if ev.certainty_code in CERTAINTY_ORDER]
    unrated = len(rec.evidence) - len(rated)
    if not rated:
        return f"not rated for any of the {len(rec.evidence)} cited results"
    best = min(rated, key=CERTAINTY_ORDER.index)
    label = CERTAINTY_LABELS[best].lower()
    if unrated == 0 and len(set(rated)) == 1:
        return f"{label} for all {len(rated)} cited results"
    text = f"at best {label}"
    return text + (f"; {unrated} of {len(rec.evidence)} results not rated" if unrated else "")


def caution_lines(rec: Recommendation) -> list[str]:
    """For a PlanDefinition marked experimental: what it is, where it comes from, how certain."""
    if rec.plan.get("experimental") is not True:
        return []
    usage = " ".join(str(rec.plan.get("usage") or "").split())
    lines = ["", "**Experimental rule.** " + escape_md(usage or "Not for use as a vetted decision rule.")]
    origin = (rec.citation or {}).get("description") or (rec.citation or {}).get("title")
    if origin:
        lines += ["", f"**Source of the advice:** {escape_md(' '.join(str(origin).split()))}"]
    overview = certainty_overview(rec)
    if overview:
        lines += ["", f"**Certainty of the evidence:** {escape_md(overview)}"]
    return lines


def detail_markdown(rec: Recommendation) -> str:
    lines = [escape_md(str(rec.action.get("description") or rec.description).strip())]
    lines += caution_lines(rec)
    if rec.strength:
        lines += ["", f"**Strength of recommendation:** {escape_md(rec.strength)}"]
    if rec.evidence:
        lines += ["", "**Key results**", ""]
        lines += [_evidence_line(ev) for ev in rec.evidence]
    return "\n".join(lines)


def _https(url: str | None) -> bool:
    return bool(url) and str(url).startswith("https://")


def source(rec: Recommendation) -> dict[str, Any]:
    label = (rec.citation or {}).get("title") or rec.plan.get("publisher") or rec.title
    src: dict[str, Any] = {"label": " ".join(str(label).split())}
    if _https(rec.citation_url):
        src["url"] = rec.citation_url
    return src


def links(rec: Recommendation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    candidates = [(f"Evidence: {ev.title}", ev.url) for ev in rec.evidence]
    if rec.citation_url:
        title = (rec.citation or {}).get("title") or "Guideline"
        candidates.append((f"Source: {title}", rec.citation_url))
    for label, url in candidates:
        if _https(url) and url not in seen:
            seen.add(url)
            out.append({"label": " ".join(label.split()), "url": url, "type": "absolute"})
    return out


def build_card(
    rec: Recommendation,
    *,
    patient_id: str,
    user_id: str | None = None,
    override_reasons: list[OverrideReason] | None = None,
    suggest: bool = True,
    new_uuid: UuidFactory = _uuid4,
) -> dict[str, Any]:
    static = rec.extra.get("card")
    if static is None:  # the card text depends only on the published resources: build it once
        static = rec.extra["card"] = {
            "summary": summary_text(rec),
            "indicator": PRIORITY_INDICATOR.get(str(rec.action.get("priority")), "info"),
            "detail": detail_markdown(rec),
            "source": source(rec),
            "links": links(rec),
        }
    card: dict[str, Any] = {"uuid": new_uuid()}
    card.update({k: v for k, v in static.items() if k != "links"})
    if suggest and rec.activity is not None and rec.activity.get("kind") == "ServiceRequest":
        request = service_request(
            rec.activity, request_id=new_uuid(), patient_id=patient_id, requester=user_id
        )
        label = rec.activity.get("title") or rec.activity.get("name") or "Create request"
        card["suggestions"] = [
            {
                "label": label,
                "uuid": new_uuid(),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": rec.activity.get("description") or label,
                        "resource": request,
                    }
                ],
            }
        ]
        card["selectionBehavior"] = "at-most-one"
    if static["links"]:
        card["links"] = static["links"]
    if override_reasons:
        card["overrideReasons"] = [
            {"code": r.code, "system": r.system, "display": r.display} for r in override_reasons
        ]
    return card
