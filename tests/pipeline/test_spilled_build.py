"""The build keeps its resources on disk (spill.py), not as dicts, and writes the same bytes."""

from __future__ import annotations

import copy
import gc
from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher import pipeline
from evidence_publisher.bundle import dependency_order
from evidence_publisher.bundle.transaction import dependency_indices
from evidence_publisher.jsonio import dumps
from evidence_publisher.pipeline import build, compile_mappings, iter_outputs, whole_text
from evidence_publisher.spill import SpilledResources

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "mappings" / "lupus-msc"
BASE = "https://x.org/fhir"


def _files(resources, report, order=None) -> dict[str, str]:
    return {rel: whole_text(t) for rel, t in iter_outputs(resources, report, BASE, order)}


def test_spilled_resources_read_back_as_stored() -> None:
    items: list[dict] = [
        {"resourceType": "Group", "id": "b", "quantity": Decimal("0.050"), "name": 'é\n"x"'},
        {"resourceType": "Evidence", "id": "z", "note": [{"text": "t"}]},
        {"resourceType": "Evidence", "id": "a"},
    ]
    store = SpilledResources()
    for item in items:
        store.append(item)
    assert list(store) == items and len(store) == 3
    assert store.text(0) == dumps(items[0], indent=None).encode("utf-8")
    assert dumps(store[0]) == dumps(items[0])  # the decimal keeps its digits
    store[1]["id"] = "changed"  # a copy: nothing stored changes
    assert store[1]["id"] == "z"
    store.sort()
    assert store.keys == [("Evidence", "a"), ("Evidence", "z"), ("Group", "b")]
    assert [r["id"] for r in store] == ["a", "z", "b"]
    view = store.view([2, 0])
    assert [r["id"] for r in view] == ["b", "a"] and view[1:] == [store[0]]


def test_a_resource_appended_as_stored_is_the_resource_appended() -> None:
    # what the compile memo replays (recorded, then append_stored into another build's store)
    # must read back as the original does: text, key fields, references, indented text
    items: list[dict] = [
        {"resourceType": "Group", "id": "b", "url": "u", "version": "1", "quantity": 1e16},
        {"resourceType": "Evidence", "id": "z", "identifier": [{"system": "s", "value": "v"}],
         "subject": {"reference": "Group/b"}, "name": 'é\n"x"'},
        {"resourceType": "Evidence", "id": "a"},
    ]  # fmt: skip
    first = SpilledResources()
    first.recorded = []
    for item in items:
        first.append(item)
    recorded = first.recorded
    assert recorded[0][5] is None  # 1e+16 reads back as 1E+16: its indented text is made on demand
    second = SpilledResources()
    second.append({"resourceType": "Evidence", "id": "before"})
    second.append_stored(recorded)
    second.append_stored(recorded[:1])
    assert [second.text(i) for i in (1, 2, 3, 4)] == [first.text(i) for i in (0, 1, 2, 0)]
    assert [second.key_fields(i) for i in (1, 2, 3)] == [first.key_fields(i) for i in range(3)]
    assert [second.refs(i) for i in (1, 2, 3)] == [first.refs(i) for i in range(3)] != [(), (), ()]
    assert [second.indented(i) for i in (1, 2, 3, 4)] == [first.indented(i) for i in (0, 1, 2, 0)]
    assert second.keys == [("Evidence", "before"), *first.keys, first.keys[0]]
    assert list(second)[1:] == [*items, items[0]]


def test_spilled_compile_writes_the_bytes_of_the_in_memory_compile() -> None:
    whole = compile_mappings([CORPUS])
    spilled = compile_mappings([CORPUS], spill=True)
    resources = spilled.compiled.resources
    assert isinstance(resources, SpilledResources)
    assert isinstance(whole.compiled.resources, list)
    assert spilled.report == whole.report
    order = resources.view(dependency_indices(resources))
    assert list(order) == dependency_order(whole.compiled.resources)
    assert _files(resources, spilled.report, order) == _files(whole.compiled.resources, whole.report)


def _resource_dicts(refs: set[str]) -> list[dict]:
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, dict)
        and isinstance(obj.get("resourceType"), str)
        and isinstance(obj.get("id"), str)
        and f"{obj['resourceType']}/{obj['id']}" in refs
    ]


