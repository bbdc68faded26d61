"""`validate` input is untrusted: bounded reading, duplicate keys as errors, stdin, empty inputs,
links, and a build output validated once."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from evidence_publisher.jsonio import dumps

from .input_helpers import FHIR_CACHE, assert_clean_failure, run

PATIENT = {"resourceType": "Patient", "id": "p1", "active": True}


@pytest.fixture(autouse=True)
def _package_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(FHIR_CACHE))


def validate_json(args: list[str], capsys) -> tuple[int, dict | None, str]:
    code, out, err = run(["validate", *args, "--format", "json"], capsys)
    return code, (json.loads(out) if out.strip() else None), err


def issues_of(doc: dict | None, rule: str) -> list[tuple[str, str, list[str]]]:
    return [
        (o["resource"], i["diagnostics"], i["expression"])
        for o in doc["outcomes"]
        for i in o["outcome"]["issue"]
        if i["diagnostics"].startswith(f"[{rule}]")
    ]


def test_duplicate_key_is_an_error_with_its_path(tmp_path: Path, capsys) -> None:
    f = tmp_path / "p.json"
    f.write_text('{"resourceType": "Patient", "id": "a", "active": true, "id": "b"}')
    code, doc, err = validate_json([str(f)], capsys)
    assert code == 12, err
    found = issues_of(doc, "json-duplicate-key")
    assert len(found) == 1
    resource, diagnostics, expression = found[0]
    assert resource == "Patient/b" and expression == ["Patient.id"]
    assert "'id' appears more than once" in diagnostics


def test_duplicate_key_inside_a_bundle_entry_is_on_that_entry(tmp_path: Path, capsys) -> None:
    entry = '{"fullUrl": "urn:uuid:0b7e5f5a-1111-4d3a-9a0e-000000000001", "resource": ' + (
        '{"resourceType": "Patient", "id": "p", "gender": "male", "gender": "female"}}'
    )
    f = tmp_path / "b.json"
    f.write_text('{"resourceType": "Bundle", "type": "collection", "entry": [' + entry + "]}")
    code, doc, err = validate_json([str(f)], capsys)
    assert code == 12, err
    assert issues_of(doc, "json-duplicate-key") == [
        (
            "Patient/p",
            "[json-duplicate-key] the JSON key 'gender' appears more than once in the same object; JSON "
            "readers keep one of the values (which one differs between readers)",
            ["Patient.gender"],
        )
    ]


def test_duplicate_key_on_an_ndjson_line(tmp_path: Path, capsys) -> None:
    f = tmp_path / "p.ndjson"
    f.write_text(dumps(PATIENT, indent=None) + "\n" + '{"resourceType": "Patient", "id": "q", "id": "q"}\n')
    code, doc, err = validate_json([str(f)], capsys)
    assert code == 12, err
    assert [(r, e) for r, _d, e in issues_of(doc, "json-duplicate-key")] == [("Patient/q", ["Patient.id"])]


def test_deeply_nested_input_is_a_limit(tmp_path: Path, capsys) -> None:
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    code, _out, err = run(["validate", str(f)], capsys)
    assert_clean_failure(code, err, 14)
    assert "deep.json: nesting too deep to parse, over the nesting depth limit of 100 levels" in err
    assert "--max-depth N or EP_MAX_DEPTH" in err


def test_nesting_just_over_the_limit(tmp_path: Path, capsys) -> None:
    f = tmp_path / "deep.json"
    f.write_text('{"resourceType": "Patient", "extension": ' + "[" * 150 + "]" * 150 + "}")
    code, _out, err = run(["validate", str(f)], capsys)
    assert_clean_failure(code, err, 14)
    assert "nesting of more than 100 levels" in err


def test_size_limit(tmp_path: Path, capsys, monkeypatch) -> None:
    f = tmp_path / "p.json"
    f.write_text(dumps(PATIENT))
    monkeypatch.setenv("EP_MAX_INPUT_BYTES", "20")
    code, _out, err = run(["validate", str(f)], capsys)
    assert_clean_failure(code, err, 14)
    assert "p.json: " in err and "over the JSON input size limit of 20 bytes" in err


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_stdin_json(monkeypatch, capsys) -> None:
    _stdin(monkeypatch, dumps(PATIENT).encode())
    code, doc, err = validate_json(["-"], capsys)
    assert code == 0, err
    assert [(o["source"], o["resource"]) for o in doc["outcomes"]] == [("<stdin>", "Patient/p1")]


def test_stdin_ndjson(monkeypatch, capsys) -> None:
    other = {**PATIENT, "id": "p2"}
    _stdin(monkeypatch, (dumps(PATIENT, indent=None) + "\n" + dumps(other, indent=None) + "\n").encode())
    code, doc, err = validate_json(["-"], capsys)
    assert code == 0, err
    assert [o["resource"] for o in doc["outcomes"]] == ["Patient/p1", "Patient/p2"]


def test_stdin_pretty_printed_json_is_not_taken_for_ndjson(monkeypatch, capsys) -> None:
    _stdin(monkeypatch, json.dumps(PATIENT, indent=2).encode())
    code, doc, err = validate_json(["-"], capsys)
    assert code == 0, err
    assert len(doc["outcomes"]) == 1


def test_stdin_over_the_size_limit(monkeypatch, capsys) -> None:
    monkeypatch.setenv("EP_MAX_INPUT_BYTES", "10")
    _stdin(monkeypatch, dumps(PATIENT).encode())
    code, _out, err = run(["validate", "-"], capsys)
    assert_clean_failure(code, err, 14)
    assert "<stdin>: more than 10 bytes" in err


def test_empty_directory_is_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = run(["validate", str(tmp_path / "empty")], capsys)
    assert_clean_failure(code, err, 2)
    assert "nothing to validate:" in err and "empty' is empty" in err
    assert "0 resources" not in out


def test_directory_without_json_says_what_it_holds(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "data.xml").write_text("<x/>")
    code, _out, err = run(["validate", str(tmp_path)], capsys)
    assert_clean_failure(code, err, 2)
    assert "holds no .json, .ndjson or .jsonl files (it holds data.xml, notes.txt)" in err


def test_only_non_fhir_json_is_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "config.json").write_text('{"name": "x"}')
    code, _out, err = run(["validate", str(tmp_path)], capsys)
    assert_clean_failure(code, err, 2)
    assert "no FHIR resources to validate (found only JSON without resourceType:" in err
    assert "config.json" in err


def test_build_output_is_validated_once(built_corpus: Path, tmp_path: Path, capsys) -> None:
    dist = tmp_path / "dist"
    shutil.copytree(built_corpus, dist)
    extra = {**PATIENT, "id": "extra"}
    (dist / "extra.json").write_text(dumps(extra))
    code, doc, err = validate_json([str(dist)], capsys)
    assert code == 0, err
    n_files = len(list((dist / "resources").glob("*.json")))
    labels = [o["resource"] for o in doc["outcomes"]]
    assert len(labels) == n_files + 1 == len(set(labels))
    assert "Patient/extra" in labels
    assert "is a build output (build-report.json): validating the" in err
    assert doc["notes"] and "once each" in doc["notes"][0]
    assert not any("bundle-" in o["source"] or "ndjson" in o["source"] for o in doc["outcomes"])


def test_a_named_bundle_of_a_build_is_still_validated(built_corpus: Path, capsys) -> None:
    code, doc, err = validate_json([str(built_corpus / "bundle-collection.json")], capsys)
    assert code == 0, err
    assert doc["outcomes"][0]["resource"].startswith("Bundle")


def test_links_found_in_a_directory_are_reported(tmp_path: Path, capsys) -> None:
    (tmp_path / "p.json").write_text(dumps(PATIENT))
    os.symlink("self.json", tmp_path / "self.json")
    os.symlink("gone.json", tmp_path / "dangling.json")
    os.symlink(".", tmp_path / "loop")  # a link to a directory is not followed
    code, doc, err = validate_json([str(tmp_path)], capsys)
    assert code == 12, err
    fatal = {o["source"]: o["outcome"]["issue"][0]["diagnostics"] for o in doc["outcomes"] if "source" in o}
    reasons = {Path(s).name: d for s, d in fatal.items() if s.endswith(("self.json", "dangling.json"))}
    assert "a symbolic link that loops" in reasons["self.json"]
    assert "a symbolic link to 'gone.json', which does not exist" in reasons["dangling.json"]


def test_named_link_loop_is_a_usage_error(tmp_path: Path, capsys) -> None:
    os.symlink("self.json", tmp_path / "self.json")
    code, _out, err = run(["validate", str(tmp_path / "self.json")], capsys)
    assert_clean_failure(code, err, 2)
    assert "is a symbolic link that loops" in err


def test_latin1_json_is_a_fatal_issue(tmp_path: Path, capsys) -> None:
    f = tmp_path / "p.json"
    f.write_bytes('{"resourceType": "Patient", "name": [{"text": "José"}]}'.encode("latin-1"))
    code, doc, err = validate_json([str(f)], capsys)
    assert code == 12, err
    diagnostics = doc["outcomes"][0]["outcome"]["issue"][0]["diagnostics"]
    assert "not valid JSON: byte 0xE9 at line 1, column 51 is not UTF-8" in diagnostics


def test_malformed_role_extension_is_an_error_not_a_crash(built_corpus: Path, tmp_path: Path, capsys) -> None:
    """Found by the fuzz test: a list where the EBM role extension has its code made the EBM
    rules raise (reported as an internal validator error) instead of reporting the JSON error."""
    evidence = json.loads(next((built_corpus / "resources").glob("Evidence-*.json")).read_text())
    ext = evidence["variableDefinition"][0]["extension"][0]
    ext["valueCode"] = [ext["valueCode"]]
    f = tmp_path / "ev.json"
    f.write_text(dumps(evidence))
    code, doc, err = validate_json([str(f)], capsys)
    assert code == 12, err
    diagnostics = [i["diagnostics"] for o in doc["outcomes"] for i in o["outcome"]["issue"]]
    assert not [d for d in diagnostics if "internal validator error" in d]
    assert any(d.startswith("[json-array]") for d in diagnostics)
