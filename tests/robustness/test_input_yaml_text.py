"""Mapping text that YAML or Python would mishandle is reported at file:line with a fix.

Encodings, control characters, several documents, aliases and tags, keys, and scalars that
YAML 1.1 would silently turn into another type.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from evidence_publisher.sources.yamlload import parse_located

from .input_helpers import assert_clean_failure, copy_corpus, edit, run


def build(corpus: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert not (tmp_path / "o").exists()
    return code, err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_corpus(tmp_path / "m")


def test_latin1_byte_is_located(corpus: Path, tmp_path: Path, capsys) -> None:
    liang = corpus / "liang-2010.yaml"
    data = liang.read_bytes().replace(b"label: Liang 2010", "label: Liang 2010 é".encode("latin-1"), 1)
    liang.write_bytes(data)
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    line = data[: data.index(b"\xe9")].count(b"\n") + 1
    assert f"liang-2010.yaml:{line}:19: byte 0xE9 is not valid UTF-8" in err
    assert "[encoding]" in err and "save the file as UTF-8" in err


def test_utf16_file_is_named(corpus: Path, tmp_path: Path, capsys) -> None:
    eular = corpus / "eular-2023.yaml"
    eular.write_bytes(eular.read_text().encode("utf-16"))
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "eular-2023.yaml:1:1: the mapping file is UTF-16 encoded; only UTF-8 is read" in err


@pytest.mark.parametrize(
    ("char", "shown"), [("\x00", "U+0000 (NUL)"), ("\x1b", "U+001B (ESC)"), ("\x85", "U+0085 (NEL)")]
)
def test_raw_control_character_is_located(corpus: Path, tmp_path: Path, capsys, char: str, shown: str):
    liang = corpus / "liang-2010.yaml"
    edit(liang, "label: Liang 2010", f"label: Liang{char} 2010")
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    line = liang.read_text().split(char)[0].count("\n") + 1
    assert f"liang-2010.yaml:{line}:13: control character {shown} is not allowed" in err
    assert "XHTML" not in err and "xhtml" not in err


def test_escaped_control_character_in_a_quoted_string(corpus: Path, tmp_path: Path, capsys) -> None:
    liang = corpus / "liang-2010.yaml"
    edit(liang, "label: Liang 2010", 'label: "Liang\\x07 2010"')
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "label: this string writes control character U+0007 (BEL) with an escape" in err
    assert err.count("[control-character]") == 1


def test_escaped_lone_surrogate_is_refused(corpus: Path, tmp_path: Path, capsys) -> None:
    liang = corpus / "liang-2010.yaml"
    edit(liang, "label: Liang 2010", 'label: "Liang\\ud800 2010"')
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "liang-2010.yaml:" in err


def test_many_control_characters_are_summarised(corpus: Path, tmp_path: Path, capsys) -> None:
    (corpus / "junk.yaml").write_text("a: " + "\x01" * 50 + "\n")
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert err.count("junk.yaml:1:") == 11
    assert "and 40 more control characters from here on" in err


def test_second_document_is_an_error(corpus: Path, tmp_path: Path, capsys) -> None:
    eular = corpus / "eular-2023.yaml"
    eular.write_text(eular.read_text() + "---\nkind: publication\n")
    code, err = build(corpus, tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "a second YAML document starts here; a mapping file holds one document" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: *nowhere\n", "alias *nowhere refers to no anchor &nowhere written before it"),
        ("a: &x [1, *x]\n", "alias *x refers to the collection that contains it"),
    ],
)
def test_bad_aliases(text: str, message: str) -> None:
    doc, issues = parse_located(text, "f.yaml")
    assert doc is None
    assert [i.code for i in issues] == ["yaml-syntax"]
    assert message in issues[0].problem


def test_aliases_share_values_and_count_nodes() -> None:
    doc, issues = parse_located("a: &x {b: [1, 2]}\nc: *x\n", "f.yaml")
    assert issues == []
    assert doc is not None and doc.data == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}}
    assert doc.data["a"] is doc.data["c"]
    assert doc.locate(("c", "b", 0)).line == 2  # inside an alias: where the alias is written


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<<: {a: 1}\n", "YAML merge keys (<<) are not supported"),
        ("a: !!binary aGk=\n", "the YAML tag !!binary is not supported"),
        ("a: !custom x\n", "the YAML tag !custom is not supported"),
        ("a: !!set {x: null}\n", "the YAML tag !!set is not supported"),
        ("? [a, b]\n: 1\n", "a key must be plain text"),
    ],
)
def test_unsupported_yaml_features(text: str, problem: str) -> None:
    _doc, issues = parse_located(text, "f.yaml")
    assert [i.problem for i in issues if problem in i.problem], issues


def test_scalars_keep_the_text_yaml_would_guess_at() -> None:
    text = (
        "octal: 012\nhex: 0x1A\nsexagesimal: 1:30\ndate: 2026-13-45\ninf: .inf\n"
        "dec: 858.0\nint: 1_000\nyes: yes\nnull: ~\nquoted: '12'\n"
    )
    doc, issues = parse_located(text, "f.yaml")
    assert issues == [] and doc is not None
    assert doc.data == {
        "octal": "012",
        "hex": "0x1A",
        "sexagesimal": "1:30",
        "date": "2026-13-45",
        "inf": ".inf",
        "dec": Decimal("858.0"),
        "int": 1000,
        "yes": True,  # keys are text as written
        "null": None,
        "quoted": "12",
    }
    assert str(doc.data["dec"]) == "858.0"
    assert doc.raw[("yes",)] == "yes" and doc.raw[("null",)] == "~" and doc.raw[("int",)] == "1_000"


def test_duplicate_keys_are_reported_once_each() -> None:
    _doc, issues = parse_located("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(i.code, i.location.line, i.field) for i in issues] == [("duplicate-key", 3, "a")]


def test_pure_python_parser_gives_the_same_document(monkeypatch) -> None:
    """Without libyaml the loader falls back to PyYAML's own parser, with the same result."""
    from evidence_publisher.sources import yamlload

    text = (Path(__file__).resolve().parents[2] / "mappings" / "lupus-msc" / "liang-2010.yaml").read_text()
    fast, fast_issues = parse_located(text, "f.yaml")
    monkeypatch.setattr(yamlload, "_Loader", yaml.SafeLoader)
    slow, slow_issues = parse_located(text, "f.yaml")
    assert fast is not None and slow is not None and fast_issues == slow_issues == []
    assert slow.data == fast.data and slow.locations == fast.locations and slow.raw == fast.raw
