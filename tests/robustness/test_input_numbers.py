"""Numbers compare by their decimal text as written: 3.20 is not 3.2, 858.0 is not 858.

The rule (docs/mapping-format.md): sign, digits and exponent must be equal; thousands commas in a
quote are dropped; a power of ten ("3.0 × 10^6") gives the mantissa and the whole number;
numbers up to twenty may be written as words.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher.sources.quotes import number_occurs, written_differently

from .input_helpers import assert_clean_failure, copy_corpus, edit, run

D = Decimal


@pytest.mark.parametrize(
    ("value", "quote", "occurs"),
    [
        (D("3.2"), "from 12.2 +/- 3.3 to 3.2 +/- 2.8", True),
        (D("3.20"), "to 3.2 +/- 2.8", False),
        (D("3.2"), "to 3.20 mg", False),
        (D("858.0"), "to 858.0 +/- 800.7 mg/24 h", True),
        (858, "to 858.0 +/- 800.7 mg/24 h", False),
        (D("858.0"), "to 858 mg", False),
        (2538, "from 2,538 mg to 1,430 mg", True),
        (1430, "from 2,538 mg to 1,430 mg", True),
        (538, "from 2,538 mg", False),
        (D("2538.0"), "from 2,538 mg", False),
        (1234567, "1,234,567 cells", True),
        (8, "eight no longer had these symptoms", True),
        (0, "with no dose-limiting toxicity", True),
        (D("3.0"), "determined to be 3.0×106 cells/kg", True),
        (106, "determined to be 3.0×106 cells/kg", True),  # the lost superscript stays literal
        (D("3.0"), "3.0 × 10^6 cells/kg", True),
        (D("3.0E+6"), "3.0 × 10^6 cells/kg", True),
        (3000000, "3.0 × 10^6 cells/kg", False),
        (6, "3.0 × 10^6 cells/kg", False),
        (D("2E-3"), "2x10⁻³", True),
        (D("1.5E-3"), "1.5e-3", True),
        (D("-9.0"), "changed by -9.0 points", True),
        (D("-1.5"), "a change of (−1.5)", True),
        (D("9.0"), "changed by -9.0 points", False),
        (15, "aged 12-15 years", True),
        (D("-15"), "aged 12-15 years", False),
        (2008, "from 2007-2008", True),
        (D("2.8"), "3.2 +/-2.8", True),
        (12, "SLEDAI 12.2", False),
    ],
)
def test_number_occurs_by_decimal_text(value, quote: str, occurs: bool) -> None:
    assert number_occurs(value, quote) is occurs


def test_written_differently_names_the_source_text() -> None:
    assert written_differently(D("3.20"), "to 3.2 +/- 2.8") == "3.2"
    assert written_differently(858, "to 858.0 mg") == "858.0"
    assert written_differently(D("3.4"), "to 3.2") is None


def build(corpus: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    return code, err


def test_trailing_zero_is_a_fidelity_error(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    liang = corpus / "liang-2010.yaml"
    edit(liang, "    value: 3.2\n", "    value: 3.20\n")
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 11)
    line = liang.read_text().split("    value: 3.20\n")[0].count("\n") + 1
    assert (
        f"liang-2010.yaml:{line}:5: results[1].value: value 3.20 is written '3.2' in the quote (other digits)"
        in err
    )
    assert "(fix: write the number exactly as the source does: 3.2)" in err
    assert not (tmp_path / "o").exists()


def test_dropped_decimal_is_a_fidelity_error(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    edit(corpus / "liang-2010.yaml", "    value: 858.0\n", "    value: 858\n")
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 11)
    assert "value 858 is written '858.0' in the quote" in err


def test_thousands_separators_in_quotes_match(tmp_path: Path, capsys) -> None:
    """The corpus relies on '2,538 mg' stating the value 2538."""
    corpus = copy_corpus(tmp_path / "m")
    assert "2,538 mg" in (corpus / "liang-2010.yaml").read_text()
    code, err = build(corpus, tmp_path, capsys)
    assert code == 0, err
