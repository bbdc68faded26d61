"""ArtifactAssessment: certainty of evidence (overall and by domain) and recommendation justification."""

from __future__ import annotations

from evidence_publisher.constants import ARTIFACT_EXPERIMENTAL_EXT, CERTAINTY_TYPE, FEVIR_EBM_CODES
from evidence_publisher.fhir.common import (
    CERTAINTY_LABELS,
    CERTAINTY_RATING,
    DOMAIN_LABELS,
    RATING_LABELS,
    Context,
    base,
    claim_text,
    concept,
    narrative,
    ref,
    resource_id,
)
from evidence_publisher.sources.model import Certainty, Recommendation


def certainty_id(evidence_id: str) -> str:
    return resource_id(evidence_id, "certainty")


def map_certainty(ctx: Context, cert: Certainty, evidence_id: str, evidence_title: str, date: str) -> dict:
    rid = certainty_id(evidence_id)
    title = f"Certainty of evidence: {evidence_title}"
    res = base(ctx, "ArtifactAssessment", rid, title=title, date=date, profiles=["certainty-of-evidence"])
    res["artifactReference"] = ref("Evidence", evidence_id)
    content: dict = {
        "informationType": "rating",
        "summary": f"{cert.summary} Judgement by {cert.assessor}.",
        "type": concept(CERTAINTY_TYPE, "Overall"),
        "classifier": [concept(CERTAINTY_RATING, cert.overall)],
    }
    if cert.domains:
        content["component"] = [
            {
                "informationType": "rating",
                "summary": d.reason,
                "type": concept(CERTAINTY_TYPE, d.domain),
                "classifier": [concept(CERTAINTY_RATING, d.rating)],
            }
            for d in cert.domains
        ]
    res["content"] = [content]
    rows = [
        ("Overall certainty", CERTAINTY_LABELS[cert.overall]),
        ("Summary", cert.summary),
        ("Assessed by", cert.assessor),
    ]
    rows += [(DOMAIN_LABELS[d.domain], f"{RATING_LABELS[d.rating]}: {d.reason}") for d in cert.domains]
    res["text"] = narrative(title, rows)
    return res


def justification_id(rec: Recommendation) -> str:
    return resource_id(rec.id, "justification")


def map_justification(
    ctx: Context,
    rec: Recommendation,
    composition_id: str,
    evidence_refs: list[tuple[str, str]],
    citation_ids: list[str],
) -> dict:
    rid = justification_id(rec)
    title = f"Justification: {rec.title}"
    res = base(
        ctx, "ArtifactAssessment", rid, title=title, date=rec.date, profiles=["recommendation-justification"]
    )
    if rec.experimental:
        res["extension"].append({"url": ARTIFACT_EXPERIMENTAL_EXT, "valueBoolean": True})
    res["artifactReference"] = ref("Composition", composition_id)
    components = []
    if rec.strength is not None:
        components.append(
            {
                "informationType": "rating",
                "type": concept(FEVIR_EBM_CODES, "strength-of-recommendation"),
                "summary": rec.strength.value,
            }
        )
    if rec.direction is not None:
        components.append(
            {
                "informationType": "classifier",
                "type": concept(FEVIR_EBM_CODES, "direction-of-recommendation"),
                "summary": rec.direction.value,
            }
        )
    discussion = [
        "No source states a strength of recommendation, a direction or a level of evidence, so none is given."
        if rec.strength is None and rec.direction is None
        else "Ratings as stated by the source."
    ]
    discussion += [claim_text(c) for c in rec.claims]
    if rec.caution:
        discussion.append(rec.caution)
    components.append(
        {
            "informationType": "comment",
            "type": concept(FEVIR_EBM_CODES, "discussion", "Discussion"),
            "summary": " ".join(discussion),
        }
    )
    content = [
        {
            "informationType": "container",
            "type": concept(FEVIR_EBM_CODES, "recommendation-specification"),
            "summary": rec.statement,
            "component": components,
        },
        {
            "informationType": "container",
            "type": concept(FEVIR_EBM_CODES, "evidence"),
            "summary": "Evidence the recommendation rests on.",
            "relatedArtifact": [
                {"type": "justification", "display": title_, "resourceReference": ref("Evidence", eid)}
                for eid, title_ in evidence_refs
            ]
            + [{"type": "justification", "resourceReference": ref("Citation", cid)} for cid in citation_ids],
        },
    ]
    res["content"] = content
    rows = [("Statement", rec.statement), ("Discussion", " ".join(discussion))]
    rows += [("Evidence", t) for _, t in evidence_refs]
    res["text"] = narrative(title, rows)
    return res
