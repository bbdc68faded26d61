"""A large input's file list and references index on disk (validate/spill.py): the same order,
the same answers and the same outcomes as in memory, and nothing left behind."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.jsonio import dumps, load_file
from evidence_publisher.validate import inputs, spill, stream
from evidence_publisher.validate.stream import DiskRefIndex, RefIndex

from .snapshot_outcomes import build_seed

EBM = "http://hl7.org/fhir/uv/ebm/StructureDefinition/"


@pytest.fixture(scope="module")
def seed_dist(tmp_path_factory) -> Path:
    return build_seed(tmp_path_factory.mktemp("spill-seed"))


def _old_scan(directory: Path) -> list[Path]:
    """What ``validate`` read before: os.walk, then sorted Path objects."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root) / f
            for f in files
            if Path(f).suffix.lower() in inputs.SUFFIXES and not f.startswith(".")
        )
    return sorted(found)


@pytest.mark.parametrize("spill_from", [1, 3, 10_000])
def test_a_directory_is_listed_in_the_same_order_in_memory_and_on_disk(tmp_path, monkeypatch, spill_from):
    monkeypatch.setattr(spill, "SPILL_FROM", spill_from)
    names = ["a-c.json", "a/b.json", "a/b/c.json", "a.b.JSON", "B.json", "b.ndjson", "é.json", "z.jsonl"]
    names += ["e\u0301.json", "\U0001f600.json", ".hidden.json", ".dot/x.json", "x.txt", "a/z.json"]
    names += ["\udcff.json"]  # a name that is not UTF-8
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    plan = inputs.plan_inputs([tmp_path])
    try:
        listed = [Path(p) for group in plan.groups for p, _explicit in group]
        assert listed == _old_scan(tmp_path)
        assert len(listed) == 12
        # each file of a plain directory is its own group
        assert [isinstance(g, spill.Paths) for g in plan.groups] == [False] * 12
    finally:
        plan.close()


def test_a_build_output_s_resources_spill_to_disk_and_the_file_is_removed(seed_dist, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_FROM", 5)
    plan = inputs.plan_inputs([seed_dist])
    group = plan.groups[0]
    assert isinstance(group, spill.Paths) and group.spilled
    assert [Path(p) for p, _e in group] == sorted((seed_dist / "resources").glob("*.json"))
    path = plan.store._path
    assert path is not None and Path(path).exists()
    plan.close()
    assert not Path(path).exists()


def _outlines() -> list[tuple[str, str, int, stream.Outline | None]]:
    return [
        ("Group/g", "/d/Group-g.json", 0, ("Group", (EBM + "study-group",), None)),
        ("Group/g", "/d/other.json", 3, ("Group", (), None)),  # the first one wins
        ("Evidence/e", "/d/e.ndjson", 2, ("Evidence", None, ("a", None, "b"))),
        ("Basic/odd", "/d/odd.json", 0, None),  # read again in full when resolved
        ("Basic/\udcff", "/d/\udcff.json", 0, ("Basic", None, None)),  # not UTF-8
    ]


@pytest.mark.parametrize("ref", ["Group/g", "Evidence/e", "https://x.org/fhir/Group/g", "Group/nope", "#x"])
def test_the_index_on_disk_gives_the_same_answers(ref):
    memory, store = RefIndex(), spill.Store()
    disk = DiskRefIndex(store)
    try:
        for key, path, ordinal, outline in _outlines():
            memory.place(key, path, ordinal, outline)
            disk.place(key, path, ordinal, outline)
        disk.seal()
        for key, *_rest in _outlines():
            assert disk.lookup(key) == memory.lookup(key)
        assert disk.resolve(ref) == memory.resolve(ref)
    finally:
        store.close()


def test_resolve_full_reads_the_target_from_its_file_on_disk(tmp_path):
    target = {"resourceType": "Group", "id": "g", "name": "x", "meta": {"profile": [EBM + "study-group"]}}
    (tmp_path / "g.json").write_text(dumps(target))
    store = spill.Store()
    index = DiskRefIndex(store)
    index.place("Group/g", str(tmp_path / "g.json"), 0, stream.outline(target))
    index.seal()
    try:
        assert index.resolve_full("Group/g") == target
        assert index.resolve("Group/g") == {"resourceType": "Group", "id": "g", "meta": target["meta"]}
    finally:
        store.close()


def _json_outcomes(args: list[str], capsys) -> tuple[int, str]:
    code = main(["validate", *args, "--format", "json"])
    return code, capsys.readouterr().out


def test_outcomes_are_the_same_with_the_index_on_disk_and_any_jobs(seed_dist, tmp_path, capsys, monkeypatch):
    dist = tmp_path / "dist"
    shutil.copytree(seed_dist, dist)
    group = dist / "resources" / "Group-gu-2014-population.json"
    data = load_file(group)
    data["meta"]["profile"] = [EBM + "evidence-variable"]  # the references to it are now wrong
    group.write_text(dumps(data))
    monkeypatch.setattr(stream, "POOL_FROM_FILES", 1)
    monkeypatch.setattr(stream, "CHUNK_FILES", 3)
    made: list[spill.Store] = []
    real_init = spill.Store.__init__

    def tracked(self):
        real_init(self)
        made.append(self)

    monkeypatch.setattr(spill.Store, "__init__", tracked)
    runs = {}
    for spill_from in (10_000, 2):
        monkeypatch.setattr(spill, "SPILL_FROM", spill_from)
        for jobs in ("1", "2"):
            runs[(spill_from, jobs)] = _json_outcomes([str(dist), "--jobs", jobs], capsys)
    first = runs[(10_000, "1")]
    assert all(run == first for run in runs.values())
    issues = [i["diagnostics"] for o in json.loads(first[1])["outcomes"] for i in o["outcome"]["issue"]]
    assert any(d.startswith("[ebm-nce-population]") and "target claims" in d for d in issues)
    on_disk = [s._path for s in made if s._path is not None]
    assert on_disk and not any(Path(p).exists() for p in on_disk)  # used, then removed


def test_what_workers_send_back_arrives_whole():
    checked = stream.Checked("f.json", "Group/g", "Group", {"issue": []}, True, {"resourceType": "Group"})
    doc = stream._Doc(3, "Group/g", True, checked, ("Group", ("p",), (None, "n")))
    assert pickle.loads(pickle.dumps([checked, doc])) == [checked, doc]
