"""Problems found while importing records: each names the file, the record, the field and a fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordIssue:
    """One problem of one record (``record`` 0: the file as a whole)."""

    file: str
    record: int
    line: int | None
    key: str | None
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.record:
            where += f":record {self.record}" + (f" ({self.key})" if self.key else "")
        if self.line:
            where += f", line {self.line}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.problem} (fix: {self.fix})"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "record": self.record,
            "line": self.line,
            "key": self.key,
            "field": self.field,
            "problem": self.problem,
            "fix": self.fix,
        }
