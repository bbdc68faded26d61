"""The seed corpus through its whole life on a real HAPI FHIR R5 server: preview, publish,
re-publish, change, verify, and a change made behind the publisher's back.

The tests of this module share one namespaced copy of the seed corpus and run in file order.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from evidence_publisher.publish import PublishOptions, preview, publish, verify

from . import hapi
from .conftest import namespaced


@pytest.fixture(scope="module")
def corpus(seed_build: list[dict]) -> list[dict]:
    return namespaced(seed_build)


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


def _by_ref(result) -> dict:
    return {r.ref: r for r in result.resources}


def test_dry_run_on_an_empty_namespace_writes_nothing(client, hapi_url, corpus):
    first = preview(corpus, client)
    assert first.error is None
    assert first.counts() == {"would-create": len(corpus)}
    # The same searches again (HAPI caches identical searches for 60 s): still nothing there.
    assert preview(corpus, client).counts() == {"would-create": len(corpus)}
    for res in corpus[:: max(1, len(corpus) // 10)]:
        assert hapi.matches(hapi_url, res["resourceType"], **hapi.key_params(res)) == []


def test_publish_stores_everything_with_references_resolved(client, hapi_url, corpus, state):
    result = publish(corpus, client)
    assert result.error is None, result.error
    assert result.counts() == {"created": len(corpus)}
    by_ref = _by_ref(result)
    server_refs = {f"{r.resource_type}/{r.server_id}" for r in result.resources}
    assert len(server_refs) == len(corpus)
    local_to_server = {ref: f"{r.resource_type}/{r.server_id}" for ref, r in by_ref.items()}
    for res in corpus:
        ref = f"{res['resourceType']}/{res['id']}"
        stored = hapi.get(hapi_url, local_to_server[ref])
        assert stored["meta"]["versionId"] == "1"
        local_refs = hapi.references(res)
        stored_refs = hapi.references(stored)
        # every internal reference now names the server's copy of the same target (HAPI writes
        # elements in the specification's order, so the walk order may differ)
        assert sorted(stored_refs) == sorted(local_to_server.get(r, r) for r in local_refs), ref
        assert all(r in server_refs for r in stored_refs if r in local_to_server.values())
        assert not any(r.startswith("urn:") for r in stored_refs), ref
        # canonical links are never placeholders: they arrive exactly as sent
        for key in ("url", "version"):
            assert stored.get(key) == res.get(key)
    state["first"] = result


def test_verify_right_after_publish_finds_every_resource_the_same(client, corpus):
    # The dry run above searched exactly these URLs less than 60 s ago: a reused (cached)
    # search would report everything missing.
    result = verify(corpus, client)
    assert result.counts() == {"same": len(corpus)}, [
        (r.ref, r.action, r.differences[:2]) for r in result.resources if r.action != "same"
    ]


def test_republish_creates_no_new_version(client, hapi_url, corpus, state):
    result = publish(corpus, client)
    assert result.error is None
    assert result.counts() == {"unchanged": len(corpus)}
    first = _by_ref(state["first"])
    for r in result.resources:
        assert (r.server_id, r.version) == (first[r.ref].server_id, "1")
    for r in result.resources[:: max(1, len(corpus) // 8)]:
        assert hapi.version_count(hapi_url, f"{r.resource_type}/{r.server_id}") == 1


def test_republish_without_preread_relies_on_hapi_storage_codes(client, corpus):
    result = publish(corpus, client, PublishOptions(preread=False))
    assert result.counts() == {"unchanged": len(corpus)}
    assert all(not r.note for r in result.resources)


def _changed(corpus: list[dict]) -> tuple[list[dict], str]:
    changed = copy.deepcopy(corpus)
    ev = next(r for r in changed if r["resourceType"] == "Evidence" and r.get("statistic"))
    ev["description"] = "Changed by the real-server test."
    return changed, f"Evidence/{ev['id']}"


def test_a_changed_resource_gets_exactly_one_new_version(client, hapi_url, corpus, state):
    changed, ref = _changed(corpus)
    ahead = preview(changed, client)
    assert ahead.counts() == {"would-update": 1, "unchanged": len(corpus) - 1}
    (diff,) = [r for r in ahead.resources if r.action == "would-update"]
    assert diff.ref == ref
    assert [d.split(":")[0] for d in diff.differences] == ["Evidence.description"]

    result = publish(changed, client)
    assert result.counts() == {"updated": 1, "unchanged": len(corpus) - 1}
    updated = _by_ref(result)[ref]
    assert updated.version == "2"
    assert updated.server_id == _by_ref(state["first"])[ref].server_id
    assert hapi.version_count(hapi_url, f"Evidence/{updated.server_id}") == 2
    assert verify(changed, client).counts() == {"same": len(corpus)}
    state["current"] = changed


def test_verify_reports_exactly_a_change_made_behind_its_back(client, hapi_url, state):
    corpus = state["current"]
    ev = next(r for r in corpus if r["resourceType"] == "Evidence" and r.get("statistic"))
    ref = f"Evidence/{ev['id']}"
    server_id = _by_ref(state["first"])[ref].server_id
    stored = hapi.get(hapi_url, f"Evidence/{server_id}")
    stat = stored["statistic"][0]
    stat["note"] = [{"text": "edited on the server"}]
    resp = hapi.put(hapi_url, stored)
    assert resp.status_code == 200, resp.text

    result = verify(corpus, client)
    assert result.counts() == {"different": 1, "same": len(corpus) - 1}
    (diff,) = [r for r in result.resources if r.action == "different"]
    assert diff.ref == ref
    assert diff.differences == [
        "Evidence.statistic[0].note: only on the server ([{'text': 'edited on the server'}])"
    ]
    # publishing puts the build's content back: one more version, then all the same again
    again = publish(corpus, client)
    assert again.counts() == {"updated": 1, "unchanged": len(corpus) - 1}
    assert verify(corpus, client).counts() == {"same": len(corpus)}


def test_decimals_keep_their_exact_text_on_hapi(hapi_url, corpus, state):
    first = _by_ref(state["first"])
    evidence = [r for r in corpus if r["resourceType"] == "Evidence" and r.get("statistic")]
    checked = 0
    for ev in evidence:
        server_id = first[f"Evidence/{ev['id']}"].server_id
        stored = hapi.get(hapi_url, f"Evidence/{server_id}")
        for local, remote in zip(ev["statistic"], stored["statistic"], strict=True):
            value = (local.get("quantity") or {}).get("value")
            if isinstance(value, Decimal):
                assert str(remote["quantity"]["value"]) == str(value)
                checked += 1
    assert checked > 0
