"""import -> new study / new recommendation -> (curator fills the TODOs) -> build with validation.

Also: every field an import writes reaches the Citation, and the loader's checks of the new fields.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from evidence_publisher.cli import main
from evidence_publisher.jsonio import loads
from evidence_publisher.sources import MappingError, load_corpus
from evidence_publisher.sources.model import Publication, Recommendation

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"

# what a curator writes in place of the study skeleton's placeholders (all from the Liang abstract)
STUDY_FILLED = {
    "design: unknown": "design: single-arm-before-after",
    "'TODO: the design in one or two sentences'": "A single group of patients compared with its own baseline.",
    "'TODO: the sentence that states the design'": "A total of 15 patients with persistently active SLE underwent MSCT.",
    "'TODO: who was studied, in a few words'": "Patients with refractory SLE",
    "'TODO: who was studied'": "Patients with persistently active, refractory SLE.",
    "'TODO: the sentence that describes the participants'": (
        "A total of 15 patients with persistently active SLE underwent MSCT."
    ),
    "'TODO: the intervention'": "Allogeneic mesenchymal stem cell transplantation",
    "'TODO: the sentence that names the intervention'": "allogeneic mesenchymal stem cell transplantation (MSCT)",
}
RESULTS = """outcomes:
  - {id: sledai, name: SLEDAI score, description: SLE disease activity index., handling: continuous}
results:
  - id: sledai-12m
    outcome: sledai
    timepoint: {label: 12-month follow-up, value: 12, unit: mo}
    statistic: mean
    value: 3.2
    unit: "{score}"
    participants: 12
    description: Mean SLEDAI score at 12 months.
    quote: "SLEDAI scores decreased from 12.2 +/- 3.3 to 3.2 +/- 2.8 and proteinuria decreased from 2505.0 +/- 1323.9 to 858.0 +/- 800.7 mg/24 h (all p < 0.05, by paired t test, n = 12)."
