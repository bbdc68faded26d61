"""The methodologist's review of the seed corpus: one test (or more) per finding."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher.fhir.common import UNIT_WORDS
from evidence_publisher.jsonio import load_file
from evidence_publisher.jsonio import load_file as _load
from evidence_publisher.sources import MappingError, load_corpus


def resources(dist: Path) -> dict[str, dict]:
    return {p.name: _load(p) for p in sorted((dist / "resources").glob("*.json"))}


def by_id(dist: Path, rtype: str, rid: str) -> dict:
    return _load(dist / "resources" / f"{rtype}-{rid}.json")


def derived_from(ev: dict, rtype: str) -> list[str]:
    return [
        r["resourceReference"]["reference"]
        for r in ev.get("relatedArtifact", [])
        if r["type"] == "derived-from" and r["resourceReference"]["reference"].startswith(rtype + "/")
    ]


def evidence(dist: Path) -> dict[str, dict]:
    return {r["id"]: r for r in resources(dist).values() if r["resourceType"] == "Evidence"}


# ---- finding 1: structured links agree with the text ---------------------------------------
@pytest.mark.parametrize(
    "eid",
    [
        "hsct-severe-lupus-remission-rate",
        "hsct-severe-lupus-mortality-rate",
        "phase1-bm-msc-ln-dose-limiting-toxicity",
        "phase1-bm-msc-ln-maximum-tolerated-dose",
    ],
)
def test_summary_figures_derive_from_the_summary_not_eular(built_corpus: Path, eid: str) -> None:
    ev = by_id(built_corpus, "Evidence", eid)
    assert derived_from(ev, "Citation") == ["Citation/summary-stem-cell-lupus"]
    text = str(ev)
    assert "Citation/eular-2023" not in text
    # the summary is not "the study's publication": the study's own publication is unknown
    assert not [r for r in ev["relatedArtifact"] if r["type"] == "citation"]


def test_every_evidence_derives_from_the_document_its_values_come_from(built_corpus: Path) -> None:
    doc_citation = {
        "004_c594548d5a0f7352.txt": "Citation/liang-2010",
        "001_6a16aa5262533729.txt": "Citation/blog-medpage-severe-lupus",
        "002_0b008d0865409e9a.txt": "Citation/summary-stem-cell-lupus",
        "003_5de3ce04e7582026.txt": "Citation/blog-gu-2014",
    }
    for eid, ev in evidence(built_corpus).items():
        source_file = ev["note"][0]["text"].split()[1]
        assert derived_from(ev, "Citation") == [doc_citation[source_file]], eid


def test_two_records_of_one_document_are_refused(tmp_path: Path) -> None:
    """A publication that a document only names must say so (in_corpus: false)."""
    root = Path(__file__).resolve().parents[2]
    corpus = (root / "tests" / "broken" / "corpus.yaml").read_text()
    (tmp_path / "corpus.yaml").write_text(corpus.replace("../../examples", str(root / "examples")))
    base = (root / "tests" / "broken" / "base.yaml.txt").read_text()
    (tmp_path / "a.yaml").write_text(base)
    (tmp_path / "b.yaml").write_text(base.replace("id: case\n", "id: other\n").replace("case-", "other-"))
    with pytest.raises(MappingError) as exc:
        load_corpus([tmp_path])
    assert any("both claim to be the record of document 'liang-2010-record'" in d for d in exc.value.details)
    (tmp_path / "b.yaml").write_text(
        base.replace("id: case\n", "id: other\nin_corpus: false\n").replace("case-", "other-")
    )
    load_corpus([tmp_path])


# ---- finding 3: the maximum tolerated dose -------------------------------------------------
def test_maximum_tolerated_dose_carries_its_caveat_and_certainty(built_corpus: Path) -> None:
    ev = by_id(built_corpus, "Evidence", "phase1-bm-msc-ln-maximum-tolerated-dose")
    q = ev["statistic"][0]["quantity"]
    assert q == {
        "value": Decimal("3.0"),
        "unit": "×10^6 cells/kg",
        "system": "http://unitsofmeasure.org",
        "code": "10*6{cells}/kg",
    }
    notes = " ".join(n["text"] for n in ev["note"])
    assert "Unidentified source" in notes and "(status: unverified)" in notes
    assert "highest dose given without dose-limiting toxicity" in notes
    assert ev["certainty"][0]["rating"]["coding"][0]["code"] == "very-low"
    by_id(built_corpus, "ArtifactAssessment", "phase1-bm-msc-ln-maximum-tolerated-dose-certainty")
    assert "NCT03174587" not in str(ev) and "09612033221111957" not in str(ev)


# ---- finding 5: Liang 2010 denominators, design facts and the ResearchStudy --------------
def test_serious_adverse_events_have_their_denominator(built_corpus: Path) -> None:
    ev = by_id(built_corpus, "Evidence", "liang-2010-serious-adverse-events")
    stat = ev["statistic"][0]
    assert stat["numberAffected"] == 0
    assert stat["sampleSize"]["numberOfParticipants"] == 15
    assert "not a statement that no adverse events occurred" in ev["description"]
    assert "Serious" in ev["title"]


def test_liang_research_study_carries_design_enrolment_follow_up_and_funding(built_corpus: Path) -> None:
    rs = by_id(built_corpus, "ResearchStudy", "liang-2010-study")
    assert rs["progressStatus"][0]["period"] == {"start": "2007-03-11", "end": "2008-11-04"}
    assert rs["recruitment"]["actualNumber"] == 15
    assert rs["recruitment"]["actualGroup"] == {"reference": "Group/liang-2010-population"}
    assert {c["code"] for d in rs["studyDesign"] for c in d["coding"]} == {"SEVCO:01016", "SEVCO:01019"}
    notes = [n["text"] for n in rs["note"]]
    assert any("Mean follow-up 17.2 ± 9.5 months (SD or SE not stated)" in t for t in notes)
    assert any("13 patients were followed for more than 12 months" in t for t in notes)
    assert any("analysed 12" in t for t in notes)  # the 12-vs-13 gap is flagged
    grants = [i for i in rs["identifier"] if i.get("type", {}).get("text") == "Grant number"]
    assert sorted(g["value"] for g in grants) == sorted(
        ["30972736", "30772014", "BA2009124", "2008BAI59B02", "BK2009034", "RC2007002", "QYK09174"]
    )
    assert {g["value"]: g["assigner"]["display"] for g in grants}["30972736"] == (
        "National Natural Science Foundation of China"
    )
    parties = rs["associatedParty"]
    assert len(parties) == 8
    assert all(p["role"]["coding"][0]["code"] == "funding-source" for p in parties)
    assert "Jiangsu Province 'Six Summit Talent' Foundation" in {p["name"] for p in parties}


def test_every_study_result_links_to_its_research_study(built_corpus: Path) -> None:
    for eid, ev in evidence(built_corpus).items():
        studies = derived_from(ev, "ResearchStudy")
        if eid.startswith("hsct-"):
            assert studies == [], eid  # figures from unidentified studies: no study to point to
        else:
            assert studies == [f"ResearchStudy/{eid.split('-')[0]}-" + _study_suffix(eid)], eid
    rs_ids = {r["id"] for r in resources(built_corpus).values() if r["resourceType"] == "ResearchStudy"}
    assert rs_ids == {"liang-2010-study", "gu-2014-study", "phase1-bm-msc-ln-study"}


def _study_suffix(eid: str) -> str:
    for prefix in ("liang-2010", "gu-2014", "phase1-bm-msc-ln"):
        if eid.startswith(prefix):
            return prefix.split("-", 1)[1] + "-study"
    raise AssertionError(eid)


# ---- finding 6: co-treatments are connected ------------------------------------------------
def test_co_interventions_are_covariates_of_results_measured_after_they_start(built_corpus: Path) -> None:
    def covariates(eid: str) -> list[str]:
        ev = by_id(built_corpus, "Evidence", eid)
        return [
            v["intended"]["reference"]
            for v in ev["variableDefinition"]
            if v["extension"][0]["valueCode"] == "covariate"
        ]

    both = ["EvidenceVariable/liang-2010-prednisone", "EvidenceVariable/liang-2010-cyclophosphamide"]
    for eid in (
        "liang-2010-sledai-12m",
        "liang-2010-proteinuria-change-12m",
        "liang-2010-serious-adverse-events",
    ):
        assert covariates(eid) == both, eid
    for eid in ("liang-2010-sledai-baseline", "liang-2010-proteinuria-1wk", "liang-2010-female-baseline"):
        assert covariates(eid) == [], eid
    for var in both:
        rid = var.split("/")[1]
        assert by_id(built_corpus, "EvidenceVariable", rid)  # referenced by Evidence now


# ---- finding 7: outcomes the primary source reports ---------------------------------------
def test_primary_outcomes_are_published(built_corpus: Path) -> None:
    non_renal = by_id(built_corpus, "Evidence", "liang-2010-non-renal-improvement")
    assert "Non-renal-related manifestations also improved significantly." in non_renal["note"][0]["text"]
    sustained = by_id(built_corpus, "Evidence", "liang-2010-sustained-response-12m")["statistic"][0]
    assert sustained["numberAffected"] == 11 and sustained["sampleSize"]["numberOfParticipants"] == 13


# ---- finding 8: machine usability ------------------------------------------------------------
def test_every_statistic_has_a_type_and_a_sample_size(built_corpus: Path) -> None:
    for eid, ev in evidence(built_corpus).items():
        for stat in ev["statistic"]:
            assert stat["statisticType"]["coding"], eid
            assert stat["sampleSize"]["numberOfStudies"] == 1, eid


def test_yes_no_results_with_a_denominator_are_proportions(built_corpus: Path) -> None:
    for eid, ev in evidence(built_corpus).items():
        for stat in ev["statistic"]:
            n = stat["sampleSize"].get("numberOfParticipants")
            if "numberAffected" in stat and n:
                assert stat["statisticType"]["coding"][0]["code"] == "C44256", eid
                assert stat["quantity"]["code"] == "%", eid
                pct = Decimal(stat["numberAffected"]) * 100 / n
                assert abs(pct - Decimal(str(stat["quantity"]["value"]))) <= Decimal("0.05"), eid
    relapse = by_id(built_corpus, "Evidence", "liang-2010-proteinuria-relapse-12m")["statistic"][0]
    assert relapse["quantity"]["value"] == Decimal("15.4")
    assert any("Derived value: the proportion 15.4%" in n["text"] for n in relapse["note"])


def test_every_unit_is_ucum_with_words(built_corpus: Path) -> None:
    seen: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("system") == "http://unitsofmeasure.org":
                assert node["code"] in UNIT_WORDS, node
                assert node["unit"] in (UNIT_WORDS[node["code"]], "month", "year", "week", "day")
                seen.add(node["code"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for res in resources(built_corpus).values():
        walk(res)
    assert {"a", "mo", "{score}", "%", "mg/(24.h)", "10*6{cells}/kg"} <= seen


def test_outcome_measures_state_their_time_from_the_intervention(built_corpus: Path) -> None:
    measures = {
        r["id"]: r
        for r in resources(built_corpus).values()
        if r["resourceType"] == "EvidenceVariable" and r["id"].endswith("-measure")
    }
    assert len(measures) >= 30
    for rid, ev in measures.items():
        [char] = ev["characteristic"]
        if "timepoint-not-stated" in rid:
            assert "timeFromEvent" not in char, rid
            continue
        [tfe] = char["timeFromEvent"]
        assert tfe["eventReference"]["reference"].startswith("EvidenceVariable/"), rid
    sledai = measures["liang-2010-sledai-12mo-measure"]["characteristic"][0]
    assert sledai["timeFromEvent"][0]["quantity"]["value"] == 12
    assert sledai["timeFromEvent"][0]["quantity"]["code"] == "mo"
    assert sledai["definitionCodeableConcept"]["coding"] == [
        {
            "system": "http://snomed.info/sct",
            "code": "273863009",
            "display": "SLEDAI - Systemic lupus erythematosus disease activity index",
        }
    ]
    for ev in evidence(built_corpus).values():
        [outcome] = [v for v in ev["variableDefinition"] if v["extension"][0]["valueCode"] == "outcome"]
        observed = by_id(built_corpus, *outcome["observed"]["reference"].split("/"))
        intended = by_id(built_corpus, *outcome["intended"]["reference"].split("/"))
        assert "characteristic" not in observed and observed["meta"]["profile"][0].endswith(
            "/variable-definition"
        )
        assert intended["characteristic"] and intended["title"].startswith(observed["title"])


def test_groups_carry_their_coded_condition(built_corpus: Path) -> None:
    expected = {
        "liang-2010-population": "55464009",
        "gu-2014-population": "68815009",
        "phase1-bm-msc-ln-population": "68815009",
        "hsct-severe-lupus-population": "55464009",
    }
    for gid, code in expected.items():
        group = by_id(built_corpus, "Group", gid)
        codes = [
            c["code"] for ch in group["characteristic"] for c in ch["valueCodeableConcept"].get("coding", [])
        ]
        assert codes == [code], gid
    liang = by_id(built_corpus, "Group", "liang-2010-population")
    assert "Female sex: 14 of 15 patients (93.3%)." in liang["description"]
    female = by_id(built_corpus, "Evidence", "liang-2010-female-baseline")
    assert "baseline-measure-evidence" in " ".join(female["meta"]["profile"])


def test_citations_have_doi_location_abstract_and_dates(built_corpus: Path) -> None:
    liang = by_id(built_corpus, "Citation", "liang-2010")["citedArtifact"]
    assert liang["webLocation"] == [
        {
            "classifier": [
                {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/artifact-url-classifier",
                            "code": "doi-based",
                            "display": "DOI Based",
                        }
                    ]
                }
            ],
            "url": "https://doi.org/10.1136/ard.2009.123463",
        }
    ]
    assert liang["abstract"][0]["text"].startswith("Objective To determine the safety and efficacy")
    assert [d["period"]["start"] for d in liang["statusDate"]] == ["2010-08"]
    eular = by_id(built_corpus, "Citation", "eular-2023")["citedArtifact"]
    assert [d["period"]["start"] for d in eular["statusDate"]] == ["2023-10-12", "2024-01"]
    assert "pubmed" not in str(eular).lower()


def test_every_evidence_is_reachable_from_the_composition(built_corpus: Path) -> None:
    comp = by_id(built_corpus, "Composition", "rec-stem-cell-refractory-lupus")
    found: set[str] = set()

    def walk(sections: list[dict]) -> None:
        for sec in sections:
            found.update(e["reference"] for e in sec.get("entry", []))
            walk(sec.get("section", []))

    walk(comp["section"])
    all_evidence = {f"Evidence/{eid}" for eid in evidence(built_corpus)}
    assert all_evidence <= found, sorted(all_evidence - found)
    [ev_section] = [s for s in comp["section"] if s["code"]["coding"][0]["code"] == "evidence"]
    assert len(ev_section["entry"]) == 9  # what the recommendation cites stays apart


# ---- finding 2 (publication side) --------------------------------------------------------------
def test_recommendation_is_published_as_experimental_and_needs_a_finished_course(built_corpus: Path) -> None:
    plan = by_id(built_corpus, "PlanDefinition", "rec-stem-cell-refractory-lupus-plan")
    assert plan["experimental"] is True
    assert "cites no identifiable guideline" in plan["usage"]
    assert "very low certainty" in plan["usage"]
    [med] = [
        c for c in plan["action"][0]["condition"] if "MedicationRequest" in c["expression"]["expression"]
    ]
    expr = med["expression"]["expression"]
    assert "status = 'completed'" in expr and "status = 'stopped'" in expr
    assert "'active'" not in expr
    assert by_id(built_corpus, "ActivityDefinition", "refer-stem-cell-centre")["experimental"] is True


def test_report_lists_every_derived_value(built_corpus: Path) -> None:
    report = load_file(built_corpus / "build-report.json")
    derived = {(d["evidence"], d["value"]) for d in report["derived_values"]}
    assert ("Evidence/gu-2014-renal-remission-12m", "49") in derived
    assert ("Evidence/liang-2010-proteinuria-relapse-12m", "15.4%") in derived
    assert ("Evidence/liang-2010-sledai-change-12m", "-9.0") in derived


# ---- deliverable 2: ResearchStudy in the transaction Bundle ----------------------------------
def test_research_study_is_upserted_by_identifier(built_corpus: Path) -> None:
    """R5 ResearchStudy has url and version elements but no url/version search parameters
    (hl7.fhir.r5.core#5.0.0 SearchParameter-ResearchStudy-*.json), so its conditional update
    is keyed on identifier."""
    bundle = load_file(built_corpus / "bundle-transaction.json")
    studies = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "ResearchStudy"]
    assert len(studies) == 3
    for entry in studies:
        url = entry["request"]["url"]
        assert url.startswith("ResearchStudy?identifier=") and "url=" not in url
        assert entry["resource"]["url"].startswith(
            "https://evidence-publisher.example.org/fhir/ResearchStudy/"
        )
