"""Chunking, comparison and error attribution in isolation."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from evidence_publisher.bundle.transaction import transaction_bundle
from evidence_publisher.fhirclient.outcome import describe_outcome, hapi_code
from evidence_publisher.publish import chunk_resources, components
from evidence_publisher.publish.compare import compare
from evidence_publisher.publish.outcome import bare_version, implicated_resources, parse_location

from .conftest import keyed, synthetic_corpus


def ref(res: dict) -> str:
    return f"{res['resourceType']}/{res['id']}"


def test_components_follow_references_both_ways():
    corpus = synthetic_corpus(3)
    comps = components(corpus)
    sizes = sorted(len(c) for c in comps)
    assert sizes == [1, 1, 1, 1, 4, 4, 4]  # 3 x (Group, Variable, Evidence, Assessment), rest alone
    for comp in comps:
        inside = {ref(r) for r in comp}
        for res in comp:
            for other in corpus:
                if ref(other) not in inside:
                    assert f'"{ref(other)}"' not in str(res).replace("'", '"')


@pytest.mark.parametrize("size", [1, 3, 4, 5, 7, 100])
def test_chunks_never_split_a_component_and_respect_size(size):
    corpus = synthetic_corpus(4)
    chunks = chunk_resources(corpus, size)
    assert sorted(ref(r) for c in chunks for r in c.resources) == sorted(ref(r) for r in corpus)
    comp_of = {ref(r): i for i, comp in enumerate(components(corpus)) for r in comp}
    homes: dict[int, set[int]] = {}
    for chunk in chunks:
        for res in chunk.resources:
            homes.setdefault(comp_of[ref(res)], set()).add(chunk.index)
        assert len(chunk.resources) <= size or chunk.oversized
        assert chunk.oversized == (len(chunk.resources) > size)
        # each chunk alone is a valid transaction: every urn:uuid it uses is one of its fullUrls
        bundle = transaction_bundle(chunk.resources)
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        text = str(bundle)
        for token in text.split("'"):
            if token.startswith("urn:uuid:"):
                assert token in full_urls
    assert all(len(h) == 1 for h in homes.values())


def test_single_chunk_and_bad_size():
    corpus = synthetic_corpus(2)
    assert len(chunk_resources(corpus, None)) == 1
    assert chunk_resources([], 10) == []
    with pytest.raises(ValueError, match="at least 1"):
        chunk_resources(corpus, 0)


def test_compare_ignores_server_managed_fields_only():
    local = keyed(
        "Group",
        "g",
        type="person",
        meta={"profile": ["http://p"]},
        characteristic=[{"valueQuantity": {"value": Decimal("1.50")}}],
    )
    server = {
        **copy.deepcopy(local),
        "id": "17",
        "text": {"status": "generated", "div": "<div/>"},
        "meta": {
            "profile": ["http://p"],
            "versionId": "3",
            "lastUpdated": "2024-01-01",
            "tag": [{"code": "SUBSETTED"}],
        },
    }
    assert compare(local, server, lambda r: None) == []
    server["meta"]["profile"] = ["http://other"]
    assert compare(local, server, lambda r: None) == [
        "Group.meta.profile[0]: local 'http://p' != server 'http://other'"
    ]
    server["meta"]["profile"] = ["http://p"]
    server["characteristic"][0]["valueQuantity"]["value"] = Decimal("1.5")
    assert compare(local, server, lambda r: None) == [
        "Group.characteristic[0].valueQuantity.value: local 1.50 != server 1.5"
    ]
    with_text = {**local, "text": {"status": "generated", "div": "<div>mine</div>"}}
    server["characteristic"][0]["valueQuantity"]["value"] = Decimal("1.50")
    assert compare(with_text, server, lambda r: None) == [
        "Group.text.div: differs at character 5: local '<div>mine</div>' != server '<div></div>'"
    ]


def test_compare_reads_narrative_as_xml_like_hapi_rewrites_it():
    # sent by the build / as HAPI 8.8.0 stored it (see hapi_standin.hapi_narrative)
    local = keyed(
        "Group",
        "g",
        text={
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
            '<p class="a" title="t">it&#x27;s<br/></p></div>',
        },
    )
    server = {
        **local,
        "id": "7",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p title="t" class="a">it\'s<br/></p></div>',
        },
    }
    assert compare(local, server, lambda r: None) == []
    server["text"]["div"] = server["text"]["div"].replace("it's", "it is")
    here, there = 'ass="a" title="t">it\'s<br></br></p></div>', 'ass="a" title="t">it is<br></br></p></div>'
    assert compare(local, server, lambda r: None) == [
        f"Group.text.div: differs at character 67: local {here!r} != server {there!r}"
    ]


def test_compare_takes_profiles_and_tags_as_sets():
    local = keyed(
        "Group", "g", meta={"profile": ["http://p/b", "http://p/a"], "tag": [{"code": "y"}, {"code": "x"}]}
    )
    server = {
        **local,
        "id": "7",
        "meta": {"profile": ["http://p/a", "http://p/b"], "tag": [{"code": "x"}, {"code": "y"}]},
    }
    assert compare(local, server, lambda r: None) == []
    server["meta"]["profile"] = ["http://p/a", "http://p/c"]
    assert compare(local, server, lambda r: None) == [
        "Group.meta.profile[1]: local 'http://p/b' != server 'http://p/c'"
    ]


def test_compare_maps_local_references_to_server_ids():
    local = keyed("ArtifactAssessment", "a", artifactReference={"reference": "Evidence/ev-0"})
    server = {**local, "id": "9", "artifactReference": {"reference": "Evidence/42"}}
    mapping = {"Evidence/ev-0": "Evidence/42"}
    assert compare(local, server, mapping.get) == []
    no_ids: dict[str, str] = {}
    diffs = compare(local, server, no_ids.get)
    assert diffs == [
        "ArtifactAssessment.artifactReference.reference: local 'Evidence/ev-0' != server 'Evidence/42'"
    ]
    missing = {k: v for k, v in server.items() if k != "artifactReference"}
    assert compare(local, missing, mapping.get)[0].startswith(
        "ArtifactAssessment.artifactReference: missing on the server"
    )


def test_outcome_helpers():
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "warning", "code": "x", "diagnostics": "ignored"},
            {
                "severity": "error",
                "code": "processing",
                "diagnostics": "HAPI-0988: boom",
                "expression": ["Bundle.entry[1].resource"],
            },
        ],
    }
    assert describe_outcome(oo) == "HAPI-0988: boom (at Bundle.entry[1].resource)"
    assert hapi_code("HAPI-0541: Unable") == "HAPI-0541" and hapi_code("nothing") is None
    assert parse_location("Evidence/12/_history/3") == ("Evidence", "12", "3")
    assert parse_location("http://h/fhir/Evidence/12") == ("Evidence", "12", None)
    assert bare_version('W/"4"') == "4" and bare_version("4") == "4" and bare_version(None) is None
    entries = [
        ("Group/g", "urn:uuid:1", "Group?identifier=s%7Cg"),
        ("Evidence/e", "urn:uuid:2", "Evidence?url=https%3A%2F%2Fx%2Fe&version=1"),
    ]
    assert implicated_resources("", oo, entries) == ["Evidence/e"]
    text = 'HAPI-0988: Failed to UPDATE resource with match URL "Evidence?url=https://x/e&version=1"'
    assert implicated_resources(text, None, entries) == ["Evidence/e"]
    assert implicated_resources("HAPI-0534: ... with ID: urn:uuid:1", None, entries) == ["Group/g"]
    assert implicated_resources("no clue", None, entries) == []