"""
REC_FILLED = {
    "'TODO: a short title of the recommendation'": "Consider MSCT in refractory SLE",
    "'TODO: the advice, as the source states it'": "MSCT appears beneficial in refractory SLE.",
    "'TODO: the sentence that states it'": "MSCT appears beneficial in treatment of patients with SLE",
    "'TODO: who the advice is for'": "Patients with SLE refractory to conventional treatment.",
    "'TODO: the sentence that says who it is for'": "patients with SLE refractory to conventional treatment options",
    "'TODO: what a patient must have'": "Systemic lupus erythematosus",
    "system: TODO\n          code: TODO\n          display: TODO": (
        "system: http://snomed.info/sct\n          code: '55464009'\n"
        "          display: Systemic lupus erythematosus (disorder)"
    ),
    "'TODO: how this criterion reads the source text'": "A recorded SLE diagnosis.",
    "'TODO: the words it reads'": "patients with SLE",
    "'TODO: what to do (under 140 characters: the card summary)'": "Consider MSCT",
    "'TODO: what to do, in full'": "Consider allogeneic MSCT.",
    "system: TODO\n    code: TODO": "system: http://snomed.info/sct\n    code: '234336002'",
    "'TODO: the sentence that states the action'": "MSCT appears beneficial",
    "'TODO: publication-id/result-id'": "liang-2010-study/sledai-12m",
}


def fill(path: Path, replacements: dict[str, str], extra: str = "") -> None:
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text + extra)


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    corpus = tmp_path / "mappings"
    shutil.copytree(HERE / "corpus", corpus)
    assert main(["import", str(SAMPLES / "pubmed.xml"), "--corpus", str(corpus)]) == 0
    return corpus


def build(corpus: Path, out: Path, *extra: str) -> int:
    return main(["build", str(corpus), "--out", str(out), *extra])


def test_every_imported_field_reaches_the_citation(imported: Path, tmp_path: Path) -> None:
    assert build(imported, tmp_path / "dist") == 0  # with validation
    cit = json.loads((tmp_path / "dist/resources/Citation-example-2021.json").read_text())
    art = cit["citedArtifact"]
    classified = {c["type"]["coding"][0]["code"]: c["classifier"] for c in art["classification"]}
    assert [c["text"] for c in classified["keyword"]] == ["example disease", "placebo"]
    assert classified["mesh-heading"][1] == {
        "coding": [
            {
                "system": "https://www.nlm.nih.gov/mesh",
                "code": "D008180",
                "display": "Lupus Erythematosus, Systemic",
            }
        ],
        "text": "Lupus Erythematosus, Systemic/therapy*",
    }
    form = art["publicationForm"][0]
    assert [i["value"] for i in form["publishedIn"]["identifier"]] == ["2049-3630", "2049-3630"]
    assert form["publicationDateText"] == "2021 Mar 15"
    assert [d["period"]["start"] for d in art["statusDate"]] == ["2021-02-01", "2021-03-15"]
    assert [(r["type"], r["resourceReference"]["identifier"]["value"]) for r in art["relatesTo"]] == [
        ("correction-in", "90000002"),
        ("retracted-by", "90000003"),
    ]
    assert [i["value"] for i in art["identifier"]] == ["90000001", "PMC9000001", "10.5555/example-a.2021"]
    assert [a["display"] for a in art["contributorship"]["entry"][0]["affiliation"]] == [
        "Department of Examples, Example University, Exampletown.",
        "Institute of Samples, Sampleville.",
    ]
    notes = " ".join(n["text"] for n in cit["note"])
    assert "Imported from record 2 of pubmed.xml (PubMed XML, SHA-256 " in notes
    liang = json.loads((tmp_path / "dist/resources/Citation-liang-2010.json").read_text())
    assert [i["system"] for i in liang["citedArtifact"]["identifier"]] == ["https://doi.org"]  # no PMID


def test_import_then_new_study_then_build(
    imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["new", "study", "liang-2010-study", "--from", "liang-2010", "--corpus", str(imported)]) == 0
    skeleton = imported / "liang-2010-study.yaml"
    Publication.model_validate(yaml.safe_load(skeleton.read_text()))  # passes the schema as written
    capsys.readouterr()
    assert build(imported, tmp_path / "dist", "--no-validate", "--format", "json") == 10
    doc = loads(capsys.readouterr().out)
    assert {i["code"] for i in doc["issues"]} == {"placeholder"}  # only the TODOs stop the build
    assert {i["file"].rsplit("/", 1)[-1] for i in doc["issues"]} == {"liang-2010-study.yaml"}
    fill(skeleton, STUDY_FILLED, RESULTS)
    assert build(imported, tmp_path / "dist") == 0  # with validation
    study = json.loads((tmp_path / "dist/resources/ResearchStudy-liang-2010-study-study.json").read_text())
    assert study["title"].startswith("Allogenic mesenchymal stem cells")  # the imported citation's title
    assert {
        "type": "citation",
        "label": "Study publication",
        "resourceReference": {"reference": "Citation/liang-2010"},
    } in study["relatedArtifact"]
    evidence = json.loads((tmp_path / "dist/resources/Evidence-liang-2010-study-sledai-12m.json").read_text())
    assert "Citation/liang-2010" in json.dumps(evidence)
    # re-importing the citation never touches the curated study
    before = skeleton.read_bytes()
    assert (
        main(
            [
                "import",
                str(SAMPLES / "pubmed.xml"),
                "--corpus",
                str(imported),
                "--force",
                "--date",
                "2027-01-01",
            ]
        )
        == 0
    )
    assert skeleton.read_bytes() == before


def test_new_recommendation_then_build(imported: Path, tmp_path: Path) -> None:
    assert main(["new", "study", "liang-2010-study", "--from", str(imported / "liang-2010.yaml")]) == 0
    fill(imported / "liang-2010-study.yaml", STUDY_FILLED, RESULTS)
    assert main(["new", "recommendation", "rec-msct", "--from", "liang-2010", "--corpus", str(imported)]) == 0
    rec = imported / "rec-msct.yaml"
    assert rec.read_text().startswith("# yaml-language-server: $schema=.schemas/recommendation.schema.json\n")
    Recommendation.model_validate(yaml.safe_load(rec.read_text()))
    fill(rec, REC_FILLED)
    assert build(imported, tmp_path / "dist") == 0
    assert (tmp_path / "dist/resources/PlanDefinition-rec-msct-plan.json").is_file()


def test_new_refuses_to_overwrite_and_names_unknown_citations(
    imported: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["new", "study", "liang-2010-study", "--from", "liang-2010", "--corpus", str(imported)]
    assert main(args) == 0
    assert main(args) == 13
    assert main([*args, "--force"]) == 0
    assert main(["new", "study", "x", "--from", "nope", "--corpus", str(imported)]) == 2
    assert main(["new", "study", "Bad_Id", "--from", "liang-2010", "--corpus", str(imported)]) == 2
    assert main(["new", "study", "example-2021", "--from", "liang-2010", "--corpus", str(imported)]) == 13
    err = capsys.readouterr().err
    assert "--from 'nope' names no mapping" in err and "id 'example-2021' is already used by" in err


def _corpus_with(tmp_path: Path, imported: Path, name: str, text: str) -> list[str]:
    (imported / name).write_text(text)
    try:
        load_corpus([imported])
    except MappingError as exc:
        return [f"{i.field}: [{i.code}] {i.problem}" for i in exc.issues]
    return []


def test_loader_checks_of_the_new_fields(imported: Path, tmp_path: Path) -> None:
    base = "kind: publication\nid: p\ndate: '2026-11-22'\nsource: liang-2010-abstract\nlabel: P\n"
    assert _corpus_with(tmp_path, imported, "p.yaml", base + "citation_in: nowhere\n") == [
        "citation_in: [dangling-reference] publication 'nowhere' is not defined by any mapping file"
    ]
    cited = base + (
        "citation:\n  style: journal-article\n  title: T\n  journal: {title: Methods}\n"
        "  keywords: [stem cells]\n  day: 3\n  year: 2008\n  month: Nov\n"
        "  quote: [Methods A total of 15 patients, From 11 March 2007 to 4 November 2008]\n"
        "  external: [{fields: [title], status: found, url: 'https://example.org'}]\n"
    )
    found = _corpus_with(tmp_path, imported, "p.yaml", cited.replace("id: p\n", "id: p\nin_corpus: false\n"))
    assert sorted(found) == [
        "citation.day: [number-not-in-quote] day 3 does not occur in the quote",
        "citation.keywords[0]: [number-not-in-quote] keyword 'stem cells' does not occur in the quotes of this block",
    ]
    text = (imported / "liang-2010.yaml").read_text().replace("      - title\n", "      - abstract\n", 1)
    (imported / "p.yaml").unlink()
    found = _corpus_with(tmp_path, imported, "liang-2010.yaml", text)
    assert found == [
        "citation.imported_from.fields[0]: [invalid-value] 'abstract' is not a citation field that a record can supply"
    ]
