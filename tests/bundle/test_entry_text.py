"""What a spilled resource records when stored, and the Bundle entries made from its text, equal
what the dict-based functions find and make: on tricky values and on every seed resource."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.bundle.resources import BASE, canonical, identified

from evidence_publisher.bundle.collection import collection_entries, collection_entry_texts
from evidence_publisher.bundle.entry_text import collection_entry_text, transaction_entry_text
from evidence_publisher.bundle.references import reference_values
from evidence_publisher.bundle.transaction import (
    dependency_indices,
    dependency_order,
    resource_key,
    transaction_entries,
    transaction_entry_texts,
)
from evidence_publisher.jsonio import dumps
from evidence_publisher.pipeline import compile_mappings
from evidence_publisher.reference_strings import compact_reference_values
from evidence_publisher.spill import SpilledResources

CORPUS = Path(__file__).resolve().parents[2] / "mappings" / "lupus-msc"

TRICKY_STRINGS = [
    'say "reference": "Group/x"',
    '{"reference":"Group/x"}',
    ',"reference":"Group/y",',
    '\n  "reference": "Group/z"\n',
    "back\\slash\\",
    "ends with a backslash \\",
    "é \u2028 \u2029 \x00 \x1f \x7f",
    '\n  "id": "a",',
]


def _tricky() -> list[dict]:
    group = identified("Group", "g1", name=TRICKY_STRINGS[0], _id={"extension": []})
    evidence = canonical(
        "Evidence",
        "e1",
        description=TRICKY_STRINGS[1],
        note=[{"text": t} for t in TRICKY_STRINGS],
        statistic=[{"quantity": {"value": Decimal("0.050")}, "reference": "kept as text"}],
        variableDefinition=[
            {"observed": {"reference": "Group/g1", "display": TRICKY_STRINGS[2]}},
            {"observed": {"reference": "Group/missing"}},
            {"intended": {"reference": "https://elsewhere.org/Group/1"}},
            {"observed": {"reference": 'Group/"quoted\\"'}},
            {"observed": {"reference": "Gr\u00e9up/\u2028"}},
        ],
        relatesTo=[{"targetReference": {"reference": "Group/g1"}}],
        contained=[identified("Group", "inner", member=[{"entity": {"reference": "Group/g1"}}])],
    )
    study = identified(
        "ResearchStudy",
        "s1",
        focus=[{"reference": {"reference": "Evidence/e1"}}],  # a CodeableReference
        title=TRICKY_STRINGS[3],
        description=TRICKY_STRINGS[7],
    )
    return [group, evidence, study, identified("Group", "no-refs")]


def _stored(resources: list[dict]) -> SpilledResources:
    store = SpilledResources()
    for res in resources:
        store.append(res)
    return store


@pytest.fixture(scope="module")
def seed() -> list[dict]:
    resources = compile_mappings([CORPUS]).compiled.resources
    assert isinstance(resources, list) and len(resources) > 30
    return resources


@pytest.mark.parametrize("which", ["tricky", "seed"])
def test_recorded_facts_are_what_the_resource_holds(which: str, seed: list[dict]) -> None:
    resources = _tricky() if which == "tricky" else seed
    store = _stored(resources)
    for i, res in enumerate(resources):
        assert store.refs(i) == tuple(sorted(set(reference_values(res)))), res["id"]
        assert resource_key(store.key_fields(i)) == resource_key(res)
        assert store.indented(i) == dumps(store[i]) == dumps(res)
        assert store.indented(i) == dumps(res)  # read back from disk the second time
    if which == "tricky":
        assert set(store.refs(1)) == {
            "Group/g1",
            "Group/missing",
            "https://elsewhere.org/Group/1",
            'Group/"quoted\\"',
            "Gr\u00e9up/\u2028",
            "kept as text",  # any string ``reference`` member counts, as in reference_values
        }


def test_compact_reference_values_ignore_look_alikes_inside_strings() -> None:
    res = {"a": TRICKY_STRINGS, "b": {"reference": 'x","reference":"y'}, "c": [{"reference": "z\\"}]}
    assert sorted(compact_reference_values(dumps(res, indent=None))) == ['x","reference":"y', "z\\"]


@pytest.mark.parametrize("which", ["tricky", "seed"])
def test_entries_from_text_are_the_entries_from_dicts(which: str, seed: list[dict]) -> None:
    resources = _tricky() if which == "tricky" else seed
    resources = sorted(resources, key=lambda r: (r["resourceType"], r["id"]))
    store = _stored(resources)
    order = store.view(dependency_indices(store))
    assert list(order) == dependency_order(resources)
    expected = [dumps(e)[:-1] for e in collection_entries(resources, BASE, dependency_order(resources))]
    assert list(collection_entry_texts(store, BASE, order)) == expected
    assert list(collection_entry_texts(store, BASE)) == expected
    expected = [dumps(e)[:-1] for e in transaction_entries(resources)]
    assert list(transaction_entry_texts(store, order)) == expected
    assert list(transaction_entry_texts(resources)) == expected


def test_entry_text_of_one_resource() -> None:
    res = {
        "resourceType": "Group",
        "id": "g",
        "_id": {"id": "x"},
        "member": [{"entity": {"reference": "Group/h"}}],
    }
    text = dumps(res)
    assert collection_entry_text("u:1", text) == dumps({"fullUrl": "u:1", "resource": res})[:-1]
    full_urls: dict[str, str] = {"Group/h": "urn:uuid:h"}
    made = transaction_entry_text("u:1", "Group?x=1", text, "g", full_urls.get)
    body = {"resourceType": "Group", "_id": {"id": "x"}, "member": [{"entity": {"reference": "urn:uuid:h"}}]}
    entry = {"fullUrl": "u:1", "request": {"method": "PUT", "url": "Group?x=1"}, "resource": body}
    assert made == dumps(entry)[:-1]
    assert transaction_entry_text("u:1", "Group?x=1", text, "other", full_urls.get) is None  # no such id line


def test_indented_text_is_that_of_the_resource_read_back() -> None:
    """A float with an exponent and a Decimal -0 read back as other numbers: the text written is
    the one read back (as before the text was made at store time); look-alikes in strings too."""
    resources = [
        {"resourceType": "Group", "id": "a", "quantity": 1e-05},
        {"resourceType": "Group", "id": "b", "quantity": 1e16, "name": "x"},
        {"resourceType": "Group", "id": "c", "quantity": Decimal("-0")},
        {"resourceType": "Group", "id": "d", "name": "1e5 :-0]", "quantity": Decimal("0.050")},
        {"resourceType": "Group", "id": "e", "quantity": Decimal("1E+400"), "n": [Decimal("-0.0"), -1]},
    ]
    store = _stored(resources)
    for i in range(len(resources)):
        assert store.indented(i) == dumps(store[i])
    assert '"quantity": 0.00001' in store.indented(0) and '"quantity": 1E+16' in store.indented(1)
    assert '"quantity": 0,' in store.indented(2)
