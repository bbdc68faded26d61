"""The root cause first: problems that follow from a file that could not be read or validated are
folded under that file's error, never listed as errors of their own (and never before it)."""

from __future__ import annotations

from pathlib import Path

from evidence_publisher.sources import MappingError, load_corpus

from .input_helpers import copy_corpus, edit, run


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines()[1:] if not line.startswith("    consequence: ")]


def test_yaml_syntax_error_is_first_and_references_are_folded(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    edit(corpus / "liang-2010.yaml", "label: Liang 2010", "label: Liang: 2010")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert code == 10, err
    assert err.splitlines()[0] == "error: 1 problem in the mapping files; nothing was written"
    lines = _error_lines(err)
    assert len(lines) == 1 and "liang-2010.yaml:9:13: YAML syntax error" in lines[0]
    consequences = [line for line in err.splitlines() if line.startswith("    consequence: ")]
    assert len(consequences) == 7
    assert "dangling-reference" not in err
    rec = (corpus / "rec-stem-cell-refractory-lupus.yaml").read_text()
    line = rec.split("  - liang-2010/sledai-12m\n")[0].count("\n") + 1
    assert any(
        f"rec-stem-cell-refractory-lupus.yaml:{line}:5: evidence[0]: 'liang-2010/sledai-12m' is not checked "
        "until this file loads" in c
        for c in consequences
    )


def test_schema_error_folds_references_too(tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "m")
    edit(corpus / "liang-2010.yaml", "label: Liang 2010", "label: Liang 2010\nbogus: 1")
    try:
        load_corpus([corpus])
    except MappingError as exc:
        issues = exc.issues
    assert [i.code for i in issues] == ["unknown-key"]
    assert len(issues[0].consequences) == 7
    assert issues[0].as_dict()["consequences"] == list(issues[0].consequences)


def test_unreadable_file_comes_before_other_problems(tmp_path: Path) -> None:
    """Sorted by file name the syntax error would come after aaa.yaml's; it is listed first."""
    corpus = copy_corpus(tmp_path / "m")
    edit(corpus / "liang-2010.yaml", "label: Liang 2010", "label: Liang: 2010")
    (corpus / "aaa.yaml").write_text("kind: publication\nid: aaa\n")
    try:
        load_corpus([corpus])
    except MappingError as exc:
        codes = [i.code for i in exc.issues]
    assert codes[0] == "yaml-syntax"
    assert "missing-field" in codes[1:]


def test_file_with_no_readable_id_is_matched_by_its_name(tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "m")
    liang = corpus / "liang-2010.yaml"
    liang.write_bytes(b"\xff" + liang.read_bytes())  # not UTF-8: nothing in it can be read
    try:
        load_corpus([corpus])
    except MappingError as exc:
        issues = exc.issues
    assert [i.code for i in issues] == ["encoding"]
    assert len(issues[0].consequences) == 7
