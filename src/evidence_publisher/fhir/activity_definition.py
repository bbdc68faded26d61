"""ActivityDefinition: the recommended action (a referral ServiceRequest)."""

from __future__ import annotations

from evidence_publisher.fhir.common import Context, base, concept, narrative
from evidence_publisher.sources.model import Recommendation


def map_activity_definition(ctx: Context, rec: Recommendation) -> dict:
    act = rec.action
    res = base(
        ctx, "ActivityDefinition", act.id, title=act.title, date=rec.date, profiles=["recommendation-action"]
    )
    res["experimental"] = rec.experimental
    res["description"] = act.description
    res["kind"] = act.kind
    res["intent"] = "proposal"
    res["priority"] = "routine"
    res["code"] = concept(act.code.system, act.code.code, act.code.display, text=act.title)
    res["text"] = narrative(
        act.title,
        [
            ("Action", act.description),
            ("Kind", act.kind),
            ("Code", f"{act.code.display or act.code.code} ({act.code.system} {act.code.code})"),
        ]
        + ([("Status", "experimental: not for use as a vetted decision rule")] if rec.experimental else []),
    )
    return res
