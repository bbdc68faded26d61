"""The site without a browser: determinism, provenance in the build report, the output-dir rule,
plain-words applicability, reading from a server, and what the pages say."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.jsonio import dumps, load_file
from evidence_publisher.site import (
    SiteInputError,
    UnsafeOutputError,
    build_model,
    make_site,
    read_build,
    read_server,
    render_site,
)
from evidence_publisher.site.applicability import displays_of, in_words
from evidence_publisher.sources.quotes import normalise, number_occurs


def test_same_build_gives_the_same_bytes(built_corpus: Path, tmp_path: Path) -> None:
    a = make_site(read_build(built_corpus), tmp_path / "a", [built_corpus]).out_dir
    b = make_site(read_build(built_corpus), tmp_path / "b", [built_corpus]).out_dir
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files_a) > 12
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_report_locates_every_quote_and_number(built_corpus: Path) -> None:
    report = load_file(built_corpus / "build-report.json")
    texts = {d["file"]: d["text"] for d in report["documents"]}
    assert len(texts) == 5
    numbers = 0
    for q in report["quotes"]:
        text = texts[q["document"]]
        assert normalise(text[q["start"] : q["end"]]) == normalise(q["quote"]), q["where"]
        for value in q["values"]:
            for start, end in value["spans"]:
                assert q["start"] <= start < end <= q["end"], q["where"]
                written = text[start:end]
                if re.fullmatch(r"-?\d+(\.\d+)?", value["text"]):
                    assert number_occurs(Decimal(value["text"]), written), (q["where"], value, written)
                    numbers += 1
                else:
                    assert normalise(written).casefold() == normalise(value["text"]).casefold()
    assert numbers > 100
    evidence = {
        f"Evidence/{p.stem[len('Evidence-') :]}" for p in (built_corpus / "resources").glob("Evidence-*")
    }
    with_quote = {q["resource"] for q in report["quotes"] if q["role"] == "result"}
    assert evidence == with_quote


def test_the_site_dir_only_replaces_a_previous_site(built_corpus: Path, tmp_path: Path) -> None:
    source = read_build(built_corpus)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UnsafeOutputError, match=r"no site\.json marker"):
        make_site(source, mine, [built_corpus])
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1
    with pytest.raises(UnsafeOutputError, match="inside the build output"):
        make_site(source, built_corpus / "site", [built_corpus])
    with pytest.raises(UnsafeOutputError, match="contains the build output"):
        make_site(source, built_corpus.parent, [built_corpus])
    site = make_site(source, tmp_path / "site", [built_corpus]).out_dir
    (site / "index.html").write_text("old")
    make_site(source, site, [built_corpus])  # a previous site is replaced
    assert (site / "index.html").read_text() != "old"
    (site / "studies" / "mine.html").write_text("a file the site did not write")
    with pytest.raises(UnsafeOutputError, match=r"studies/mine\.html"):
        make_site(source, site, [built_corpus])
    assert (site / "studies" / "mine.html").exists()


def test_applicability_is_read_from_the_fhirpath(built_corpus: Path) -> None:
    plan = load_file(built_corpus / "resources" / "PlanDefinition-rec-stem-cell-refractory-lupus-plan.json")
    displays = displays_of(plan)
    conditions = plan["action"][0]["condition"]
    first = in_words(conditions[0]["expression"]["expression"], displays)
    assert first is not None
    assert "a condition (Condition) whose code is Systemic lupus erythematosus (SNOMED CT 55464009)" in first
    assert "whose clinical status is active, recurrence or relapse" in first
    assert "whose severity is Severe (SNOMED CT 24484000)" in first  # the display of its codeFilter
    second = in_words(conditions[1]["expression"]["expression"], displays)
    assert second == (
        "The patient's data holds a medication order (MedicationRequest) whose medication is "
        "Product containing cyclophosphamide (medicinal product) (SNOMED CT 74470007); and whose status "
        "is completed or stopped."
    )
    assert in_words("entry.resource.ofType(Condition).where(onset > @2020).exists()", displays) is None
    assert in_words("entry.where((", displays) is None


def test_study_page_says_what_the_resources_say(seed_site) -> None:
    page = (seed_site.out_dir / "studies" / "liang-2010-study.html").read_text()
    assert "858.0</a>" in page and "800.7</a>" in page
    assert "(kind not stated)" in page
    assert "-9.0 is derived: after - before, where after = " in page
    assert "93.3 is derived: 100 * affected / denominator, to one decimal" in page
    assert "Reported values over time" in page and "<svg" in page
    rec = next((seed_site.out_dir / "recommendations").glob("*.html")).read_text()
    assert "Claimed, not supported" in rec and "experimental" in rec
    assert "Not stated." not in rec  # the Ratings section says why: no source states a strength
    assert "No source states a strength of recommendation" in rec


def test_a_report_without_provenance_still_makes_a_site(built_corpus: Path, tmp_path: Path) -> None:
    source = read_build(built_corpus)
    old = copy.deepcopy(source.report)
    assert old is not None
    del old["documents"], old["quotes"]
    source.report = old
    dist = tmp_path / "dist"
    (dist / "resources").mkdir(parents=True)
    for res in source.resources:
        (dist / "resources" / f"{res['resourceType']}-{res['id']}.json").write_text(dumps(res))
    (dist / "build-report.json").write_text(dumps(old))
    again = read_build(dist)
    assert any("no source documents" in w for w in again.warnings)
    files = render_site(build_model(again))
    assert not any(f.startswith("sources/") and f != "sources/index.html" for f in files)
    assert "858.0" in files["studies/liang-2010-study.html"]


def test_a_directory_without_a_report_is_refused(tmp_path: Path) -> None:
    (tmp_path / "resources").mkdir()
    with pytest.raises(SiteInputError, match=r"no build-report\.json"):
        read_build(tmp_path)
    assert main(["site", str(tmp_path), "--out", str(tmp_path.parent / "s")]) == 12


def test_cli_site_and_build_site(built_corpus: Path, corpus_dir: Path, tmp_path: Path) -> None:
    assert main(["site", str(built_corpus), "--out", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "index.html").is_file()
    assert (
        main(
            [
                "build",
                str(corpus_dir),
                "--out",
                str(tmp_path / "dist"),
                "--no-validate",
                "--site",
                str(tmp_path / "s2"),
            ]
        )
        == 0
    )
    assert (tmp_path / "s2" / "site.json").is_file()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    code = main(
        [
            "build",
            str(corpus_dir),
            "--out",
            str(tmp_path / "d3"),
            "--no-validate",
            "--site",
            str(tmp_path / "busy"),
        ]
    )
    assert code == 13 and not (tmp_path / "d3").exists()  # refused before the build wrote anything


def test_build_site_with_json_output_writes_the_site_and_keeps_stdout_the_report(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    argv = ["build", str(corpus_dir), "--out", str(tmp_path / "dist"), "--no-validate"]
    assert main([*argv, "--site", str(tmp_path / "site"), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "site" / "index.html").is_file()
    assert json.loads(captured.out)["kind"] == "evidence-publisher-build"
    assert "Wrote the site" in captured.err


def test_site_from_a_fhir_server(built_corpus: Path, httpserver, tmp_path: Path) -> None:
    """Resources as a server holds them (server ids, references rewritten) give the same pages."""
    report = load_file(built_corpus / "build-report.json")
    base = report["base_url"]
    resources = [load_file(p) for p in sorted((built_corpus / "resources").glob("*.json"))]
    server_id = {f"{r['resourceType']}/{r['id']}": str(1000 + i) for i, r in enumerate(resources)}

    def on_server(node):
        if isinstance(node, dict):
            out = {k: on_server(v) for k, v in node.items()}
            if isinstance(out.get("reference"), str) and out["reference"] in server_id:
                out["reference"] = f"{out['reference'].split('/')[0]}/{server_id[out['reference']]}"
            return out
        return [on_server(v) for v in node] if isinstance(node, list) else node

    by_type: dict[str, list[dict]] = {}
    for r in resources:
        held = on_server(r) | {
            "id": server_id[f"{r['resourceType']}/{r['id']}"],
            "meta": r.get("meta", {}) | {"versionId": "1"},
        }
        by_type.setdefault(r["resourceType"], []).append(held)
    for rtype, items in by_type.items():
        half = len(items) // 2 or 1
        pages = [items[:half], items[half:]]
        first = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in pages[0]]}
        if pages[1]:
            first["link"] = [{"relation": "next", "url": httpserver.url_for(f"/fhir/{rtype}") + "?page=2"}]
            httpserver.expect_request(f"/fhir/{rtype}", query_string="page=2").respond_with_data(
                dumps(
                    {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "entry": [{"resource": r} for r in pages[1]],
                    }
                ),
                content_type="application/fhir+json",
            )
        httpserver.expect_request(
            f"/fhir/{rtype}", query_string={"identifier": f"{base}/identifier|", "_count": "200"}
        ).respond_with_data(dumps(first), content_type="application/fhir+json")
    from evidence_publisher.publish import FhirClient

    with FhirClient(httpserver.url_for("/fhir")) as client:
        source = read_server(client, base, report)
    assert sorted(f"{r['resourceType']}/{r['id']}" for r in source.resources) == sorted(server_id)
    from_server = render_site(build_model(source))
    from_dist = render_site(build_model(read_build(built_corpus)))
    assert from_server["studies/liang-2010-study.html"] == from_dist["studies/liang-2010-study.html"]
    assert from_server.keys() == from_dist.keys()


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_text_colours_have_sufficient_contrast(seed_site) -> None:
    """WCAG AA asks 4.5:1 for body text; every text colour of the stylesheet on every background."""
    css = (seed_site.out_dir / "assets" / "site.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        (fg, bg)
        for fg in ("ink", "muted", "accent", "num", "warn")
        for bg in ("bg", "panel", "mark", "warn-bg")
        if not (fg == "warn" and bg == "mark")
    ]
    for fg, bg in pairs:
        a, b = _luminance(colours[fg]), _luminance(colours[bg])
        ratio = (max(a, b) + 0.05) / (min(a, b) + 0.05)
        assert ratio >= 4.5, (fg, bg, round(ratio, 2))