def test_the_build_holds_no_resource_as_a_dict(tmp_path: Path) -> None:
    # Other tests in this process (fixtures of other modules, under xdist) may hold the seed
    # corpus' resources: only dicts that were not alive before the build count. Holding the
    # earlier ones keeps their ids from being reused by new dicts.
    refs = {f"{r['resourceType']}/{r['id']}" for r in compile_mappings([CORPUS]).compiled.resources}
    earlier = _resource_dicts(refs)
    held = {id(obj) for obj in earlier}

    def new_dicts_alive() -> int:
        return sum(1 for obj in _resource_dicts(refs) if id(obj) not in held)

    result = build([CORPUS], out_dir=tmp_path / "dist", validate=False)
    assert isinstance(result.resources, SpilledResources)
    assert {f"{rtype}/{rid}" for rtype, rid in result.resources.keys} == refs
    assert len(refs) > 30
    assert new_dicts_alive() == 0
    in_memory = compile_mappings([CORPUS])  # the check itself sees dicts when they are held
    assert new_dicts_alive() >= len(refs)
    del in_memory


def test_chunked_validation_writes_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build([CORPUS], out_dir=tmp_path / "whole")
    monkeypatch.setattr(pipeline, "VALIDATE_CHUNK", 7)
    build([CORPUS], out_dir=tmp_path / "chunked")
    rels = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*") if p.is_file())
    assert rels == sorted(
        p.relative_to(tmp_path / "chunked") for p in (tmp_path / "chunked").rglob("*") if p.is_file()
    )
    assert all((tmp_path / "whole" / r).read_bytes() == (tmp_path / "chunked" / r).read_bytes() for r in rels)


def test_chunked_validation_finds_what_whole_validation_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = copy.deepcopy(compile_mappings([CORPUS]).compiled.resources)
    assert isinstance(resources, list)
    broken = 0
    for res in resources:
        if res["resourceType"] == "Evidence" and broken < 3:
            res["status"] = "not-a-status"
            broken += 1
        if res["resourceType"] == "EvidenceVariable" and broken < 4:
            res["handling"] = "nonsense"  # a bad code in a resource the Evidence reference
            broken += 1
    order = dependency_order(resources)
    whole = pipeline._official_validation(resources, order, lambda _msg: None)
    monkeypatch.setattr(pipeline, "VALIDATE_CHUNK", 5)
    chunked = pipeline._official_validation(resources, order, lambda _msg: None)
    assert len(whole) >= 4
    assert chunked == whole


def test_each_chunk_resolves_the_references_of_its_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence_publisher.bundle.references import reference_values
    from evidence_publisher.validate import Validator

    resources = compile_mappings([CORPUS]).compiled.resources
    unresolved: list[str] = []
    validated: list[str] = []
    original = Validator.validate_into

    def spy(self, res, report, index, done, extra=None):
        validated.append(f"{res['resourceType']}/{res['id']}")
        unresolved.extend(ref for ref in reference_values(res) if index is None or index.resolve(ref) is None)
        original(self, res, report, index, done, extra)

    monkeypatch.setattr(Validator, "validate_into", spy)
    monkeypatch.setattr(pipeline, "VALIDATE_CHUNK", 5)
    pipeline._official_validation(resources, dependency_order(resources), lambda _msg: None)
    assert sorted(validated) == sorted(f"{r['resourceType']}/{r['id']}" for r in resources)
    assert any("/" in ref for r in resources for ref in reference_values(r))
    assert unresolved == []


@pytest.mark.parametrize(
    "value",
    [
        1e-05,
        1e16,
        2.5e-07,
        1.5e300,
        Decimal("-0"),
        [Decimal("-0"), 1],
        "1e-05",
        "a:-0,",
        "3e4f",
        Decimal("1E-7"),
    ],
)
def test_indented_text_is_that_of_the_resource_read_back(value: object) -> None:
    # floats written with an exponent and a Decimal -0 read back as other numbers: the indented
    # text written is always that of the resource as read back
    store = SpilledResources()
    store.append({"resourceType": "Group", "id": "g", "x": value, "name": "Stage 2e-cohort"})
    assert store.indented(0) == dumps(store[0])


def test_the_structural_check_in_workers_finds_what_one_process_finds() -> None:
    from evidence_publisher.build_validation import structural_problems_in_chunks
    from evidence_publisher.constants import DEFAULT_FHIR_VERSION
    from evidence_publisher.validate import structural_problems

    resources = copy.deepcopy(compile_mappings([CORPUS]).compiled.resources)
    assert isinstance(resources, list)
    resources[3]["status"] = ["not", "a", "code"]  # each in another chunk of five
    resources[17]["unknownElement"] = 1
    resources[-1]["id"] = {"not": "a string"}
    alone = structural_problems(resources, DEFAULT_FHIR_VERSION)
    assert len(alone) >= 3
    assert structural_problems_in_chunks(resources, DEFAULT_FHIR_VERSION, 5, 2) == alone
    spilled = SpilledResources()
    for res in resources:
        spilled.append(res)
    assert structural_problems_in_chunks(spilled, DEFAULT_FHIR_VERSION, 5, 2) == alone
