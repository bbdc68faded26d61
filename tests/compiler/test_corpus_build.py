"""The seed corpus build: golden output, determinism, structure, references and fidelity."""

from __future__ import annotations

import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources import get_fhir_model_class

from evidence_publisher.jsonio import dumps, load_file
from evidence_publisher.pipeline import build

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "lupus-msc"


def resources(dist: Path) -> dict[str, dict]:
    return {p.name: load_file(p) for p in sorted((dist / "resources").glob("*.json"))}


def by_id(dist: Path, rtype: str, rid: str) -> dict:
    return load_file(dist / "resources" / f"{rtype}-{rid}.json")


def test_golden_resources_semantically_equal(built_corpus: Path) -> None:
    """Compared as parsed JSON; refresh with UPDATE_GOLDEN=1 after a reviewed change."""
    actual = resources(built_corpus)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(built_corpus / "resources", GOLDEN)
    expected = {p.name: load_file(p) for p in sorted(GOLDEN.glob("*.json"))}
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], name


def test_outputs_written(built_corpus: Path) -> None:
    for rel in ("bundle-transaction.json", "bundle-collection.json", "build-report.json"):
        assert (built_corpus / rel).is_file()
    ndjson = {p.stem for p in (built_corpus / "ndjson").glob("*.ndjson")}
    assert ndjson == {r["resourceType"] for r in resources(built_corpus).values()}
    lines = (built_corpus / "ndjson" / "Evidence.ndjson").read_text().splitlines()
    assert len(lines) == len(list((built_corpus / "resources").glob("Evidence-*.json")))
    assert all(json.loads(line)["resourceType"] == "Evidence" for line in lines)


