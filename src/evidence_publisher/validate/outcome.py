"""Validation issues, OperationOutcome rendering and the report object."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # OperationOutcome issue-type code (structure, required, value, invariant ...)
    expression: str  # FHIRPath of the offending element
    message: str
    rule: str  # rule id: invariant key, binding value set url, or a validator rule id

    def to_fhir(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": f"[{self.rule}] {self.message}",
            "expression": [self.expression],
        }


def operation_outcome(issues: list[Issue]) -> dict:
    ordered = sorted(
        set(issues), key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.expression, i.rule, i.message)
    )
    if not ordered:
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": "No issues detected during validation",
                }
            ],
        }
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in ordered]}


def outcome_counts(outcome: dict) -> tuple[int, int]:
    errors = warnings = 0
    for issue in outcome.get("issue", ()):
        sev = issue.get("severity")
        if sev in ("error", "fatal"):
            errors += 1
        elif sev == "warning":
            warnings += 1
    return errors, warnings


@dataclass
class ValidationReport:
    """One OperationOutcome per validated resource (or per unreadable input, keyed by a label)."""

    outcomes: list[tuple[dict, dict]] = field(default_factory=list)
    # where each outcome's resource came from (file or file:line), parallel to ``outcomes``
    sources: list[str] = field(default_factory=list)
    # how the inputs were read (e.g. a build output validated through its resources/ only)
    notes: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(outcome_counts(o)[0] for _r, o in self.outcomes)

    @property
    def warning_count(self) -> int:
        return sum(outcome_counts(o)[1] for _r, o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def extend(self, other: ValidationReport, source: str | None = None) -> None:
        self.outcomes.extend(other.outcomes)
        if source is not None:
            self.sources.extend([source] * len(other.outcomes))
        else:
            self.sources.extend(other.sources or [""] * len(other.outcomes))


def resource_label(resource: dict) -> str:
    """``Type/id`` (or ``Type``, or the ``source`` of an unreadable input)."""
    if "resourceType" not in resource and "source" in resource:
        return str(resource["source"])
    rtype = resource.get("resourceType", "?")
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) else str(rtype)


def split_diagnostics(issue: dict) -> tuple[str, str]:
    """(rule id, message) from an issue's ``diagnostics`` written by ``Issue.to_fhir``."""
    text = issue.get("diagnostics", "")
    if text.startswith("[") and "] " in text:
        rule, msg = text[1:].split("] ", 1)
        return rule, msg
    return "", text
