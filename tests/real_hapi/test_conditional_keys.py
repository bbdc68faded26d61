"""Conditional updates keyed on canonical ``url`` + ``version`` (and on ``identifier``) on a real
HAPI, as docs/publishing.md describes them."""

from __future__ import annotations

import copy
import uuid

from evidence_publisher.publish import preview, publish, verify

from . import hapi

NS = "https://keys.evidence-publisher.example.org/fhir"


def _evidence(slug: str, version: str, title: str, url: str | None = None) -> dict:
    return {
        "resourceType": "Evidence",
        "id": f"{slug}-{version}".replace(".", "-").replace("+", "-").replace(" ", "-"),
        "url": url or f"{NS}/Evidence/{slug}",
        "version": version,
        "status": "active",
        "title": title,
        "identifier": [{"system": f"{NS}/identifier", "value": f"Evidence/{slug}/{version}"}],
        "variableDefinition": [{"variableRole": {"text": "outcome"}}],
    }


def _group(value: str) -> dict:
    return {
        "resourceType": "Group",
        "id": "pop",
        "identifier": [{"system": f"{NS}/identifier", "value": value}],
        "type": "person",
        "membership": "definitional",
    }


def test_a_new_version_string_is_a_new_resource_and_leaves_the_old_one(client, hapi_url):
    slug = f"ev-{uuid.uuid4().hex[:8]}"
    v1 = _evidence(slug, "1.0.0", "first")
    assert publish([v1], client).counts() == {"created": 1}
    v2 = _evidence(slug, "2.0.0", "second")
    result = publish([v2], client)
    assert result.counts() == {"created": 1}

    both = hapi.matches(hapi_url, "Evidence", url=v1["url"])
    assert sorted(r["version"] for r in both) == ["1.0.0", "2.0.0"]
    (old,) = hapi.matches(hapi_url, "Evidence", url=v1["url"], version="1.0.0")
    assert (old["title"], old["meta"]["versionId"]) == ("first", "1")
    (new,) = hapi.matches(hapi_url, "Evidence", url=v1["url"], version="2.0.0")
    assert new["id"] == result.resources[0].server_id and new["id"] != old["id"]
    assert verify([v1, v2], client).counts() == {"same": 2}


def test_the_same_url_and_version_with_new_content_updates_in_place(client, hapi_url):
    slug = f"ev-{uuid.uuid4().hex[:8]}"
    first = publish([_evidence(slug, "1.0.0", "first")], client).resources[0]
    again = publish([_evidence(slug, "1.0.0", "corrected")], client).resources[0]
    assert (again.action, again.server_id, again.version) == ("updated", first.server_id, "2")
    (stored,) = hapi.matches(hapi_url, "Evidence", url=f"{NS}/Evidence/{slug}")
    assert stored["title"] == "corrected"


def test_keys_with_characters_that_need_percent_encoding(client, hapi_url):
    tag = uuid.uuid4().hex[:8]
    odd_url = f"{NS}/Evidence/odd-{tag}?a=1&b=c+d%20e"
    ev = _evidence(f"odd-{tag}", "1.0.0+build.7 draft", "odd", url=odd_url)
    grp = _group(f"Group/a+b c|{tag}&x=1")
    resources = [ev, grp]
    assert preview(resources, client).counts() == {"would-create": 2}
    assert publish(resources, client).counts() == {"created": 2}
    assert publish(resources, client).counts() == {"unchanged": 2}
    assert verify(resources, client).counts() == {"same": 2}
    changed = copy.deepcopy(resources)
    changed[1]["name"] = "renamed"
    result = publish(changed, client)
    assert result.counts() == {"unchanged": 1, "updated": 1}
    assert hapi.matches(hapi_url, "Group", identifier=f"{NS}/identifier|{grp['identifier'][0]['value']}")
