"""`import`: each format's samples become citation mappings holding only what the record holds;
malformed records give clear errors; nothing is written unless everything can be."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evidence_publisher.cli import main
from evidence_publisher.jsonio import loads

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
MALFORMED = SAMPLES / "malformed"
ROOT = HERE.parents[1]
# the abstract of seed 004, which every Liang 2010 sample carries verbatim
LIANG_ABSTRACT = (ROOT / "examples/lupus-msc/sources/004_c594548d5a0f7352.txt").read_text().splitlines()[33]
LIANG_DOI = [{"type": "doi", "value": "10.1136/ard.2009.123463"}]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(HERE / "corpus", target)
    return target


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def run(*argv: str) -> int:
    return main(list(argv))


def mapping(corpus: Path, ident: str) -> dict:
    return yaml.safe_load((corpus / f"{ident}.yaml").read_text())


@pytest.mark.parametrize(
    "sample", ["pubmed.xml", "liang-gu.ris", "liang.bib", "liang.csl.json"], ids=lambda s: s.split(".")[-1]
)
def test_liang_2010_reads_the_same_in_every_format(sample: str, corpus: Path) -> None:
    assert run("import", str(SAMPLES / sample), "--corpus", str(corpus)) == 0
    cit = mapping(corpus, "liang-2010")["citation"]
    assert cit["title"].startswith("Allogenic mesenchymal stem cells transplantation")
    assert cit["journal"]["title"] == "Annals of the Rheumatic Diseases"
    assert (cit["year"], cit["month"], cit["volume"], cit["issue"]) == (2010, "Aug", "69", "8")
    assert cit["identifiers"] == LIANG_DOI  # no PMID: none of the samples holds one
    assert [a["name"].split()[-1] for a in cit["authors"]][:3] == ["Liang", "Zhang", "Hua"]
    assert len(cit["authors"]) == 10
    assert cit["abstract"] == LIANG_ABSTRACT
    abstract_file = corpus / "sources" / "liang-2010-abstract.txt"
    assert abstract_file.read_bytes() == LIANG_ABSTRACT.encode("utf-8")  # byte for byte
    register = yaml.safe_load((corpus / "corpus.yaml").read_text())["sources"]
    assert register[0]["id"] == "liang-2010-abstract"
    assert register[0]["imported_from"]["file"] == sample


def test_pubmed_fields_reach_the_mapping(corpus: Path) -> None:
    assert run("import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)) == 0
    cit = mapping(corpus, "example-2021")["citation"]
    assert cit["identifiers"] == [
        {"type": "pmid", "value": "90000001"},
        {"type": "pmcid", "value": "PMC9000001"},
        {"type": "doi", "value": "10.5555/example-a.2021"},
    ]
    assert cit["journal"]["issn"] == [
        {"value": "2049-3630", "type": "electronic"},
        {"value": "2049-3630", "type": "linking"},
    ]
    assert (cit["year"], cit["month"], cit["day"], cit["published_date"]) == (2021, "Mar", 15, "2021-02-01")
    assert cit["pages"] == "100-110"
    assert cit["authors"][0] == {
        "name": "Ann Example",
        "affiliation": [
            "Department of Examples, Example University, Exampletown.",
            "Institute of Samples, Sampleville.",
        ],
    }
    assert cit["authors"][1:] == [{"name": "Bo Sample Jr"}, {"name": "Example Trial Group"}]
    assert cit["funding"] == [
        {"funder": "Example Research Council", "grants": ["EX-0001"]},
        {"funder": "Sample Foundation"},  # no GrantID: none is made up
    ]
    assert cit["errata"] == [
        {"citation": "J Ex. 2021 Jun;12(6):200", "identifiers": [{"type": "pmid", "value": "90000002"}]}
    ]
    assert cit["retractions"] == [
        {"citation": "J Ex. 2022 Jan;13(1):1", "identifiers": [{"type": "pmid", "value": "90000003"}]}
    ]
    assert cit["keywords"] == ["example disease", "placebo"]
    assert cit["mesh_headings"][1] == {
        "descriptor": "Lupus Erythematosus, Systemic",
        "code": "D008180",
        "qualifiers": [{"name": "therapy", "code": "Q000628", "major_topic": True}],
    }
    # labelled sections as PubMed writes them; a superscript keeps its ^ (10^6, never 106)
    assert cit["abstract"] == (
        "BACKGROUND: Example disease affects 10^6 example patients.\n\n"
        "METHODS: We randomised 40 participants to placebo or nothing.\n\n"
        "RESULTS: Scores fell from 12.2 to 3.2 (p < 0.05) & nobody was harmed."
    )
    text = (corpus / "example-2021.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=.schemas/publication.schema.json\n")
    assert "# PubMed XML: MedlineCitation/Article/ArticleTitle\n" in text
    assert "Not imported (no home in the mapping format): CommentsCorrections CommentIn" in text
    assert (corpus / ".schemas" / "publication.schema.json").is_file()


def test_ris_bibtex_csl_and_crossref_specifics(corpus: Path) -> None:
    files = ["liang-gu.ris", "liang.bib", "liang.csl.json", "example.crossref.json"]
    for name in files:  # one corpus each would be slower; Liang is taken from RIS only
        target = corpus.parent / name.replace(".", "-")
        shutil.copytree(corpus, target)
        assert run("import", str(SAMPLES / name), "--corpus", str(target)) == 0
    ris = mapping(corpus.parent / "liang-gu-ris", "example-2022")["citation"]
    assert ris["journal"] == {
        "title": "Journal of Examples",
        "abbreviation": "J Ex",
        "issn": [{"value": "2049-3630"}],
    }
    assert (ris["year"], ris["month"], ris["day"], ris["pages"]) == (2022, "May", 9, "20-29")
    assert "affiliation" not in ris["authors"][0]  # RIS AD is not tied to an author: not guessed
    bib = mapping(corpus.parent / "liang-bib", "muller-2023")["citation"]
    assert bib["title"] == "Example C: a synthetic series with ümlauts and 10% of cases"
    assert [a["name"] for a in bib["authors"]] == ["Anna Müller", "Example Study Group"]
    assert bib["identifiers"] == [
        {"type": "doi", "value": "10.5555/example-c.2023"},
        {"type": "pmid", "value": "90000004"},
    ]
    assert bib["abstract"] == (
        "SYNTHETIC record for tests. In 12 example patients the score fell by 2.5 points (p < 0.05).\n\n"
        "A second paragraph."
    )
    assert (bib["year"], bib["month"], bib["day"], bib["pages"]) == (2023, "Jul", 14, "5-9")
    csl = mapping(corpus.parent / "liang-csl-json", "van-example-2024")["citation"]
    assert [a["name"] for a in csl["authors"]] == ["Dora van Example", "Example Consortium"]
    assert csl["identifiers"][1:] == [
        {"type": "pmid", "value": "90000005"},
        {"type": "pmcid", "value": "PMC9000005"},
    ]
    assert csl["keywords"] == ["synthetic", "example"]
    xref = mapping(corpus.parent / "example-crossref-json", "example-2025")["citation"]
    assert xref["abstract"] == (
        "Background: SYNTHETIC record for tests: 10^6 cells/kg were given.\n\n"
        "Results: The score fell from 12.2 to 3.2 (p < 0.05)."
    )
    assert (xref["year"], xref["month"], xref["published_date"]) == (2025, "Mar", "2025-01-10")
    assert xref["funding"] == [{"funder": "Example Research Council", "grants": ["EX-0002", "EX-0003"]}]
    assert xref["retractions"] == [
        {
            "citation": "Retraction: 10.5555/example-e-retraction",
            "identifiers": [{"type": "doi", "value": "10.5555/example-e-retraction"}],
        }
    ]
    assert xref["authors"][0] == {"name": "Eve Example", "affiliation": "Example University"}


MALFORMED_CASES = {
    "truncated.xml": ["truncated.xml:record 1, line 30: not well-formed XML at column 894: no element found"],
    "entity-bomb.xml": [
        "entity-bomb.xml: the XML declares entities or external references (EntitiesForbidden)"
    ],
    "book-and-no-abstract.xml": [
        "book-and-no-abstract.xml:record 1, line 5: a <PubmedBookArticle> (a book or book chapter) cannot be "
        "imported",
        "book-and-no-abstract.xml:record 2 (PMID 90000011), line 8: MedlineCitation/Article/Journal/"
        "JournalIssue/PubDate/Year: year '20x1' is not a four-digit year",
        "book-and-no-abstract.xml:record 2 (PMID 90000011), line 8: abstract: the record has no abstract",
    ],
    "gu-no-abstract-and-unterminated.ris": [
        "gu-no-abstract-and-unterminated.ris:record 1 (DOI 10.1007/s10067-014-2754-4), line 1: abstract: the "
        "record has no abstract",
        "gu-no-abstract-and-unterminated.ris:record 2, line 23: TY: record type 'BOOK' cannot be imported",
        "gu-no-abstract-and-unterminated.ris:record 3, line 28: ER: the record has no end line 'ER  - '",
    ],
    "unbalanced.bib": [
        "unbalanced.bib:record 1, line 2: this entry cannot be read: Unexpected block start: `@book`. "
        "Was still looking for field-value closing `}`",
        "unbalanced.bib:record 2 (@book{examplej2020}), line 8: entry type @book cannot be imported",
    ],
    "duplicate-key.csl.json": ["duplicate-key.csl.json: [0].title: a JSON object names the same key twice"],
    "cut.csl.json": ["cut.csl.json, line 3: not valid JSON at column 1: Expecting ',' delimiter or '}'"],
    "bad-jats.crossref.json": [
        "bad-jats.crossref.json:record 1 (DOI 10.5555/example-m): abstract: the abstract is not "
        "well-formed JATS XML"
    ],
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CASES))
def test_malformed_records_are_named_with_a_fix(
    name: str, corpus: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(MALFORMED)
    before = snapshot(corpus)
    assert run("import", name, "--corpus", str(corpus)) == 15
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()[1:]]
    assert len(lines) == len(MALFORMED_CASES[name]), err
    for line, expected in zip(lines, MALFORMED_CASES[name], strict=True):
        assert line.startswith(expected), err
        assert "(fix: " in line
    assert snapshot(corpus) == before


def test_one_bad_record_stops_the_whole_import(corpus: Path, tmp_path: Path) -> None:
    good = SAMPLES / "pubmed.xml"
    before = snapshot(corpus)
    assert (
        run("import", str(good), str(MALFORMED / "book-and-no-abstract.xml"), "--corpus", str(corpus)) == 15
    )
    assert snapshot(corpus) == before


def test_json_failure_lists_the_record_issues(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        run("import", str(MALFORMED / "bad-jats.crossref.json"), "--corpus", str(corpus), "--format", "json")
        == 15
    )
    doc = loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["exit_code"] == 15
    assert doc["issues"][0]["record"] == 1 and doc["issues"][0]["field"] == "abstract"


def test_limits_apply_to_import_files(corpus: Path, tmp_path: Path) -> None:
    assert (
        run("--max-input-bytes", "1000", "import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)) == 14
    )
    deep = tmp_path / "deep.csl.json"
    deep.write_text("[" * 150 + "]" * 150)
    assert run("import", str(deep), "--corpus", str(corpus)) == 14
    deep_xml = tmp_path / "deep.xml"
    deep_xml.write_text("<PubmedArticleSet>" + "<a>" * 150 + "</a>" * 150 + "</PubmedArticleSet>")
    assert run("import", str(deep_xml), "--corpus", str(corpus)) == 14


def test_a_control_character_in_a_record_is_refused(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bell.ris"
    bad.write_text(
        (SAMPLES / "liang-gu.ris").read_text().replace("a pilot clinical study", "a pilot\x07study")
    )
    assert run("import", str(bad), "--corpus", str(corpus)) == 15
    assert "title: control character U+0007" in capsys.readouterr().err


def test_the_same_publication_twice_in_one_import_is_an_error(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        run("import", str(SAMPLES / "pubmed.xml"), str(SAMPLES / "liang.bib"), "--corpus", str(corpus)) == 15
    )
    assert "the same publication as" in capsys.readouterr().err


def test_importing_again_never_overwrites_without_force(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    sample = str(SAMPLES / "pubmed.xml")
    assert run("import", sample, "--corpus", str(corpus)) == 0
    (corpus / "liang-2010.yaml").write_text((corpus / "liang-2010.yaml").read_text() + "# curator's note\n")
    before = snapshot(corpus)
    capsys.readouterr()
    assert run("import", sample, "--corpus", str(corpus)) == 13
    assert "already imported as" in capsys.readouterr().err
    assert snapshot(corpus) == before
    assert run("import", sample, "--corpus", str(corpus), "--force") == 0
    assert "# curator's note" not in (corpus / "liang-2010.yaml").read_text()
    register = yaml.safe_load((corpus / "corpus.yaml").read_text())["sources"]
    assert [s["id"] for s in register] == ["liang-2010-abstract", "example-2021-abstract"]  # not doubled


def test_another_publication_with_the_same_id_gets_the_next_one(corpus: Path) -> None:
    assert run("import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)) == 0
    other = corpus.parent / "other.ris"
    text = (SAMPLES / "liang-gu.ris").read_text().split("ER  - ")[0] + "ER  - \n"
    other.write_text(
        text.replace("10.1136/ard.2009.123463", "10.5555/other").replace("pilot clinical study", "sequel")
    )
    before = (corpus / "liang-2010.yaml").read_bytes()
    assert run("import", str(other), "--corpus", str(corpus)) == 0
    assert (corpus / "liang-2010.yaml").read_bytes() == before
    assert mapping(corpus, "liang-2010b")["citation"]["identifiers"] == [
        {"type": "doi", "value": "10.5555/other"}
    ]


def test_dry_run_writes_nothing(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(corpus)
    assert (
        run("import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus), "--dry-run", "--format", "json")
        == 0
    )
    doc = loads(capsys.readouterr().out)
    assert [r["id"] for r in doc["imported"]] == ["liang-2010", "example-2021"]
    assert snapshot(corpus) == before


def test_register_keeps_comments_and_order(tmp_path: Path) -> None:
    seed = tmp_path / "lupus"
    shutil.copytree(ROOT / "mappings" / "lupus-msc", seed)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    seed_dir = seed.parent.parent / "examples"  # sources_dir is ../../examples/lupus-msc/sources
    shutil.copytree(ROOT / "examples", seed_dir, dirs_exist_ok=True)
    old = (seed / "corpus.yaml").read_text()
    assert run("import", str(SAMPLES / "example.crossref.json"), "--corpus", str(seed)) == 0
    new = (seed / "corpus.yaml").read_text()
    assert new.startswith(old)  # every byte before stays, comments included
    assert new[len(old) :].startswith("  - id: example-2025-abstract\n")


def test_a_register_in_flow_style_is_refused_with_the_entries_to_add(
    corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus_yaml = corpus / "corpus.yaml"
    corpus_yaml.write_text(
        corpus_yaml.read_text() + 'sources: [{id: a, file: a.txt, kind: news, title: "A"}]\n'
    )
    (corpus / "sources").mkdir()
    (corpus / "sources" / "a.txt").write_text("A")
    before = snapshot(corpus)
    assert run("import", str(SAMPLES / "example.crossref.json"), "--corpus", str(corpus)) == 13
    err = capsys.readouterr().err
    assert "cannot be updated safely: its 'sources:' list is written in flow style" in err
    assert "- id: example-2025-abstract" in err
    assert snapshot(corpus) == before


def test_a_failed_rename_puts_everything_back(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from evidence_publisher.importers import files

    assert run("import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)) == 0
    before = snapshot(corpus)
    real = os.replace
    calls = []

    def failing(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the second of the two mappings
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", failing)
    assert (
        run("import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus), "--force", "--date", "2027-01-01")
        == 13
    )
    monkeypatch.setattr(files.os, "replace", real)
    assert snapshot(corpus) == before
    assert not [p for p in corpus.rglob(".*") if (p.is_file() and ".tmp-" in p.name) or ".old-" in p.name]
