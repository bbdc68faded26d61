"""Validation of CDS Hooks 2.0 feedback (``POST /cds-services/{id}/feedback``)."""

from __future__ import annotations

import re
from typing import Any

from evidence_publisher.cds.errors import InvalidRequestError

# RFC 3339 date-time; the spec asks for UTC, offsets are accepted and left to the client.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
OUTCOMES = ("accepted", "overridden")


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def validate_feedback(body: Any) -> list[dict[str, Any]]:
    """Return the feedback items, or raise InvalidRequestError naming every problem."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise InvalidRequestError("feedback body must be {'feedback': [ ... ]} with at least one item")
    problems: list[str] = []
    for n, item in enumerate(body["feedback"]):
        where = f"feedback[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        if not _nonempty_str(item.get("card")):
            problems.append(f"{where}.card is required (the card's uuid)")
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            problems.append(f"{where}.outcome must be one of {OUTCOMES}, got {outcome!r}")
        ts = item.get("outcomeTimestamp")
        if not isinstance(ts, str) or not RFC3339.match(ts):
            problems.append(f"{where}.outcomeTimestamp must be an RFC 3339 date-time, got {ts!r}")
        accepted = item.get("acceptedSuggestions")
        if outcome == "accepted":
            if (
                not isinstance(accepted, list)
                or not accepted
                or not all(isinstance(s, dict) and _nonempty_str(s.get("id")) for s in accepted)
            ):
                problems.append(f"{where}.acceptedSuggestions needs at least one {{'id': uuid}}")
        reason = item.get("overrideReason")
        if reason is not None:
            if outcome != "overridden":
                problems.append(f"{where}.overrideReason is only allowed with outcome 'overridden'")
            if not isinstance(reason, dict) or not (
                reason.get("reason") or _nonempty_str(reason.get("userComment"))
            ):
                problems.append(f"{where}.overrideReason needs 'reason' or 'userComment'")
            elif reason.get("reason") is not None:
                coding = reason["reason"]
                if not isinstance(coding, dict) or not all(
                    _nonempty_str(coding.get(k)) for k in ("code", "system")
                ):
                    problems.append(f"{where}.overrideReason.reason needs code and system")
    if problems:
        raise InvalidRequestError("invalid feedback: " + "; ".join(problems), details=problems)
    return body["feedback"]
