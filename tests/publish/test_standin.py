"""The HAPI stand-in itself, against the numbered "HAPI behaviours we rely on" of docs/publishing.md.

The item numbers are in the test names.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from evidence_publisher import jsonio

from .conftest import BASE, canonical, keyed
from .hapi_standin import STORAGE_CODE_SYSTEM, Fault, HapiStandIn

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def post(hapi: HapiStandIn, bundle: dict, path: str = "", headers: dict | None = None):
    url = f"{hapi.url}/{path}" if path else hapi.url
    return requests.post(url, data=jsonio.dumps(bundle), headers={**FHIR, **(headers or {})}, timeout=10)


def put(hapi: HapiStandIn, path: str, body: dict, headers: dict | None = None):
    return requests.put(
        f"{hapi.url}/{path}", data=jsonio.dumps(body), headers={**FHIR, **(headers or {})}, timeout=10
    )


def get(hapi: HapiStandIn, path: str):
    return requests.get(f"{hapi.url}/{path}", headers=FHIR, timeout=10)


def txn(*entries: dict, btype: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": btype, "entry": list(entries)}


def cond_put(res: dict, full_url: str | None = None) -> dict:
    body = {k: v for k, v in res.items() if k != "id"}
    url = (
        f"{res['resourceType']}?url={res['url']}&version={res['version']}"
        if "url" in res
        else f"{res['resourceType']}?identifier={res['identifier'][0]['system']}|"
        f"{res['identifier'][0]['value']}"
    )
    entry: dict[str, Any] = {"request": {"method": "PUT", "url": url}, "resource": body}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def ev(slug: str = "a", **fields) -> dict:
    return canonical("Evidence", slug, **fields)


def diagnostics(resp) -> str:
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    return body["issue"][0]["diagnostics"]


def test_01_02_05_create_entry_shape(hapi):
    resp = post(hapi, txn(cond_put(ev("a")), cond_put(ev("b"))))
    assert resp.status_code == 200
    body = resp.json()
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == 2
    first = body["entry"][0]["response"]
    assert first["status"] == "201 Created"
    assert re.fullmatch(r"Evidence/[^/]+/_history/1", first["location"])
    assert first["etag"] == "1"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", first["lastModified"])
    issue = first["outcome"]["issue"][0]
    assert (issue["severity"], issue["code"]) == ("information", "informational")
    coding = issue["details"]["coding"][0]
    assert coding["system"] == STORAGE_CODE_SYSTEM
    assert coding["code"] == "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH"
    assert "resource" not in body["entry"][0]  # item 6: no Prefer header, no resource


def test_03_04_update_and_unchanged(hapi):
    post(hapi, txn(cond_put(ev("a"))))
    same = post(hapi, txn(cond_put(ev("a")))).json()["entry"][0]["response"]
    assert same["status"] == "200 OK" and same["etag"] == "1"
    assert (
        same["outcome"]["issue"][0]["details"]["coding"][0]["code"]
        == "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH_NO_CHANGE"
    )
    changed = post(hapi, txn(cond_put(ev("a", title="new")))).json()["entry"][0]["response"]
    assert changed["status"] == "200 OK"
    assert changed["etag"] == "2" and changed["location"].endswith("/_history/2")
    rid = changed["location"].split("/")[1]
    history = get(hapi, f"Evidence/{rid}/_history").json()
    assert history["total"] == 2


def test_06_prefer_representation_returns_stored_resource(hapi):
    body = post(hapi, txn(cond_put(ev("a"))), headers={"Prefer": "return=representation"}).json()
    stored = body["entry"][0]["resource"]
    assert stored["meta"]["versionId"] == "1" and stored["url"].endswith("/Evidence/a")


def test_07_08_conditional_create(hapi):
    ident = f"{BASE}/identifier|Evidence/a"
    entry = {
        "request": {"method": "POST", "url": "Evidence", "ifNoneExist": f"Evidence?identifier={ident}"},
        "resource": ev("a"),
    }
    first = post(hapi, txn(entry)).json()["entry"][0]["response"]
    assert first["status"] == "201 Created"
    again = post(hapi, txn(entry)).json()["entry"][0]["response"]
    assert again["status"] == "200 OK" and again["location"] == first["location"]
    assert again["etag"] == "1"
    hapi.seed(ev("dup"))  # a second resource with the same identifier system|value
    hapi.seed({**ev("dup2"), "identifier": ev("a")["identifier"]})
    resp = post(hapi, txn(entry))
    assert resp.status_code == 412
    assert resp.json()["issue"][0]["code"] == "processing"
    assert diagnostics(resp).startswith("HAPI-0958:")
    assert "because this search matched 2 resources" in diagnostics(resp)


def test_09_conditional_update_two_matches_is_412(hapi):
    hapi.seed(ev("x"))
    hapi.seed({**ev("y"), "url": ev("x")["url"]})
    # inside a transaction HAPI 8 resolves the match URL first: HAPI-2207 (seen on 8.8.0)
    resp = post(hapi, txn(cond_put(ev("x"))))
    assert resp.status_code == 412
    assert resp.json()["issue"][0]["code"] == "processing"
    url = cond_put(ev("x"))["request"]["url"]
    assert diagnostics(resp) == f'HAPI-2207: Invalid match URL "{url}" - Multiple resources match this search'
    # a plain REST conditional PUT: HAPI-0988
    resp = put(hapi, url, {k: v for k, v in ev("x").items() if k != "id"})
    assert resp.status_code == 412
    assert diagnostics(resp) == (
        f'HAPI-0988: Failed to UPDATE Evidence with match URL "{url}" because this search matched 2 resources'
    )


def test_10_conditional_update_with_other_body_id_is_hapi_2279(hapi):
    hapi.seed(ev("x"))
    entry = cond_put(ev("x"))
    entry["resource"]["id"] = "other-id"
    resp = post(hapi, txn(entry))
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-2279:")


def test_11_body_not_matching_its_conditional_url(hapi):
    entry = cond_put(ev("x"))
    entry["request"]["url"] = f"Evidence?url={BASE}/Evidence/other&version=1.0.0"
    resp = post(hapi, txn(entry))
    assert resp.status_code == 412 and diagnostics(resp).startswith("HAPI-0539:")
    resp = requests.post(
        f"{hapi.url}/Evidence",
        data=jsonio.dumps(ev("x")),
        timeout=10,
        headers={**FHIR, "If-None-Exist": "identifier=s|nope"},
    )
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-0929:")
    assert hapi.count() == 0


def test_12_placeholders_resolved_in_references_and_canonicals(hapi):
    grp = keyed("Group", "g", type="person", membership="definitional")
    var = canonical(
        "EvidenceVariable",
        "v",
        characteristic=[
            {"definitionReference": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}},
            {"definitionCanonical": "urn:uuid:11111111-1111-1111-1111-111111111111"},
        ],
    )
    body = post(
        hapi, txn(cond_put(var), cond_put(grp, "urn:uuid:11111111-1111-1111-1111-111111111111"))
    ).json()
    group_id = body["entry"][1]["response"]["location"].split("/")[1]
    stored = hapi.all_current("EvidenceVariable")[0]
    assert stored["characteristic"][0]["definitionReference"]["reference"] == f"Group/{group_id}"
    assert stored["characteristic"][1]["definitionCanonical"] == f"Group/{group_id}"


def test_13_unresolvable_placeholder_is_hapi_0541(hapi):
    var = canonical(
        "EvidenceVariable",
        "v",
        characteristic=[
            {"definitionReference": {"reference": "urn:uuid:22222222-2222-2222-2222-222222222222"}}
        ],
    )
    resp = post(hapi, txn(cond_put(var)))
    assert resp.status_code == 400
    assert diagnostics(resp).startswith("HAPI-0541: Unable to satisfy placeholder ID")


def test_14_duplicate_full_url_is_hapi_0534(hapi):
    full = "urn:uuid:33333333-3333-3333-3333-333333333333"
    resp = post(hapi, txn(cond_put(ev("a"), full), cond_put(ev("b"), full)))
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-0534:")


def test_15_16_batch_does_not_resolve_placeholders_but_commits_the_rest(hapi):
    var = canonical(
        "EvidenceVariable",
        "v",
        characteristic=[
            {"definitionReference": {"reference": "urn:uuid:44444444-4444-4444-4444-444444444444"}}
        ],
    )
    resp = post(hapi, txn(cond_put(var), cond_put(ev("ok")), btype="batch"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["type"] == "batch-response"
    bad, good = body["entry"][0]["response"], body["entry"][1]["response"]
    assert bad["status"].startswith("400") and bad["outcome"]["issue"][0]["code"] == "exception"
    assert good["status"] == "201 Created"
    assert get(hapi, good["location"].rsplit("/_history", 1)[0]).status_code == 200


def test_17_failed_transaction_commits_nothing(hapi):
    comp = keyed("Composition", "c", subject=[{"reference": "Group/does-not-exist"}])
    resp = post(hapi, txn(cond_put(ev("a")), cond_put(ev("b")), cond_put(comp)))
    assert resp.status_code == 400
    assert diagnostics(resp) == (
        "HAPI-1094: Resource Group/does-not-exist not found, specified in path: Composition.subject"
    )
    assert hapi.count() == 0
    assert get(hapi, "Evidence?url=" + ev("a")["url"]).json()["total"] == 0


def test_18_numeric_client_id_rejected(hapi):
    resp = put(hapi, "Evidence/123", {**ev("a"), "id": "123"})
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-0960:")
    resp = put(hapi, "Evidence/ev-123", {**ev("a"), "id": "ev-123"})
    assert resp.status_code == 201
    assert resp.headers["Location"].endswith("/Evidence/ev-123/_history/1")
    assert resp.headers["ETag"] == 'W/"1"'


def test_19_stale_if_match_is_409_hapi_0989(hapi):
    put(hapi, "Evidence/x", {**ev("a"), "id": "x"})
    put(hapi, "Evidence/x", {**ev("a", title="v2"), "id": "x"})
    resp = put(hapi, "Evidence/x", {**ev("a", title="v3"), "id": "x"}, {"If-Match": 'W/"1"'})
    assert resp.status_code == 409
    assert diagnostics(resp) == (
        "HAPI-0989: Trying to update Evidence/x/_history/1 but this is not the current version"
    )


def test_20_rest_put_needs_matching_body_id(hapi):
    assert put(hapi, "Evidence/x", {**ev("a"), "id": "y"}).status_code == 400
    body = {k: v for k, v in ev("a").items() if k != "id"}
    assert put(hapi, "Evidence/x", body).status_code == 400
    entry = {"request": {"method": "PUT", "url": "Evidence/x"}, "resource": body}
    assert post(hapi, txn(entry)).json()["entry"][0]["response"]["status"] == "201 Created"


def test_21_references_external_and_missing_on_indexed_paths(hapi):
    missing = keyed("Group", "g", member=[{"entity": {"reference": "Patient/no"}}])
    resp = put(hapi, "Group/g", missing)
    assert resp.status_code == 400
    assert (
        diagnostics(resp)
        == "HAPI-1094: Resource Patient/no not found, specified in path: Group.member.entity"
    )
    external = {**missing, "member": [{"entity": {"reference": "http://elsewhere.example/fhir/Patient/1"}}]}
    resp = put(hapi, "Group/g", external)
    assert resp.status_code == 400
    assert diagnostics(resp) == (
        'HAPI-0507: Resource contains external reference to URL "http://elsewhere.example/fhir/Patient/1" '
        "but this server is not configured to allow external references"
    )
    canon = {
        **ev("a"),
        "relatedArtifact": [{"type": "citation", "resource": "http://unknown.example/Citation/c"}],
    }
    assert put(hapi, "Evidence/a", canon).status_code == 201


def test_references_on_paths_no_search_parameter_indexes_are_not_checked(hapi):
    # HAPI 8.8.0 stores these as sent: referential integrity and the external-reference rule
    # apply only to references that a search parameter indexes (seen on the real server)
    dangling = {
        **ev("a"),
        "variableDefinition": [
            {"variableRole": {"text": "outcome"}, "observed": {"reference": "EvidenceVariable/no"}}
        ],
        "relatedArtifact": [
            {
                "type": "citation",
                "resourceReference": {"reference": "http://elsewhere.example/fhir/Citation/1"},
            }
        ],
    }
    resp = put(hapi, "Evidence/a", dangling)
    assert resp.status_code == 201
    stored = get(hapi, "Evidence/a").json()
    assert stored["variableDefinition"][0]["observed"] == {"reference": "EvidenceVariable/no"}
    aa = keyed("ArtifactAssessment", "aa", artifactReference={"reference": "Evidence/nowhere"})
    assert post(hapi, txn(cond_put(aa))).status_code == 200


def test_narrative_is_stored_reserialised_like_hapi(hapi):
    # the answers of HAPI 8.8.0 to the same divs
    sent = (
        '<div xmlns="http://www.w3.org/1999/xhtml">it&#x27;s &quot;x&quot; &gt; 1 &#160;'
        '<p class="a" title="t">say "hi"<br/></p></div>'
    )
    stored = (
        '<div xmlns="http://www.w3.org/1999/xhtml">it\'s &quot;x&quot; &gt; 1 \u00a0'
        '<p title="t" class="a">say &quot;hi&quot;<br/></p></div>'
    )
    body = {**ev("a"), "text": {"status": "generated", "div": sent}}
    assert put(hapi, "Evidence/a", body).json()["text"]["div"] == stored
    # the same narrative sent again is no change: the comparison is on the stored form
    again = put(hapi, "Evidence/a", body)
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "1"


def test_22_wrong_bundle_types(hapi):
    resp = post(hapi, txn(cond_put(ev("a")), btype="collection"))
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-0527:")
    resp = post(hapi, txn(cond_put(ev("a"))), path="Bundle")
    # HAPI source throws UnprocessableEntityException (422) with HAPI-0522 here; 400 was first
    # expected (item 22). Either way it is refused and nothing is stored.
    assert resp.status_code in (400, 422) and diagnostics(resp).startswith("HAPI-0522:")
    assert hapi.count() == 0


def test_23_unknown_resource_is_404_hapi_2001(hapi):
    resp = get(hapi, "Evidence/unknown")
    assert resp.status_code == 404
    assert diagnostics(resp) == "HAPI-2001: Resource Evidence/unknown is not known"


def test_24_searches(hapi):
    hapi.seed(ev("a", version="1.0.0"))
    hapi.seed(ev("a", version="2.0.0"))
    body = get(hapi, f"Evidence?url={ev('a')['url']}&version=2.0.0").json()
    assert body["type"] == "searchset" and body["total"] == 1
    assert body["entry"][0]["resource"]["version"] == "2.0.0"
    hapi.seed(keyed("ArtifactAssessment", "aa", date="2024-01-01"))
    body = get(hapi, f"ArtifactAssessment?identifier={BASE}/identifier|ArtifactAssessment/aa")
    assert body.json()["total"] == 1
    resp = get(hapi, "ArtifactAssessment?artifact=Evidence/a")
    assert resp.status_code == 400 and diagnostics(resp).startswith("HAPI-1223:")


def test_25_validate_answers_200_for_invalid_resources(hapi):
    bad = {k: v for k, v in ev("a").items() if k != "status"}
    resp = requests.post(f"{hapi.url}/Evidence/$validate", data=jsonio.dumps(bad), headers=FHIR, timeout=10)
    assert resp.status_code == 200
    assert any(i["severity"] == "error" for i in resp.json()["issue"])


@pytest.mark.parametrize(
    ("prefer", "expect"),
    [
        (None, "Evidence"),
        ("return=minimal", None),
        ("return=OperationOutcome", "OperationOutcome"),
    ],
)
def test_26_prefer_on_rest_create(hapi, prefer, expect):
    headers = {**FHIR, **({"Prefer": prefer} if prefer else {})}
    resp = requests.post(f"{hapi.url}/Evidence", data=jsonio.dumps(ev("a")), headers=headers, timeout=10)
    assert resp.status_code == 201
    if expect is None:
        assert resp.content == b""
    else:
        assert resp.json()["resourceType"] == expect
        if expect == "OperationOutcome":
            assert resp.json()["issue"][0]["code"] == "informational"


def test_27_28_metadata_and_r5_types(hapi):
    cs = get(hapi, "metadata").json()
    assert cs["fhirVersion"] == "5.0.0"
    types = {r["type"] for r in cs["rest"][0]["resource"]}
    for rtype in (
        "Citation",
        "Evidence",
        "EvidenceVariable",
        "ArtifactAssessment",
        "PlanDefinition",
        "Composition",
    ):
        assert rtype in types
        res = keyed(rtype, "r") if rtype == "ArtifactAssessment" else canonical(rtype, "r")
        created = requests.post(f"{hapi.url}/{rtype}", data=jsonio.dumps(res), headers=FHIR, timeout=10)
        assert created.status_code == 201
        assert get(hapi, f"{rtype}/{created.json()['id']}").status_code == 200


def test_29_injected_faults(hapi):
    hapi.inject(Fault("status", status=429, retry_after="3"))
    resp = get(hapi, "metadata")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    hapi.inject(Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        get(hapi, "metadata")
    hapi.inject(Fault("slow", delay=0.6))
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{hapi.url}/metadata", timeout=(2, 0.2))
    assert get(hapi, "metadata").status_code == 200


def test_drop_after_commit_applies_the_write(hapi):
    hapi.inject(Fault("drop_after_commit", method="POST"))
    with pytest.raises(requests.ConnectionError):
        post(hapi, txn(cond_put(ev("a"))))
    assert hapi.count() == 1


def test_search_results_are_reused_unless_no_cache(hapi):
    url = f"Evidence?url={ev('a')['url']}&version=1.0.0"
    assert get(hapi, url).json()["total"] == 0
    post(hapi, txn(cond_put(ev("a"))))
    assert get(hapi, url).json()["total"] == 0  # HAPI's search cache: stale for a while
    fresh = requests.get(f"{hapi.url}/{url}", headers={**FHIR, "Cache-Control": "no-cache"}, timeout=10)
    assert fresh.json()["total"] == 1


def test_profiles_and_tags_are_stored_as_sorted_sets_like_hapi(hapi):
    # HAPI 8.8.0 answered these very requests so
    meta = {
        "profile": ["http://x.org/sd/zeta", "http://x.org/sd/alpha", "http://x.org/sd/mid"],
        "tag": [{"system": "urn:s", "code": "z"}, {"system": "urn:s", "code": "a"}],
    }
    assert put(hapi, "Evidence/a", {**ev("a"), "meta": meta}).status_code == 201
    stored = get(hapi, "Evidence/a").json()["meta"]
    assert stored["profile"] == ["http://x.org/sd/alpha", "http://x.org/sd/mid", "http://x.org/sd/zeta"]
    assert stored["tag"] == [{"system": "urn:s", "code": "a"}, {"system": "urn:s", "code": "z"}]
    reordered = {**meta, "profile": meta["profile"][::-1]}
    again = put(hapi, "Evidence/a", {**ev("a"), "meta": reordered})
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "1"
