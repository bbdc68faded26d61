"""bundle/collection.py: collection Bundles and NDJSON exports."""

from __future__ import annotations

import copy
import itertools
from decimal import Decimal

from evidence_publisher.bundle import collection_bundle, ndjson_by_type
from evidence_publisher.jsonio import loads

from .resources import BASE, canonical, corpus, identified


def test_a_collection_keeps_ids_and_relative_references_under_resolvable_full_urls() -> None:
    resources = corpus()
    before = copy.deepcopy(resources)
    bundle = collection_bundle(resources, BASE + "/")
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"{BASE}/Citation/cit",
        f"{BASE}/Group/pop",
        f"{BASE}/Evidence/ev",
        f"{BASE}/ArtifactAssessment/ev-certainty",
    ]
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in before}
    for entry in bundle["entry"]:
        assert entry["resource"] == by_ref[entry["fullUrl"].removeprefix(BASE + "/")]
        assert set(entry) == {"fullUrl", "resource"}  # no request: a collection is not sent
    assert resources == before


def test_a_collection_is_the_same_whatever_the_input_order() -> None:
    bundles = [collection_bundle(list(p), BASE) for p in itertools.permutations(corpus())]
    assert all(b == bundles[0] for b in bundles)


def test_ndjson_has_one_file_per_type_and_one_line_per_resource_sorted_by_id() -> None:
    resources = [identified("Group", "b"), canonical("Citation", "c"), identified("Group", "a")]
    files = ndjson_by_type(resources)
    assert list(files) == ["Citation", "Group"]
    lines = files["Group"].split("\n")
    assert lines[-1] == ""  # every line ends with a newline, the last one too
    assert [loads(line) for line in lines[:-1]] == [resources[2], resources[0]]
    assert files == ndjson_by_type(list(reversed(resources)))


def test_ndjson_lines_are_canonical_json() -> None:
    res = identified("Group", "g", quantity=15, note=[{"text": "Größe ≥ 0.050"}], zeta=Decimal("0.050"))
    assert ndjson_by_type([res])["Group"] == (
        '{"id":"g","identifier":[{"system":"https://unit.example.org/fhir/identifier","value":"Group/g"}],'
        '"note":[{"text":"Größe ≥ 0.050"}],"quantity":15,"resourceType":"Group","zeta":0.050}\n'
    )


def test_a_newline_inside_a_value_stays_escaped_on_its_line() -> None:
    text = ndjson_by_type([identified("Group", "g", description="two\nlines")])["Group"]
    assert text.count("\n") == 1 and "two\\nlines" in text
