"""Problems found in mapping files: one class per failure mode, each with location and fix.

Issues are collected (never first-only) and raised together as one ``sources.errors.MappingError``,
whose exit code says whether the input is malformed, over a limit, or does not trace to its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from evidence_publisher.errors import SourceLocation


def field_name(path: tuple) -> str:
    """``('results', 2, 'value')`` -> ``results[2].value``, the way issues name a field."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Issue:
    location: SourceLocation
    field: str
    problem: str
    fix: str
    # problems this one causes elsewhere (e.g. references into a file that could not be read),
    # listed under it instead of as issues of their own
    consequences: tuple[str, ...] = ()
    code: ClassVar[str] = "mapping-error"
    fidelity: ClassVar[bool] = False
    root_cause: ClassVar[bool] = False  # a file that could not be read at all: listed first

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        field = f"{self.field}: " if self.field else ""
        text = f"{where}{field}{self.problem} [{self.code}] (fix: {self.fix})"
        return "\n".join([text, *(f"    consequence: {c}" for c in self.consequences)])

    def as_dict(self) -> dict:
        out = {
            "code": self.code,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "field": self.field,
            "problem": self.problem,
            "fix": self.fix,
        }
        if self.consequences:
            out["consequences"] = list(self.consequences)
        return out


class YamlSyntax(Issue):
    code = "yaml-syntax"
    root_cause = True


class UnreadableFile(Issue):
    code = "unreadable-file"
    root_cause = True


class NotUtf8(Issue):
    code = "encoding"
    root_cause = True


class ControlCharacter(Issue):
    code = "control-character"
    root_cause = True


class InputLimit(Issue):
    """The file exceeds a safety limit (size, nesting, node count, string length)."""

    code = "input-limit"
    root_cause = True


class DuplicateKey(Issue):
    code = "duplicate-key"


class UnknownKey(Issue):
    code = "unknown-key"


class MissingField(Issue):
    code = "missing-field"


class WrongType(Issue):
    code = "wrong-type"


class InvalidValue(Issue):
    code = "invalid-value"


class ImpossibleValue(Issue):
    code = "impossible-value"


class DuplicateId(Issue):
    code = "duplicate-id"


class DanglingReference(Issue):
    code = "dangling-reference"


class Placeholder(Issue):
    """A ``TODO`` placeholder of a skeleton written by ``evidence-publisher new`` is still there."""

    code = "placeholder"


class CorpusFileMissing(Issue):
    code = "corpus-missing"


class SourceFileMissing(Issue):
    code = "source-missing"


class QuoteNotFound(Issue):
    code = "quote-not-found"
    fidelity = True


class NumberNotInQuote(Issue):
    code = "number-not-in-quote"
    fidelity = True


class DerivationMismatch(Issue):
    code = "derivation-mismatch"
    fidelity = True


@dataclass(frozen=True)
class MoreProblems(Issue):
    """Stands for the problems of a file beyond the first ``MAX_PER_FILE`` (they are not listed)."""

    hidden: int = 0
    code: ClassVar[str] = "more-problems"

    @classmethod
    def of(cls, location: SourceLocation, hidden: int, fidelity: bool = False) -> MoreProblems:
        kind = MoreFidelityProblems if fidelity else MoreProblems
        return kind(
            location,
            "",
            f"and {hidden:,} more problems in {location.file} (not listed)",
            "fix the problems above first; the same mistake is often repeated",
            hidden=hidden,
        )


class MoreFidelityProblems(MoreProblems):
    fidelity = True


MAX_PER_FILE = 100


def cap_per_file(issues: list[Issue], limit: int = MAX_PER_FILE) -> list[Issue]:
    """At most ``limit`` issues per file (root causes first), then one line saying how many more."""
    by_file: dict[str, list[Issue]] = {}
    for issue in sorted(issues, key=lambda i: (not i.root_cause, i.location, i.field, i.code)):
        by_file.setdefault(issue.location.file, []).append(issue)
    out: list[Issue] = []
    for found in by_file.values():
        listed = [i for i in found if not isinstance(i, MoreProblems)]
        summaries = [i for i in found if isinstance(i, MoreProblems)]
        hidden = sum(i.hidden for i in summaries) + max(len(listed) - limit, 0)
        out.extend(listed[:limit])
        if hidden:
            fidelity = all(i.fidelity for i in listed[limit:]) and not summaries
            out.append(MoreProblems.of((listed or found)[-1].location, hidden, fidelity))
    return out
