"""`validate` of many files: one resource at a time, the same outcomes with any number of jobs,
progress in a pipe, and a summary that stays short at 80,000 resources."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from rich.console import Console

from evidence_publisher import cli_render, workers
from evidence_publisher.cli import _print_validation, main
from evidence_publisher.cli_render import JsonListSpool
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps, load_file
from evidence_publisher.validate import stream
from evidence_publisher.validate.stream import Checked, FileValidation, RefIndex
from evidence_publisher.validate.summary import MAX_ROWS, ValidationSummary

from .snapshot_outcomes import build_seed

EBM = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"


@pytest.fixture(scope="module")
def seed_dist(tmp_path_factory) -> Path:
    return build_seed(tmp_path_factory.mktemp("stream-seed"))


def _json_run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["validate", *args, "--format", "json"])
    return code, capsys.readouterr().out


# ------------------------------------------------------------------------------------ streaming
def test_resources_are_read_one_at_a_time(validator, seed_dist: Path, monkeypatch):
    """The first outcome comes before the second file is read for validation, and outcomes do
    not carry their resources."""
    reads: list[str] = []
    real = stream.read_documents

    def counting(path: Path):
        reads.append(str(path))
        return real(path)

    monkeypatch.setattr(stream, "read_documents", counting)
    run = iter(FileValidation(validator, [seed_dist], jobs=1))
    first = next(run)
    assert len(reads) == 1  # the first pass reads with read_texts; validation has read one file
    assert first.resource is None
    second = next(run)
    assert len(reads) == 2 and second.source != first.source


class _CountedChunks(list):
    """Chunks that count how many were taken to hand out to the workers."""

    taken = 0

    def __iter__(self):
        for chunk in super().__iter__():
            self.taken += 1
            yield chunk


def test_workers_get_only_a_few_chunks_ahead_of_the_results_taken(monkeypatch):
    monkeypatch.setattr(workers, "IN_FLIGHT", 1)
    chunks = _CountedChunks([["ab", "c"]] * 100)
    results = workers.pool_map(1, len, chunks, len(chunks))
    assert next(results) == [2, 1]
    time.sleep(0.5)  # the pool's task thread would hand out every chunk now if nothing held it
    assert chunks.taken <= 3
    results.close()


def test_references_resolve_to_an_outline_not_the_resource(tmp_path: Path):
    target = {"resourceType": "Group", "id": "g", "meta": {"profile": [EBM + "study-group"]}, "name": "x"}
    (tmp_path / "g.json").write_text(dumps(target))
    index = RefIndex()
    index.place("Group/g", str(tmp_path / "g.json"), 0, stream.outline(target))
    assert index.resolve("Group/g") == {"resourceType": "Group", "id": "g", "meta": target["meta"]}
    assert index.resolve_full("https://example.org/fhir/Group/g") == target
    assert index.resolve("Group/other") is None


def test_a_reference_to_another_file_is_checked_against_its_target(validator, seed_dist, tmp_path):
    """The EBM rules read the target's claimed profiles through the index of the group."""
    dist = tmp_path / "dist"
    shutil.copytree(seed_dist, dist)
    group = dist / "resources" / "Group-gu-2014-population.json"
    data = load_file(group)
    data["meta"]["profile"] = [EBM + "evidence-variable"]
    group.write_text(dumps(data))
    report = validator.validate_files([dist])
    issues = [
        i["diagnostics"]
        for (res, o) in report.outcomes
        if res.get("id") == "gu-2014-apparent-adverse-effects"
        for i in o["issue"]
    ]
    assert any(d.startswith("[ebm-nce-population]") and "target claims" in d for d in issues), issues


# ------------------------------------------------------------------------------------ --jobs
def test_two_jobs_give_the_same_output_as_one(seed_dist: Path, capsys, monkeypatch):
    monkeypatch.setattr(stream, "POOL_FROM_FILES", 1)
    monkeypatch.setattr(stream, "CHUNK_FILES", 7)
    pools = []
    real = stream.pool_map

    def counting(*args):
        pools.append(args[0])
        return real(*args)

    monkeypatch.setattr(stream, "pool_map", counting)
    one = _json_run([str(seed_dist), "--jobs", "1"], capsys)
    assert pools == []
    two = _json_run([str(seed_dist), "--jobs", "2"], capsys)
    assert pools == [2, 2]  # both passes ran in the pool
    assert one == two
    assert len(json.loads(two[1])["outcomes"]) == len(list((seed_dist / "resources").glob("*.json")))