def test_build_is_byte_identical(tmp_path: Path, corpus_dir: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    build([corpus_dir], out_dir=a, validate=False)
    build([corpus_dir], out_dir=b, validate=False)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_every_resource_parses_with_fhir_resources(built_corpus: Path) -> None:
    for name, res in resources(built_corpus).items():
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert res["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">'), name


def test_transaction_references_all_resolve(built_corpus: Path) -> None:
    bundle = load_file(built_corpus / "bundle-transaction.json")
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                refs.append(node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert "id" not in entry["resource"]
        assert entry["request"]["method"] == "PUT"
        assert "?" in entry["request"]["url"]
        walk(entry["resource"])
    assert refs, "the corpus has internal references"
    assert all(r in full_urls for r in refs), sorted(set(refs) - full_urls)


def identity(res: dict) -> dict:
    """url, version, name, status, date: native elements, or the core artifact-* extensions that
    carry them on R5 types without those elements (Group, ArtifactAssessment)."""
    ext = {
        e["url"].rsplit("/", 1)[-1]: next(v for k, v in e.items() if k.startswith("value"))
        for e in [*res.get("extension", []), *res.get("modifierExtension", [])]
        if e["url"].startswith("http://hl7.org/fhir/StructureDefinition/artifact-")
    }
    # Group.name is a human label; its computable name is the artifact-name extension
    return {k: ext.get(f"artifact-{k}", res.get(k)) for k in ("url", "version", "name", "status", "date")}


def test_every_resource_has_identity(built_corpus: Path) -> None:
    cnl0 = re.compile(r"^[A-Z]([A-Za-z0-9_]){1,254}$")
    for name, res in resources(built_corpus).items():
        rid = res["id"]
        assert len(rid) <= 64 and not rid.isdigit(), name
        ident = identity(res)
        assert ident["url"] == f"https://evidence-publisher.example.org/fhir/{res['resourceType']}/{rid}", (
            name
        )
        assert ident["version"] == "1.0.0", name
        assert cnl0.match(ident["name"]), name
        assert ident["status"] in ("active", "final"), name  # Composition.status has its own codes
        assert ident["date"] == "2026-11-22", name


# ---- fidelity ------------------------------------------------------------------------------
def test_primary_value_wins_and_conflict_is_recorded(built_corpus: Path) -> None:
    ev = by_id(built_corpus, "Evidence", "liang-2010-sledai-baseline")
    assert ev["statistic"][0]["quantity"]["value"] == Decimal("12.2")
    assert any("12.1" in n["text"] for n in ev["note"])
    report = load_file(built_corpus / "build-report.json")
    [conflict] = report["conflicts"]
    assert conflict["published"]["value"] == "12.2"
    assert conflict["published"]["kind"] == "primary-abstract"
    assert conflict["conflicting"]["value"] == "12.1"


def test_decimals_are_written_as_in_the_mapping(built_corpus: Path) -> None:
    text = (built_corpus / "resources" / "Evidence-liang-2010-proteinuria-12m.json").read_text()
    assert '"value": 858.0' in text
    assert '"value": 800.7' in text


def test_no_invented_sd_ci_or_identifier(built_corpus: Path) -> None:
    everything = "".join(p.read_text() for p in (built_corpus / "resources").glob("*.json"))
    assert "C53322" not in everything  # no source names an SD: the "+/-" kind is unstated
    assert "C53324" not in everything  # no confidence interval is reported anywhere
    assert "pubmed.ncbi.nlm.nih.gov" not in everything  # no PMID was found for any publication
    assert "NCT00698191" not in everything and "NCT03174587" not in everything
    assert "strengthOfRecommendation" not in everything


def test_p_value_keeps_its_comparator(built_corpus: Path) -> None:
    ev = by_id(built_corpus, "Evidence", "liang-2010-sledai-12m")
    [p] = [
        a
        for a in ev["statistic"][0]["attributeEstimate"]
        if a["type"].get("coding", [{}])[0].get("code") == "C44185"
    ]
    assert p["quantity"] == {"comparator": "<", "value": Decimal("0.05")}


def test_derived_value_is_marked_with_formula(built_corpus: Path) -> None:
    ev = by_id(built_corpus, "Evidence", "liang-2010-sledai-change-12m")
    stat = ev["statistic"][0]
    assert stat["quantity"]["value"] == Decimal("-9.0")
    assert "attributeEstimate" not in stat  # no SD of the change is invented
    assert any("Derived value: after - before" in n["text"] for n in stat["note"])


def test_no_denominator_where_source_gives_none(built_corpus: Path) -> None:
    """A count without a stated denominator gets no numberOfParticipants (dose-limiting toxicity
    of the phase I trial known only through the summary)."""
    dlt = by_id(built_corpus, "Evidence", "phase1-bm-msc-ln-dose-limiting-toxicity")["statistic"][0]
    assert dlt["sampleSize"] == {"numberOfStudies": 1}
    assert dlt["numberAffected"] == 0
    assert "number of patients not stated" in dlt["description"]


def test_gu_remission_has_its_sample_size_and_a_derived_count(built_corpus: Path) -> None:
    """Finding 4: 60.5 % of the 81 patients of seed 003; 49 is derived and says so."""
    ev = by_id(built_corpus, "Evidence", "gu-2014-renal-remission-12m")
    stat = ev["statistic"][0]
    assert stat["quantity"]["value"] == Decimal("60.5") and stat["quantity"]["code"] == "%"
    assert stat["sampleSize"] == {"numberOfStudies": 1, "numberOfParticipants": 81}
    assert stat["numberAffected"] == 49
    notes = " ".join(n["text"] for n in stat["note"])
    assert "Derived count: 49 is not reported" in notes and "49/81 = 60.49%" in notes
    assert "48/81 = 59.26%" in notes and "50/81 = 61.73%" in notes
    assert any("003_5de3ce04e7582026.txt (blog, secondary)" in n["text"] for n in ev["note"])
    assert "by the 12-month visit" in ev["title"] and " at 12-month visit" not in ev["title"]
    report = load_file(built_corpus / "build-report.json")
    assert any(
        d["evidence"] == "Evidence/gu-2014-renal-remission-12m" and d["value"] == "49"
        for d in report["derived_values"]
    )
    measure = by_id(built_corpus, "EvidenceVariable", "gu-2014-renal-remission-by-12mo-measure")
    [tfe] = measure["characteristic"][0]["timeFromEvent"]
    assert tfe["range"] == {
        "high": {"value": 12, "unit": "months", "system": "http://unitsofmeasure.org", "code": "mo"}
    }
    assert "quantity" not in tfe  # cumulative: up to 12 months, not at 12 months


def test_single_arm_evidence_has_no_comparator(built_corpus: Path) -> None:
    between_group = {"0000457", "0000424", "C93152", "C16932", "C93150", "0000100"}
    for res in resources(built_corpus).values():
        if res["resourceType"] != "Evidence":
            continue
        roles = [v["extension"][0]["valueCode"] for v in res["variableDefinition"]]
        assert sorted(set(roles)) in (
            ["exposure", "outcome", "population"],
            ["covariate", "exposure", "outcome", "population"],
        )
        assert roles.count("exposure") == 1 and roles.count("outcome") == 1
        assert "variable-definition-comparator-category" not in dumps(res)
        for stat in res.get("statistic", []):
            codes = {c["code"] for c in stat.get("statisticType", {}).get("coding", [])}
            assert not codes & between_group


def test_advice_is_attributed_to_the_document_that_states_it(built_corpus: Path) -> None:
    plan = by_id(built_corpus, "PlanDefinition", "rec-stem-cell-refractory-lupus-plan")
    [cite] = [r for r in plan["relatedArtifact"] if r["type"] == "citation"]
    assert cite["resource"].split("|")[0].endswith("/Citation/summary-stem-cell-lupus")
    report = load_file(built_corpus / "build-report.json")
    [claim] = report["attribution_claims"]
    assert claim["claimed_source"] == "Citation/eular-2023" and claim["status"] == "not-supported"


def test_hypotheses_are_not_findings(built_corpus: Path) -> None:
    cit = by_id(built_corpus, "Citation", "liang-2010")
    hyp = [n["text"] for n in cit["note"] if n["text"].startswith("Hypothesis")]
    assert hyp and all("(not a finding)" in h for h in hyp)
    assert not any(
        "endothelial" in e.get("description", "")
        for e in resources(built_corpus).values()
        if e["resourceType"] == "Evidence"
    )


EBM_PROFILE = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"


@pytest.mark.parametrize(
    ("rtype", "profile"),
    [
        ("Evidence", "non-comparative-evidence"),
        ("PlanDefinition", "recommendation-plan"),
        ("Composition", "recommendation"),
        ("ActivityDefinition", "recommendation-action"),
    ],
)
def test_profiles_claimed(built_corpus: Path, rtype: str, profile: str) -> None:
    found = [r for r in resources(built_corpus).values() if r["resourceType"] == rtype]
    assert found
    for res in found:
        assert EBM_PROFILE + profile in res["meta"]["profile"], res["id"]


def test_only_journal_articles_claim_the_journal_article_profile(built_corpus: Path) -> None:
    claims = {
        r["id"]: EBM_PROFILE + "journal-article-citation" in r.get("meta", {}).get("profile", [])
        for r in resources(built_corpus).values()
        if r["resourceType"] == "Citation"
    }
    assert claims == {
        "liang-2010": True,
        "gu-2014": True,
        "eular-2023": True,
        "news-stem-cells-beneficial": False,
        "blog-medpage-severe-lupus": False,
        "blog-gu-2014": False,
        "summary-stem-cell-lupus": False,
    }


def test_study_design_carries_its_provenance(built_corpus: Path) -> None:
    """Gu 2014's design is known only from outside the corpus: the Evidence says where from."""
    notes = [n["text"] for n in by_id(built_corpus, "Evidence", "gu-2014-renal-remission-12m")["note"]]
    assert any(t.startswith("Study: Open-label, single-centre, single-arm") for t in notes)
    assert any("must not be pooled" in t for t in notes)
    assert any(
        t.startswith("design, description: found outside the corpus at https://bohrium.dp.tech/")
        and "(status: found)" in t
        for t in notes
    )


def test_output_does_not_depend_on_cwd_or_path_form(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative or absolute mapping paths, from any working directory: the same bytes."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outs = []
    for cwd, arg in (
        (corpus_dir.parent.parent, Path("mappings") / "lupus-msc"),
        (elsewhere, corpus_dir),
        (corpus_dir, Path(".")),
        (corpus_dir.parent, Path("lupus-msc") / "corpus.yaml"),
    ):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{len(outs)}"
        build(
            [arg] if arg.name != "corpus.yaml" else sorted(arg.parent.glob("*.yaml")),
            out_dir=out,
            validate=False,
        )
        outs.append(out)
    report = load_file(outs[1] / "build-report.json")
    assert all(not r["source"].startswith(("/", "..")) for r in report["resources"])
    assert any(r["source"].startswith("liang-2010.yaml:") for r in report["resources"])
    first = {p.relative_to(outs[0]): p.read_bytes() for p in outs[0].rglob("*") if p.is_file()}
    for other in outs[1:]:
        files = {p.relative_to(other): p.read_bytes() for p in other.rglob("*") if p.is_file()}
        assert files.keys() == first.keys()
        for rel, data in first.items():
            assert files[rel] == data, (other, rel)


CORE_EXT = "http://hl7.org/fhir/StructureDefinition/"
FEVIR = "https://fevir.net/resources/CodeSystem/179423"


def test_artifact_status_is_a_modifier_extension(built_corpus: Path) -> None:
    """artifact-status is defined with isModifier = true: it never sits in plain extension."""
    checked = 0
    for name, res in resources(built_corpus).items():
        plain = {e["url"] for e in res.get("extension", [])}
        assert CORE_EXT + "artifact-status" not in plain, name
        if res["resourceType"] in ("Group", "ArtifactAssessment"):
            mods = [e for e in res.get("modifierExtension", []) if e["url"] == CORE_EXT + "artifact-status"]
            assert [e["valueCode"] for e in mods] == ["active"], name
            checked += 1
    assert checked >= 5


def test_justification_discussion_has_its_type_code(built_corpus: Path) -> None:
    """RecommendationJustification: recommendationSpecification.component[discussion] is typed
    179423#discussion with informationType comment (HL7/ebm@06becf90)."""
    just = by_id(built_corpus, "ArtifactAssessment", "rec-stem-cell-refractory-lupus-justification")
    [spec] = [c for c in just["content"] if c["type"]["coding"][0]["code"] == "recommendation-specification"]
    comments = [c for c in spec["component"] if c["informationType"] == "comment"]
    assert comments
    for comp in comments:
        assert comp["type"]["coding"] == [{"system": FEVIR, "code": "discussion", "display": "Discussion"}]
