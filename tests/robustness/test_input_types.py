"""Wrong types in mapping files are type errors at file:line that say what YAML read, never a
silent conversion (``value: yes`` must not become 1), and impossible dates are called impossible."""

from __future__ import annotations

from pathlib import Path

import pytest

from .input_helpers import assert_clean_failure, copy_corpus, edit, run


def line_of(path: Path, text: str) -> int:
    return path.read_text().split(text)[0].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "message", "fix"),
    [
        (
            "    value: 3.2\n",
            "    value: yes\n",
            "results[1].value: a number is required, but YAML read `yes` as a boolean [wrong-type]",
            "write the number (yes/no, true/false and on/off are booleans in YAML)",
        ),
        (
            "    value: 3.2\n",
            "    value: off\n",
            "results[1].value: a number is required, but YAML read `off` as a boolean",
            "write the number",
        ),
        (
            "    participants: 12\n    dispersion: {kind: unspecified, value: 2.8}",
            "    participants: true\n    dispersion: {kind: unspecified, value: 2.8}",
            "results[1].participants: a whole number is required, but YAML read `true` as a boolean",
            "write the number",
        ),
        (
            "    value: 3.2\n",
            '    value: "3.2"\n',
            "results[1].value: a number is required, got the text '3.2'",
            "remove the quotes: 3.2",
        ),
        (
            "    count: 15\n",
            "    count: 015\n",
            "study.population.count: a whole number is required, got `015`, which YAML 1.1 reads as a number "
            "in another base",
            "write the number in plain decimal digits",
        ),
        (
            "    participants: 12\n    dispersion: {kind: unspecified, value: 2.8}",
            "    participants: 12.0\n    dispersion: {kind: unspecified, value: 2.8}",
            "results[1].participants: a whole number is required, but YAML read `12.0` as a number",
            "write a whole number here",
        ),
        (
            "  volume: ",
            "  volume: 69\n  issue_was: ",
            "citation.volume: text is required, but YAML read `69` as a number",
            'quote it to keep it as text: "69"',
        ),
    ],
)
def test_wrong_type_is_named_at_file_line(tmp_path: Path, capsys, old: str, new: str, message: str, fix: str):
    corpus = copy_corpus(tmp_path / "m")
    liang = corpus / "liang-2010.yaml"
    edit(liang, old, new)
    if "issue_was" in new:
        edit(liang, "  issue_was: ", "  # ")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 10)
    assert message in err
    assert fix in err
    assert f"liang-2010.yaml:{line_of(liang, new.strip().split(chr(10))[0])}:" in err
    assert "does not occur in the quote" not in err


@pytest.mark.parametrize(
    ("date", "problem"),
    [
        ("2026-13-45", "'2026-13-45' is not a real date: month 13 does not exist"),
        ("2026-00", "'2026-00' is not a real date: month 0 does not exist"),
        ("2026-04-31", "'2026-04-31' is not a real date: April 2026 has 30 days"),
        ("2024-02-29", None),
        ("2026-1-5", "'2026-1-5' does not have the required form"),
    ],
)
def test_impossible_dates_are_called_impossible(tmp_path: Path, capsys, date: str, problem: str | None):
    corpus = copy_corpus(tmp_path / "m")
    edit(corpus / "liang-2010.yaml", 'date: "2026-11-22"', f"date: {date}")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    if problem is None:
        assert code == 0, err
        return
    assert_clean_failure(code, err, 10)
    assert f"liang-2010.yaml:7:1: date: {problem}" in err