def test_an_input_error_in_a_worker_is_raised_as_usual(seed_dist: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(stream, "POOL_FROM_FILES", 1)
    monkeypatch.setenv("EP_MAX_DEPTH", "3")
    dist = tmp_path / "dist"
    shutil.copytree(seed_dist, dist)
    assert main(["validate", str(dist), "--jobs", "2"]) == ExitCode.INPUT_LIMIT


def test_broken_documents_come_first_in_their_group_as_before(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(stream, "POOL_FROM_FILES", 1)
    good = {"resourceType": "Basic", "id": "b", "code": {"text": "x"}}
    (tmp_path / "a.ndjson").write_text(dumps(good, indent=None) + "\n{oops\n")
    for jobs in ("1", "2"):
        _code, out = _json_run([str(tmp_path / "a.ndjson"), "--jobs", jobs], capsys)
        labels = [o["resource"] for o in json.loads(out)["outcomes"]]
        assert labels == [f"{tmp_path / 'a.ndjson'}:2", "Basic/b"]


# ------------------------------------------------------------------------------------ output
def test_progress_lines_in_a_pipe(seed_dist: Path, capsys, monkeypatch):
    monkeypatch.setattr(cli_render, "PIPE_PROGRESS_SECONDS", 0.001)
    assert main(["validate", str(seed_dist), "--jobs", "1"]) == ExitCode.OK
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("note:")]
    assert any(re.fullmatch(r"validating resources\.\.\. \(\d+%, \d+ s\)", line) for line in lines), err
    assert not any("\r" in line or "\x1b" in line for line in lines)


def _checked(n: int) -> Checked:
    rtype = ("Evidence", "EvidenceVariable", "Group")[n % 3]
    issues = [{"severity": "warning", "code": "business-rule", "diagnostics": "[ebm-a] say more"}]
    if n % 10 == 0:
        issues.append({"severity": "error", "code": "value", "diagnostics": "[id-format] bad id"})
    return Checked(f"resources/{rtype}-{n}.json", f"{rtype}/r{n}", rtype, {"issue": issues})


def test_the_summary_of_80000_resources_is_counts_not_rows():
    summary = ValidationSummary()
    for n in range(80_000):
        summary.add(_checked(n))
    out = io.StringIO()
    _print_validation(Console(file=out, width=200), summary)
    lines = out.getvalue().splitlines()
    assert len(lines) < MAX_ROWS + 20
    assert lines[0].startswith("file\t")
    assert lines[MAX_ROWS + 1] == (
        f"{88_000 - MAX_ROWS:,} more problems not listed (the first {MAX_ROWS} are); "
        "--format json gives every outcome"
    )
    by_type = lines[lines.index("# by type") + 1 :][:4]
    assert by_type[1:] == [
        "Evidence\t26,667\t2,667\t2,667\t26,667",
        "EvidenceVariable\t26,667\t2,667\t2,667\t26,667",
        "Group\t26,666\t2,666\t2,666\t26,666",
    ]
    problems = lines[lines.index("# problems by rule") + 1 :][:3]
    assert problems[1:] == [
        "error\tid-format\t8,000\t8,000\tbad id",
        "warning\tebm-a\t80,000\t80,000\tsay more",
    ]
    assert lines[-1] == "80000 resources: 8000 errors, 80000 warnings"


def test_errors_only_keeps_the_rows_for_errors():
    summary = ValidationSummary(errors_only=True)
    for n in range(100):
        summary.add(_checked(n))
    assert [r.rule for r in summary.rows] == ["id-format"] * 10
    assert summary.warnings == 100


@pytest.mark.parametrize("items", [[], [{"b": [1, {"x": "é"}], "a": None}, {"c": {}}, "text", 2]])
def test_the_spooled_json_is_what_dumps_writes(items):
    out = io.StringIO()
    with JsonListSpool("outcomes") as spool:
        for item in items:
            spool.add(item)
        spool.write_document(Console(file=out), {"errors": 1, "warnings": 0, "notes": ["n"]})
    assert out.getvalue() == dumps({"errors": 1, "warnings": 0, "notes": ["n"], "outcomes": items})
