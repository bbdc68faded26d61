"""What ``validate`` tells about a run of any size: counts, and a bounded list of problems.

Fed one outcome at a time (``add``), it keeps the totals, the counts by resource type and by
problem (severity and rule), and the first ``max_rows`` problems with where they are; nothing
grows with the number of resources but the number of distinct types and rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evidence_publisher.validate.outcome import split_diagnostics
from evidence_publisher.validate.stream import Checked

MAX_ROWS = 200  # problems listed one per row; the rest are counted
SUMMARY_FROM = 50  # from this many resources on, the counts by type and problem are shown


@dataclass
class TypeCount:
    resources: int = 0
    with_errors: int = 0
    errors: int = 0
    warnings: int = 0


@dataclass
class ProblemCount:
    severity: str
    rule: str
    issues: int = 0
    resources: int = 0
    example: str = ""  # the first message, as an example


@dataclass
class ProblemRow:
    source: str
    resource: str
    severity: str
    rule: str
    expression: str
    message: str


@dataclass
class ValidationSummary:
    """Totals, counts by type and by problem, and the first problems (``errors_only``: errors)."""

    errors_only: bool = False
    max_rows: int = MAX_ROWS
    resources: int = 0
    errors: int = 0
    warnings: int = 0
    by_type: dict[str, TypeCount] = field(default_factory=dict)
    by_problem: dict[tuple[str, str], ProblemCount] = field(default_factory=dict)
    rows: list[ProblemRow] = field(default_factory=list)
    rows_left_out: int = 0  # problems past ``max_rows``

    def add(self, checked: Checked) -> None:
        self.resources += 1
        counts = self.by_type.setdefault(checked.rtype, TypeCount())
        counts.resources += 1
        seen: set[tuple[str, str]] = set()
        errors = 0
        for issue in checked.outcome.get("issue", ()):
            severity = issue.get("severity", "")
            if severity == "information":
                continue
            if severity in ("error", "fatal"):
                errors += 1
            elif severity == "warning":
                self.warnings += 1
                counts.warnings += 1
            rule, message = split_diagnostics(issue)
            problem = self.by_problem.get((severity, rule))
            if problem is None:
                problem = self.by_problem[(severity, rule)] = ProblemCount(severity, rule, example=message)
            problem.issues += 1
            if (severity, rule) not in seen:
                seen.add((severity, rule))
                problem.resources += 1
            if self.errors_only and severity == "warning":
                continue
            if len(self.rows) < self.max_rows:
                where = ", ".join(issue.get("expression", ()))
                self.rows.append(ProblemRow(checked.source, checked.label, severity, rule, where, message))
            else:
                self.rows_left_out += 1
        self.errors += errors
        counts.errors += errors
        counts.with_errors += errors > 0

    @property
    def detailed(self) -> bool:
        """Whether the counts by type and problem are worth showing next to the rows."""
        return self.resources >= SUMMARY_FROM or self.rows_left_out > 0

    def types(self) -> list[tuple[str, TypeCount]]:
        return sorted(self.by_type.items())

    def problems(self) -> list[ProblemCount]:
        order = {"fatal": 0, "error": 1, "warning": 2}
        return sorted(self.by_problem.values(), key=lambda p: (order.get(p.severity, 9), -p.issues, p.rule))
