"""``new corpus``: a corpus directory that ``import`` and ``build`` accept, never over another one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evidence_publisher.cli import main
from evidence_publisher.sources.model import Corpus

SAMPLES = Path(__file__).resolve().parent / "samples"
URL = "https://guidelines.example.org/fhir"


def new_corpus(corpus: Path, *extra: str) -> int:
    return main(["new", "corpus", "my-guideline", "--corpus", str(corpus), "--base-url", URL, *extra])


def test_a_new_corpus_takes_an_import_and_builds_once_its_placeholders_are_filled(
    tmp_path: Path, capsys
) -> None:
    corpus = tmp_path / "mappings"
    assert new_corpus(corpus, "--date", "2026-12-01") == 0
    data = yaml.safe_load((corpus / "corpus.yaml").read_text())
    model = Corpus.model_validate(data)
    assert (model.id, model.base_url, model.date, model.version, model.status) == (
        "my-guideline",
        URL,
        "2026-12-01",
        "0.1.0",
        "draft",
    )
    assert "sources" not in data  # import starts the register
    assert json.loads((corpus / ".schemas/corpus.schema.json").read_text())["properties"]["kind"]
    assert (
        (corpus / "corpus.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=.schemas/corpus.schema.json\n")
    )
    assert main(["import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)]) == 0
    capsys.readouterr()
    # the placeholders are refused until the curator fills them in
    assert main(["build", str(corpus), "--out", str(tmp_path / "dist"), "--no-validate"]) == 10
    err = capsys.readouterr().err
    assert "corpus.yaml:" in err and "title" in err and "publisher" in err and "[placeholder]" in err
    text = (corpus / "corpus.yaml").read_text()
    text = text.replace("'TODO: the corpus title'", "My guideline").replace(
        "'TODO: who publishes it (a guideline group)'", "A guideline group"
    )
    (corpus / "corpus.yaml").write_text(text)
    assert main(["build", str(corpus), "--out", str(tmp_path / "dist")]) == 0
    citation = json.loads((tmp_path / "dist/resources/Citation-liang-2010.json").read_text())
    assert citation["url"].startswith(URL + "/")


def test_given_title_and_publisher_leave_no_placeholder(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c"
    assert new_corpus(corpus, "--title", "T", "--publisher", "P", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["todo"] == [] and doc["file"] == str(corpus / "corpus.yaml")
    assert "TODO" not in (corpus / "corpus.yaml").read_text()


def test_never_over_an_existing_corpus(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "corpus.yaml").write_text("mine\n")
    assert new_corpus(corpus) == 13
    assert "already holds mapping files" in capsys.readouterr().err
    assert (corpus / "corpus.yaml").read_text() == "mine\n"
    assert not (corpus / ".schemas").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--base-url", "not a url"], "--base-url"),
        (["--base-url", URL, "--corpus-version", "1 0"], "--version"),
    ],
)
def test_bad_values_name_the_option_and_write_nothing(tmp_path: Path, capsys, args, says) -> None:
    corpus = tmp_path / "c"
    assert main(["new", "corpus", "x", "--corpus", str(corpus), *args]) == 2
    assert says in capsys.readouterr().err
    assert not corpus.exists()


def test_base_url_is_required_and_from_does_not_apply(tmp_path: Path, capsys) -> None:
    assert main(["new", "corpus", "x", "--corpus", str(tmp_path / "c")]) == 2
    assert "--base-url" in capsys.readouterr().err
    assert (
        main(["new", "corpus", "x", "--corpus", str(tmp_path / "c"), "--base-url", URL, "--from", "y"]) == 2
    )
    assert main(["new", "study", "s"]) == 2
    assert "needs --from" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
