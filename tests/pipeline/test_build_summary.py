"""Build summaries stay a handful of lines however many resources or problems there are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence_publisher import pipeline
from evidence_publisher.build_summary import LISTED_IN_FULL, counts_by_type, problem_kind, summarise_problems
from evidence_publisher.cli import main
from evidence_publisher.validate import ValidationFailedError

ROOT = Path(__file__).resolve().parents[2]


def _problems(n: int) -> list[str]:
    """Three systematic mistakes spread over ``n`` resources, as the validator words them."""
    lines = []
    for i in range(n):
        if i % 3 == 0:
            lines.append(
                f"Evidence/e{i} Evidence.statistic[{i % 7}].quantity.value: value '{i}x' is not a decimal"
            )
        elif i % 3 == 1:
            lines.append(f"Group/g{i} Group.member[0]: minimum required = 1, but only found 0")
        else:
            lines.append(
                f"Evidence/e{i} Evidence.relatesTo[0]: reference 'Citation/c{i}' resolves to no resource"
            )
    return lines


def test_many_problems_are_counted_by_kind_with_examples() -> None:
    lines = summarise_problems(_problems(80_000))
    assert len(lines) == 1 + 3 * 3  # a heading, and per kind: its count and two examples
    assert (
        lines[0] == "80000 problems of 3 kinds (Evidence 53333, Group 26667); counted by kind, with examples:"
    )
    assert [line for line in lines[1:] if not line.startswith("    e.g. ")] == [
        "26667 x Evidence.statistic[].quantity.value: value … is not a decimal",
        "26667 x Group.member[]: minimum required = 1, but only found 0",
        "26666 x Evidence.relatesTo[]: reference … resolves to no resource",
    ]
    assert all(re.match(r"    e\.g\. (Evidence|Group)/[eg]\d+ ", line) for line in lines if "e.g." in line)


def test_a_few_problems_are_listed_one_by_one() -> None:
    problems = _problems(LISTED_IN_FULL)
    assert summarise_problems(problems) == problems


def test_kinds_beyond_the_shown_ones_are_counted() -> None:
    problems = [f"Group/g{i} Group.x{i}: problem number {i}" for i in range(100)]
    lines = summarise_problems(problems)
    assert lines[-1] == "... and 70 more kinds (70 problems)"
    assert len(lines) == 1 + 30 * 2 + 1


def test_problem_kind_ignores_positions_and_quoted_values() -> None:
    assert problem_kind("Evidence/a Evidence.note[3].text: bad 'x'") == (
        "Evidence",
        "Evidence.note[].text: bad …",
    )


def test_counts_by_type() -> None:
    resources = [{"resourceType": t} for t in ["Group", "Evidence", "Group"]]
    assert counts_by_type(resources) == [("Evidence", 1), ("Group", 2)]


def test_a_failing_build_reports_problems_by_kind(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(pipeline, "dangling_references", lambda resources: _problems(len(resources) * 100))
    code = main(
        ["build", str(ROOT / "mappings" / "lupus-msc"), "--out", str(tmp_path / "d"), "--no-validate"]
    )
    err = capsys.readouterr().err
    assert code == ValidationFailedError.exit_code
    assert "15100 problems in the generated FHIR resources; nothing was written" in err
    assert len(err.splitlines()) <= 12, err
    assert not (tmp_path / "d").exists()


def test_the_summary_of_a_large_build_is_one_line_per_type(tmp_path: Path, monkeypatch, capsys) -> None:
    real = pipeline.build

    def many(*args: object, **kwargs: object) -> pipeline.BuildResult:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        result.resources = list(result.resources) * 600  # about 90,000 resources
        return result

    monkeypatch.setattr(pipeline, "build", many)
    code = main(
        ["build", str(ROOT / "mappings" / "lupus-msc"), "--out", str(tmp_path / "d"), "--no-validate"]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Built 90,600 resources") or lines[0].startswith("Built 90600 resources"), (
        lines[0]
    )
    assert len(lines) <= 12
    assert "  EvidenceVariable     49,200" in lines


@pytest.mark.parametrize("n", [0, 1])
def test_no_problem_no_summary(n: int) -> None:
    assert summarise_problems(_problems(n)) == _problems(n)
