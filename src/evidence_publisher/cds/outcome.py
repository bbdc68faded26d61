"""OperationOutcome bodies for every error the service returns."""

from __future__ import annotations

from typing import Any


def operation_outcome(
    message: str, *, code: str = "processing", details: list[str] | None = None
) -> dict[str, Any]:
    issues = [{"severity": "error", "code": code, "diagnostics": message}]
    issues += [
        {"severity": "information", "code": "informational", "diagnostics": d} for d in details or [] if d
    ]
    return {"resourceType": "OperationOutcome", "issue": issues}
