"""`evidence-publisher validate`: inputs, output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps

from . import ebm_fixtures as fx


def _write(path: Path, obj) -> Path:
    path.write_text(dumps(obj))
    return path


def test_valid_files_exit_0_and_json_lists_outcomes(tmp_path: Path, capsys):
    _write(tmp_path / "bundle.json", fx.bundle())
    nd = tmp_path / "more.ndjson"
    nd.write_text(dumps(fx.group(), indent=None) + "\n" + dumps(fx.variable(), indent=None) + "\n")
    code = main(["validate", str(tmp_path), "--format", "json"])
    assert code == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == 0
    resources = [(o["source"], o["resource"]) for o in doc["outcomes"]]
    assert (str(tmp_path / "bundle.json"), "Evidence/remission") in resources
    assert (str(nd), "Group/cohort") in resources
    assert all(o["outcome"]["resourceType"] == "OperationOutcome" for o in doc["outcomes"])


def test_errors_exit_12_with_a_table(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at 80 columns when not on a terminal
    ev = fx.evidence()
    ev["status"] = "bogus"
    f = _write(tmp_path / "ev.json", ev)
    code = main(["validate", str(f)])
    out = capsys.readouterr().out
    assert code == ExitCode.INVALID_OUTPUT == 12
    assert "publication-status" in out and "Evidence.status" in out
    assert "1 errors" in out


def test_warnings_alone_exit_0(tmp_path: Path, capsys):
    ev = fx.evidence()
    ev["name"] = "lower_case"  # cnl-0 is a warning
    code = main(["validate", str(_write(tmp_path / "ev.json", ev)), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK and doc["errors"] == 0 and doc["warnings"] == 1


def test_unparseable_json_is_a_fatal_issue(tmp_path: Path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    code = main(["validate", str(tmp_path / "broken.json"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.INVALID_OUTPUT
    assert doc["outcomes"][0]["outcome"]["issue"][0]["severity"] == "fatal"


def test_missing_path_is_a_usage_error(tmp_path: Path):
    assert main(["validate", str(tmp_path / "nope.json")]) == ExitCode.USAGE


def test_package_problems_use_the_packages_exit_code(tmp_path: Path, monkeypatch):
    from evidence_publisher.packages import PackageUnavailableError
    from evidence_publisher.validate import adapter

    def unavailable(cache=None, progress=None, fhir=None):
        raise PackageUnavailableError("hl7.fhir.r5.core#5.0.0 is not cached and cannot be fetched")

    monkeypatch.setattr(adapter, "load_definitions", unavailable)
    f = _write(tmp_path / "ev.json", fx.evidence())
    assert main(["validate", str(f)]) == ExitCode.PACKAGE_UNAVAILABLE


def test_public_api():
    import evidence_publisher.validate as v

    assert all(hasattr(v, name) for name in v.__all__)
    for name in ("Validator", "ValidationReport", "Issue", "operation_outcome"):
        assert name in v.__all__
    assert callable(v.Validator.from_cache)
