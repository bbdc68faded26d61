"""bundle/transaction.py: transaction Bundles of conditional updates."""

from __future__ import annotations

import copy
import itertools
import uuid
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_publisher.bundle import (
    BundleError,
    conditional_url,
    dependency_order,
    entry_full_url,
    is_replayable,
    resource_key,
    transaction_bundle,
)
from evidence_publisher.errors import EvidencePublisherError, ExitCode
from evidence_publisher.jsonio import dumps

from .resources import BASE, canonical, corpus, identified, reference


def _refs(resources: list[dict]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


def test_a_url_searchable_resource_is_keyed_and_matched_on_url_and_version() -> None:
    ev = canonical("Evidence", "ev", version="2.0.0")
    assert resource_key(ev) == f"{BASE}/Evidence/ev|2.0.0"
    assert conditional_url(ev) == (
        "Evidence?url=https%3A%2F%2Funit.example.org%2Ffhir%2FEvidence%2Fev&version=2.0.0"
    )


def test_without_a_version_the_match_is_on_url_alone() -> None:
    ev = canonical("Evidence", "ev")
    del ev["version"]
    assert resource_key(ev) == f"{BASE}/Evidence/ev|"
    assert conditional_url(ev) == "Evidence?url=https%3A%2F%2Funit.example.org%2Ffhir%2FEvidence%2Fev"


def test_the_version_is_percent_encoded_too() -> None:
    assert conditional_url(canonical("Evidence", "ev", version="1.0+b&c")).endswith("&version=1.0%2Bb%26c")


@pytest.mark.parametrize("rtype", ["Group", "ArtifactAssessment"])
def test_types_without_a_url_are_keyed_and_matched_on_their_identifier(rtype: str) -> None:
    res = identified(rtype, "x")
    assert resource_key(res) == f"{BASE}/identifier|{rtype}/x"
    assert conditional_url(res) == (
        f"{rtype}?identifier=https%3A%2F%2Funit.example.org%2Ffhir%2Fidentifier%7C{rtype}%2Fx"
    )


def test_a_research_study_is_matched_on_its_identifier_although_it_has_a_url() -> None:
    # R5 ResearchStudy has a url element but no url search parameter
    study = canonical("ResearchStudy", "st")
    assert resource_key(study) == f"{BASE}/identifier|ResearchStudy/st"
    assert conditional_url(study).startswith("ResearchStudy?identifier=")


def test_the_first_identifier_with_system_and_value_counts() -> None:
    res = identified("Group", "g")
    res["identifier"] = [{"value": "no-system"}, {"system": "urn:s"}, {"system": "urn:s", "value": "v"}]
    assert resource_key(res) == "urn:s|v"
    assert conditional_url(res) == "Group?identifier=urn%3As%7Cv"


@pytest.mark.parametrize("identifiers", [None, [], [{"system": "urn:s"}]])
def test_a_resource_with_no_usable_identity_is_refused_with_a_fix(identifiers: list[dict] | None) -> None:
    res: dict = {"resourceType": "Group", "id": "g"}
    if identifiers is not None:
        res["identifier"] = identifiers
    for call in (resource_key, conditional_url, entry_full_url):
        with pytest.raises(
            BundleError, match=r"Group/g has neither a url nor an identifier.*give it an identifier"
        ):
            call(res)


def test_bundle_errors_are_invalid_output() -> None:
    assert issubclass(BundleError, EvidencePublisherError)
    assert BundleError.exit_code == ExitCode.INVALID_OUTPUT


def test_the_full_url_is_a_stable_uuid5_of_the_key() -> None:
    ev = canonical("Evidence", "ev")
    full_url = entry_full_url(ev)
    assert full_url == "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/Evidence/ev|1.0.0"))
    assert full_url == "urn:uuid:b3649311-f7f7-58ec-9a3e-7eccd336bddd"  # stays the same across releases
    assert entry_full_url({**ev, "id": "renamed", "title": "changed"}) == full_url  # the key, not the id
    assert entry_full_url(canonical("Evidence", "ev", version="1.0.1")) != full_url


def test_referenced_resources_come_first_and_ties_keep_type_and_id_order() -> None:
    assert _refs(dependency_order(corpus())) == [
        "Citation/cit",
        "Group/pop",
        "Evidence/ev",
        "ArtifactAssessment/ev-certainty",
    ]
    unrelated = [identified("Group", "b"), canonical("Citation", "z"), identified("Group", "a")]
    assert _refs(dependency_order(unrelated)) == ["Citation/z", "Group/a", "Group/b"]


def test_the_order_does_not_depend_on_the_input_order() -> None:
    orders = {tuple(_refs(dependency_order(list(p)))) for p in itertools.permutations(corpus())}
    assert len(orders) == 1


def test_a_reference_cycle_lists_each_resource_once() -> None:
    a = identified("Group", "a", link=reference("Group/b"))
    b = identified("Group", "b", link=reference("Group/a"))
    assert _refs(dependency_order([b, a])) == ["Group/b", "Group/a"]


