"""Every broken mapping file gives its exact messages and locations, and nothing is written."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from evidence_publisher.cli import main
from evidence_publisher.jsonio import dumps
from evidence_publisher.output import build_marker
from evidence_publisher.sources import issues

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "broken" / "cases").glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


# Issue codes no single mapping file's content can cause; tests/robustness covers each
NOT_FROM_FILE_CONTENT = {
    "mapping-error": "the base class of the issues",
    "unreadable-file": "a link loop, a directory named *.yaml (robustness/test_input_files.py)",
    "encoding": "bytes that are not UTF-8 (robustness/test_input_files.py)",
    "input-limit": "a file over a size, depth or node limit (robustness/test_input_yaml_limits.py)",
    "corpus-missing": "no corpus file given (test_a_build_without_a_corpus_file_says_so)",
    "source-missing": "a registered document missing on disk (test_a_missing_source_document_is_named)",
    "more-problems": "more than 100 problems in one file (robustness/test_input_yaml_limits.py)",
}


def _generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.chdir(ROOT)  # make_cases.py reads its base file relative to the repository root
    spec = importlib.util.spec_from_file_location("make_cases", ROOT / "tests" / "broken" / "make_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cases_are_what_make_cases_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case is one fault put into the base file, as tests/broken/make_cases.py writes it."""
    generator = _generator(monkeypatch)
    assert sorted(c.stem for c in CASES) == sorted(generator.CASES)
    for case in CASES:
        old, new, text = generator.CASES[case.stem]
        body = "".join(ln for ln in case.read_text().splitlines(True) if not ln.startswith("# expect: "))
        assert body == text.replace(old, new, 1), f"{case.name}: run python tests/broken/make_cases.py"


def test_the_cases_cover_every_issue_a_mapping_file_can_cause() -> None:
    codes = {m[1] for case in CASES for m in re.finditer(r" \[([a-z-]+)\] \(fix: ", case.read_text())}
    every = {c.code for c in vars(issues).values() if isinstance(c, type) and issubclass(c, issues.Issue)}
    assert sorted(every - codes - set(NOT_FROM_FILE_CONTENT)) == []
    assert sorted(codes & set(NOT_FROM_FILE_CONTENT)) == []


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_mapping_is_reported_exactly(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "dist"
    rel = case.relative_to(ROOT)
    code = main(["build", "tests/broken/corpus.yaml", str(rel), "--out", str(out), "--no-validate"])
    err = capsys.readouterr().err
    expected = expected_lines(case)
    assert expected, f"{case.name} has no '# expect:' header"
    assert code in (10, 11), err
    reported = [line.strip() for line in err.splitlines()[1:]]
    assert reported == expected
    assert err.splitlines()[0].startswith(f"error: {len(expected)} problem")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_fidelity_only_problems_exit_11(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    case = "tests/broken/cases/number-not-in-quote.yaml"
    assert main(["build", "tests/broken/corpus.yaml", case, "--out", str(tmp_path / "o")]) == 11


def test_failed_build_keeps_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "dist"
    (out / "resources").mkdir(parents=True)
    (out / "resources" / "Evidence-old.json").write_text("previous build")
    (out / "build-report.json").write_text(dumps(build_marker()))
    code = main(["build", "tests/broken/corpus.yaml", "tests/broken/cases/bad-id.yaml", "--out", str(out)])
    assert code == 10
    assert (out / "resources" / "Evidence-old.json").read_text() == "previous build"


def test_broken_file_does_not_cascade_into_dangling_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A publication with a schema error is reported once; files that reference it are not
    additionally blamed for a 'dangling' reference."""
    monkeypatch.chdir(ROOT)
    corpus = tmp_path / "m"
    import shutil

    shutil.copytree(ROOT / "mappings" / "lupus-msc", corpus)
    (corpus / "corpus.yaml").write_text(
        (corpus / "corpus.yaml").read_text().replace("../../examples", str(ROOT / "examples"))
    )
    liang = corpus / "liang-2010.yaml"
    liang.write_text(liang.read_text().replace("label: Liang 2010", "label: Liang 2010\nbogus: 1", 1))
    code = main(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"])
    err = capsys.readouterr().err
    assert code == 10
    assert "unknown key 'bogus'" in err
    assert "dangling-reference" not in err
    assert err.splitlines()[0] == "error: 1 problem in the mapping files; nothing was written"


def test_missing_source_file_is_reported_once_at_the_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Mappings citing a registered source whose file is gone add no 'not in the register' noise."""
    monkeypatch.chdir(ROOT)
    corpus = (ROOT / "tests" / "broken" / "corpus.yaml").read_text()
    corpus = corpus.replace("sources_dir: ../../examples", f"sources_dir: {ROOT}/examples")
    corpus = corpus.replace("file: 004_c594548d5a0f7352.txt", "file: 004_gone.txt")
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "corpus.yaml").write_text(corpus)
    mapping = ROOT / "tests" / "broken" / "cases" / "bad-id.yaml"
    good = mapping.read_text().replace("id: Case_1", "id: case-1")
    assert good != mapping.read_text()
    (mappings / "m.yaml").write_text(good)
    code = main(
        ["build", str(mappings / "corpus.yaml"), str(mappings / "m.yaml"), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 10, err
    assert err.splitlines()[0].startswith("error: 1 problem"), err
    assert "004_gone.txt" in err and "does not exist" in err
    assert "not in the register" not in err


def test_a_build_without_a_corpus_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["build", "tests/broken/cases/bad-id.yaml", "--out", str(tmp_path / "o"), "--no-validate"])
    err = capsys.readouterr().err
    assert code == 10
    assert "no corpus file (kind: corpus) was given [corpus-missing]" in err
    assert "add corpus.yaml with base_url, version and the source register" in err


def test_a_missing_source_document_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    corpus = tmp_path / "corpus.yaml"
    text = (ROOT / "tests" / "broken" / "corpus.yaml").read_text()
    corpus.write_text(text.replace("../../examples/lupus-msc/sources", str(tmp_path / "empty")))
    (tmp_path / "empty").mkdir()
    code = main(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"])
    err = capsys.readouterr().err
    assert code == 10
    missing = str(tmp_path / "empty" / "004_c594548d5a0f7352.txt")
    assert f"source document {missing!r} does not exist [source-missing]" in err
