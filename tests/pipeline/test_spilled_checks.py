"""The build's checks read what a spilled resource recorded when stored: they find the same
problems, with the same messages, as on the resources as dicts."""

from __future__ import annotations

import pytest
from tests.bundle.resources import canonical, identified

from evidence_publisher.build_cache import validation_keys
from evidence_publisher.build_summary import counts_by_type
from evidence_publisher.bundle.errors import BundleError
from evidence_publisher.bundle.transaction import transaction_entries, transaction_entry_texts
from evidence_publisher.pipeline import dangling_references, output_count
from evidence_publisher.spill import SpilledResources


def _stored(resources: list[dict]) -> SpilledResources:
    store = SpilledResources()
    for res in resources:
        store.append(res)
    return store


def _resources() -> list[dict]:
    return [
        identified("Group", "g1"),
        canonical(
            "Evidence",
            "e1",
            variableDefinition=[
                {"observed": {"reference": "Group/g1"}},
                {"observed": {"reference": "Group/gone"}},
                {"intended": {"reference": "https://elsewhere.org/Group/1"}},
            ],
            contained=[identified("Group", "in", member=[{"entity": {"reference": "Group/also-gone"}}])],
        ),
        identified("ResearchStudy", "s1", focus=[{"reference": {"reference": "Evidence/e1"}}]),
    ]


def test_dangling_references_are_found_as_in_dicts() -> None:
    store = _stored(_resources())
    found = dangling_references(store)
    assert found == dangling_references(list(store))  # the dicts read back, keys sorted
    assert len(found) == 2 and "Evidence/e1 Evidence.variableDefinition[1].observed: reference" in found[1]


def test_counts_keys_and_file_count_are_those_of_the_dicts() -> None:
    resources = _resources()
    store = _stored(resources)
    assert (
        counts_by_type(store)
        == counts_by_type(resources)
        == [("Evidence", 1), ("Group", 1), ("ResearchStudy", 1)]
    )
    assert output_count(store) == output_count(resources) == 3 + 3 + 3
    assert validation_keys(store, "pkgs") == validation_keys(resources, "pkgs")


@pytest.mark.parametrize(
    "resources",
    [
        [identified("Group", "a"), {"resourceType": "Group", "id": "b", "identifier": [{"system": "s"}]}],
        [identified("Group", "a"), {**identified("Group", "a"), "id": "b"}],  # the same key twice
    ],
)
def test_transaction_key_problems_are_reported_as_for_dicts(resources: list[dict]) -> None:
    with pytest.raises(BundleError) as from_dicts:
        transaction_entries(resources)
    with pytest.raises(BundleError) as from_store:
        transaction_entry_texts(_stored(resources))
    assert str(from_store.value) == str(from_dicts.value)