def test_references_outside_the_set_do_not_affect_the_order() -> None:
    ev = canonical("Evidence", "ev", subject=reference("Patient/p1"))
    assert _refs(dependency_order([ev, canonical("Citation", "cit")])) == ["Citation/cit", "Evidence/ev"]


def test_each_entry_is_a_conditional_put_with_its_full_url_and_no_id() -> None:
    resources = corpus()
    bundle = transaction_bundle(resources)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction")
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    assert len(bundle["entry"]) == 4
    for entry, ref in zip(bundle["entry"], _refs(dependency_order(resources)), strict=True):
        res = by_ref[ref]
        assert entry["fullUrl"] == entry_full_url(res)
        assert entry["request"] == {"method": "PUT", "url": conditional_url(res)}
        assert "id" not in entry["resource"]
        assert entry["resource"]["resourceType"] == res["resourceType"]
        assert entry["resource"]["identifier"] == res["identifier"]


def test_internal_references_point_to_the_full_urls_of_their_targets() -> None:
    resources = corpus()
    bundle = transaction_bundle(resources)
    full_url = {f"{r['resourceType']}/{r['id']}": entry_full_url(r) for r in resources}
    evidence = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Evidence")
    assert evidence["relatedArtifact"][0]["resourceReference"] == {"reference": full_url["Citation/cit"]}
    assert evidence["variableDefinition"][0]["observed"] == {"reference": full_url["Group/pop"]}
    certainty = bundle["entry"][-1]["resource"]
    assert certainty["artifactReference"] == {"reference": full_url["Evidence/ev"]}


def test_external_references_and_canonicals_are_left_alone() -> None:
    ev = canonical(
        "Evidence",
        "ev",
        subject=reference("Patient/p1"),
        relatedArtifact=[{"type": "citation", "resource": f"{BASE}/Citation/cit|1.0.0"}],
    )
    (entry,) = transaction_bundle([ev])["entry"]
    assert entry["resource"]["subject"] == {"reference": "Patient/p1"}
    assert entry["resource"]["relatedArtifact"] == [
        {"type": "citation", "resource": f"{BASE}/Citation/cit|1.0.0"}
    ]


def test_the_input_resources_are_not_changed() -> None:
    resources = corpus()
    before = copy.deepcopy(resources)
    transaction_bundle(resources)
    assert resources == before


def test_the_bundle_is_the_same_whatever_the_input_order() -> None:
    texts = {dumps(transaction_bundle(list(p))) for p in itertools.permutations(corpus())}
    assert len(texts) == 1


def test_two_resources_with_one_key_are_refused() -> None:
    first = identified("Group", "a")
    second = identified("Group", "b")
    second["identifier"] = first["identifier"]
    with pytest.raises(BundleError, match=r"Group/b and Group/a share the key .*Group/a"):
        transaction_bundle([first, second])


def test_the_same_url_in_two_versions_is_two_entries() -> None:
    one = canonical("Evidence", "a", "1")
    two = {**canonical("Evidence", "b", "2"), "url": one["url"]}
    bundle = transaction_bundle([one, two])
    assert [e["request"]["url"] for e in bundle["entry"]] == [conditional_url(one), conditional_url(two)]
    assert conditional_url(one) != conditional_url(two)


@pytest.mark.parametrize(
    ("request_", "replayable"),
    [
        ({"method": "PUT", "url": "Group?identifier=s%7Cv"}, True),
        ({"method": "GET", "url": "Group?identifier=s%7Cv"}, True),
        ({"method": "POST", "url": "Group", "ifNoneExist": "identifier=s%7Cv"}, True),
        ({"method": "POST", "url": "Group"}, False),
        ({"method": "DELETE", "url": "Group/g"}, False),
        ({"method": "PATCH", "url": "Group/g"}, False),
        ({}, False),
    ],
)
def test_a_transaction_is_replayable_only_if_no_entry_can_create_a_duplicate(
    request_: dict, replayable: bool
) -> None:
    put = {"request": {"method": "PUT", "url": "Evidence?url=u"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [put, {"request": request_}]}
    assert is_replayable(bundle) is replayable


def test_only_a_transaction_is_replayable() -> None:
    assert is_replayable(transaction_bundle(corpus()))
    assert is_replayable({"resourceType": "Bundle", "type": "transaction"})
    assert not is_replayable({**transaction_bundle(corpus()), "type": "batch"})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8")) | st.text(alphabet=st.characters(max_codepoint=127)))
def test_conditional_urls_are_percent_encoded_as_urllib_encodes(text: str) -> None:
    res = {"resourceType": "Evidence", "id": "e", "url": text or "x", "version": text or "1"}
    expected = f"Evidence?url={quote(text or 'x', safe='')}&version={quote(text or '1', safe='')}"
    assert conditional_url(res) == expected
    group = {"resourceType": "Group", "id": "g", "identifier": [{"system": text or "s", "value": "v"}]}
    assert conditional_url(group) == f"Group?identifier={quote(f'{text or chr(115)}|v', safe='')}"
