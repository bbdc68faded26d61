"""Mapping directories and source documents that cannot be read give a clear error, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .input_helpers import assert_clean_failure, copy_corpus, run


def build(args: list[str], tmp_path: Path, capsys) -> tuple[int, str]:
    code, _out, err = run(["build", *args, "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert not (tmp_path / "o").exists()
    return code, err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_corpus(tmp_path / "m")


def test_self_symlink_in_the_mapping_directory(corpus: Path, tmp_path: Path, capsys) -> None:
    os.symlink("self.yaml", corpus / "self.yaml")
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "self.yaml: the mapping file is a symbolic link that loops" in err
    assert "[unreadable-file]" in err


def test_symlink_loop_between_two_files(corpus: Path, tmp_path: Path, capsys) -> None:
    os.symlink("b.yaml", corpus / "a.yaml")
    os.symlink("a.yaml", corpus / "b.yaml")
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "a.yaml: the mapping file is a symbolic link that loops" in err
    assert "b.yaml: the mapping file is a symbolic link that loops" in err


def test_dangling_symlink(corpus: Path, tmp_path: Path, capsys) -> None:
    os.symlink("gone.yaml", corpus / "dangling.yaml")
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "dangling.yaml: the mapping file is a symbolic link to 'gone.yaml', which does not exist" in err


def test_symlink_loop_given_as_the_argument(tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop.yaml"
    os.symlink("loop.yaml", loop)
    code, err = build([str(loop)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "loop.yaml: the mapping file is a symbolic link that loops" in err


def test_directory_named_like_a_mapping(corpus: Path, tmp_path: Path, capsys) -> None:
    (corpus / "folder.yaml").mkdir()
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "folder.yaml: the mapping file is a directory" in err


def test_fifo_is_not_read(corpus: Path, tmp_path: Path, capsys) -> None:
    os.mkfifo(corpus / "pipe.yaml")  # opening it would block forever
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert "pipe.yaml: the mapping file is not a regular file" in err


def _own_sources(corpus: Path, tmp_path: Path) -> list[Path]:
    """Copy the source documents beside the test corpus and point corpus.yaml at the copy."""
    src_root = Path(__file__).resolve().parents[2] / "examples" / "lupus-msc" / "sources"
    sources = tmp_path / "sources"
    sources.mkdir()
    for f in src_root.iterdir():
        (sources / f.name).write_bytes(f.read_bytes())
    corpus_file = corpus / "corpus.yaml"
    corpus_file.write_text(corpus_file.read_text().replace(str(src_root), str(sources)))
    return sorted(sources.iterdir())


def test_latin1_source_document(corpus: Path, tmp_path: Path, capsys) -> None:
    target = _own_sources(corpus, tmp_path)[0]
    target.write_bytes(target.read_bytes() + "caf\xe9\n".encode("latin-1"))
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert f"{target.name}:" in err and "is not valid UTF-8 (the source document seems to be saved as" in err


def test_source_document_symlink_loop(corpus: Path, tmp_path: Path, capsys) -> None:
    target = _own_sources(corpus, tmp_path)[0]
    target.unlink()
    os.symlink(target.name, target)
    code, err = build([str(corpus)], tmp_path, capsys)
    assert_clean_failure(code, err, 10)
    assert f"{target.name}: the source document is a symbolic link that loops" in err
