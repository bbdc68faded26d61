"""Publishing the seed corpus to the HAPI stand-in: results, idempotency, preview, verify, faults."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from evidence_publisher.bundle.transaction import resource_key
from evidence_publisher.errors import ExitCode
from evidence_publisher.publish import (
    PublishOptions,
    RejectedByServerError,
    ServerUnreachableError,
    ServerUnsuitableError,
    chunk_resources,
    preview,
    publish,
    verify,
)

from .conftest import SleepRecorder, synthetic_corpus
from .hapi_standin import Fault, HapiStandIn


def server_keys(hapi: HapiStandIn) -> dict[str, list[str]]:
    """Natural key -> server ids of current resources holding it."""
    out: dict[str, list[str]] = {}
    for res in hapi.all_current():
        out.setdefault(resource_key(res), []).append(f"{res['resourceType']}/{res['id']}")
    return out


def assert_no_duplicates(hapi: HapiStandIn) -> None:
    dupes = {k: v for k, v in server_keys(hapi).items() if len(v) > 1}
    assert not dupes, f"duplicates on the server: {dupes}"


def assert_chunks_atomic(hapi: HapiStandIn, resources: list[dict], size: int) -> list[bool]:
    """Each chunk is either wholly on the server or wholly absent; returns presence per chunk."""
    keys = server_keys(hapi)
    presence = []
    for chunk in chunk_resources(resources, size):
        there = [resource_key(r) in keys for r in chunk.resources]
        assert all(there) or not any(there), f"chunk {chunk.index} is partly written"
        presence.append(all(there))
    return presence


def test_publish_seed_corpus_then_read_back(hapi, make_client, seed_resources):
    client = make_client()
    result = publish(seed_resources, client)
    assert result.error is None and result.exit_code == ExitCode.OK
    assert result.counts() == {"created": len(seed_resources)}
    assert all(r.server_id and r.version == "1" for r in result.resources)
    assert hapi.count() == len(seed_resources)
    assert_no_duplicates(hapi)
    # requests: metadata + per chunk (pre-read batch + transaction)
    chunks = len(result.chunks)
    assert result.requests_sent == 1 + 2 * chunks
    check = verify(seed_resources, make_client())
    assert check.counts() == {"same": len(seed_resources)}, [
        (r.ref, r.differences) for r in check.resources if r.differences
    ]
    assert check.exit_code == ExitCode.OK
    # references were rewritten by the server to its own ids, and verify mapped them back
    by_ref = {r.ref: r for r in result.resources}
    stored = {f"{r['resourceType']}/{r['id']}": r for r in hapi.all_current()}
    for res in seed_resources:
        local = f"{res['resourceType']}/{res['id']}"
        server_copy = stored[f"{res['resourceType']}/{by_ref[local].server_id}"]
        assert "urn:uuid" not in str(server_copy)


def test_republish_is_all_unchanged_and_creates_no_versions(hapi, make_client, seed_resources):
    publish(seed_resources, make_client())
    again = publish(seed_resources, make_client())
    assert again.counts() == {"unchanged": len(seed_resources)}
    trusting_codes = publish(seed_resources, make_client(), PublishOptions(preread=False))
    assert trusting_codes.counts() == {"unchanged": len(seed_resources)}
    for res in hapi.all_current():
        assert len(hapi.history(res["resourceType"], res["id"])) == 1


def test_without_storage_codes_version_rules_decide(make_client, threaded_httpserver):
    import re

    hapi = HapiStandIn(emit_outcome=False)
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    url = threaded_httpserver.url_for("/fhir")
    corpus = synthetic_corpus(2)
    no_pre = PublishOptions(preread=False)
    assert publish(corpus, make_client(url), no_pre).counts() == {"created": len(corpus)}
    assert publish(corpus, make_client(url), no_pre).counts() == {"unchanged": len(corpus)}
    changed = copy.deepcopy(corpus)
    changed[2]["title"] = "changed"
    result = publish(changed, make_client(url))  # with the pre-read: exact
    assert result.counts() == {"unchanged": len(corpus) - 1, "updated": 1}
    assert next(r for r in result.resources if r.action == "updated").version == "2"
    # without a pre-read or codes, a version-2 resource re-sent unchanged cannot be told apart
    ambiguous = publish(changed, make_client(url), no_pre)
    flagged = [r for r in ambiguous.resources if r.note]
    assert [r.ref for r in flagged] == [f"Evidence/{changed[2]['id']}"]


def test_update_reports_new_version(hapi, make_client):
    corpus = synthetic_corpus(2)
    publish(corpus, make_client())
    corpus[2]["statistic"][0]["quantity"]["value"] = Decimal("0.060")
    result = publish(corpus, make_client())
    updated = [r for r in result.resources if r.action == "updated"]
    assert [(r.ref, r.version) for r in updated] == [("Evidence/ev-0", "2")]
    assert hapi.all_current("Evidence")[0]["statistic"][0]["quantity"]["value"] == Decimal("0.060")


def test_dry_run_reports_and_writes_nothing(hapi, make_client, seed_resources):
    result = preview(seed_resources, make_client())
    assert result.counts() == {"would-create": len(seed_resources)}
    assert hapi.count() == 0
    assert all(method == "GET" or path.rstrip("/").endswith("/fhir") for method, path in hapi.requests)
    publish(seed_resources, make_client())
    commits = hapi.commits
    changed = copy.deepcopy(seed_resources)
    target = next(r for r in changed if r["resourceType"] == "Evidence")
    target["description"] = "edited description"
    result = preview(changed, make_client())
    assert result.counts() == {"unchanged": len(changed) - 1, "would-update": 1}
    upd = next(r for r in result.resources if r.action == "would-update")
    assert upd.ref == f"Evidence/{target['id']}"
    assert any(d.startswith("Evidence.description") for d in upd.differences)
    assert hapi.commits == commits


def test_dry_run_flags_duplicates_as_conflict(hapi, make_client):
    corpus = synthetic_corpus(1)
    dup = copy.deepcopy(corpus[2])
    hapi.seed({**dup, "id": "dup-1"})
    hapi.seed({**dup, "id": "dup-2"})
    result = preview(corpus, make_client())
    assert result.exit_code == ExitCode.REJECTED_BY_SERVER
    conflict = next(r for r in result.resources if r.action == "conflict")
    assert conflict.ref == "Evidence/ev-0" and "HAPI-0988" in conflict.note


def test_verify_reports_differences_with_paths(hapi, make_client):
    corpus = synthetic_corpus(2)
    publish(corpus, make_client())
    ev = next(r for r in hapi.all_current("Evidence") if r["url"].endswith("/ev-0"))
    ev["statistic"][0]["quantity"]["value"] = Decimal("0.05")  # same number, other precision
    grp = next(iter(hapi.resources["Group"]))
    del hapi.resources["Group"][grp]
    hapi._index["Group"] = {k: v - {grp} for k, v in hapi._index["Group"].items()}
    result = verify(corpus, make_client())
    assert result.exit_code == ExitCode.VERIFY_DIFFERENCES
    by = {r.ref: r for r in result.resources}
    assert by["Evidence/ev-0"].action == "different"
    assert by["Evidence/ev-0"].differences == [
        "Evidence.statistic[0].quantity.value: local 0.050 != server 0.05"
    ]
    assert by["Group/pop-0"].action == "missing"
    # the variable referencing the missing group now differs in its reference
    assert by["EvidenceVariable/outcome-0"].action == "different"


def test_chunks_keep_dependencies_together_and_commit_separately(hapi, make_client):
    corpus = synthetic_corpus(4)
    result = publish(corpus, make_client(), PublishOptions(chunk_size=6))
    assert result.error is None
    assert len(result.chunks) > 1
    assert all(c.status == "committed" and c.size <= 6 for c in result.chunks)
    assert result.counts() == {"created": len(corpus)}
    assert verify(corpus, make_client()).counts() == {"same": len(corpus)}


def test_single_transaction_and_oversized_component(hapi, make_client):
    corpus = synthetic_corpus(2)
    result = publish(corpus, make_client(), PublishOptions(chunk_size=None))
    assert len(result.chunks) == 1 and result.chunks[0].size == len(corpus)
    hapi2 = publish(corpus, make_client(), PublishOptions(chunk_size=2))
    assert any(c.oversized for c in hapi2.chunks)  # a 4-resource component stays whole


# ---------------------------------------------------------------------------------- faults
@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", status=503, retry_after="2", method="POST"),
        Fault("status", status=429, retry_after="1", method="POST"),
        Fault("status", status=502, method="POST"),
        Fault("drop", method="POST"),
        Fault("drop_after_commit", method="POST"),
    ],
)
def test_transient_faults_are_retried_without_duplicates(hapi, make_client, fault):
    corpus = synthetic_corpus(3)
    sleep = SleepRecorder()
    hapi.inject(fault, times=2)
    result = publish(corpus, make_client(sleep=sleep), PublishOptions(chunk_size=5))
    assert result.error is None, result.error
    assert result.counts() == {"created": len(corpus)}
    assert_no_duplicates(hapi)
    assert hapi.count() == len(corpus)
    if fault.retry_after:
        assert sleep.calls[:2] == [float(fault.retry_after)] * 2
    else:
        assert len(sleep.calls) == 2 and all(0 < s <= 1.0 for s in sleep.calls)
    assert verify(corpus, make_client()).counts() == {"same": len(corpus)}


def test_slow_response_times_out_and_is_retried_safely(hapi, make_client):
    corpus = synthetic_corpus(2)
    hapi.inject(Fault("slow", delay=1.0, path="^$", method="POST"))
    result = publish(corpus, make_client(read_timeout=0.3), PublishOptions(preread=False))
    assert result.error is None
    assert result.chunks[0].attempts == 2
    # the first attempt was committed before its response was lost: the retry found everything
    # in place; the report says so instead of claiming a clean "unchanged"
    assert all(r.action == "unchanged" and "earlier attempt" in r.note for r in result.resources)
    assert_no_duplicates(hapi)
    assert hapi.count() == len(corpus)
    assert all(len(hapi.history(r["resourceType"], r["id"])) == 1 for r in hapi.all_current())


def test_slow_response_with_preread_is_reported_as_created(hapi, make_client):
    corpus = synthetic_corpus(2)
    hapi.inject(Fault("slow", delay=1.0, path="^$", method="POST"))
    result = publish(corpus, make_client(read_timeout=0.3))
    assert result.counts() == {"created": len(corpus)}
    assert_no_duplicates(hapi)


@pytest.mark.parametrize(("preread", "second_chunk"), [(True, "not-sent"), (False, "unknown")])
def test_persistent_outage_mid_run_is_partial_success_and_rerun_completes(
    hapi, make_client, preread, second_chunk
):
    corpus = synthetic_corpus(4)
    size = 5
    first_chunk_done = {"n": 0}

    def fail_after_first(event):
        if event.done == 1 and not first_chunk_done["n"]:
            first_chunk_done["n"] = 1
            hapi.inject(Fault("status", status=503, retry_after="1", method="POST"), times=50)

    result = publish(
        corpus, make_client(max_retries=3), PublishOptions(chunk_size=size, preread=preread), fail_after_first
    )
    assert isinstance(result.error, ServerUnreachableError)
    assert result.exit_code == ExitCode.PARTIAL_SUCCESS
    statuses = [c.status for c in result.chunks]
    # with a pre-read, the outage hits the chunk's search batch before the transaction is sent;
    # without, it hits the transaction itself and its fate is unknown to the client
    assert statuses[0] == "committed" and statuses[1] == second_chunk
    assert set(statuses[2:]) == {"not-sent"}
    presence = assert_chunks_atomic(hapi, corpus, size)
    assert presence[0] and not any(presence[1:])
    assert_no_duplicates(hapi)
    hapi.faults.clear()
    rerun = publish(corpus, make_client(), PublishOptions(chunk_size=size))
    assert rerun.error is None
    assert rerun.counts()["unchanged"] == len(chunk_resources(corpus, size)[0].resources)
    assert all(assert_chunks_atomic(hapi, corpus, size))
    assert_no_duplicates(hapi)


def test_rejected_chunk_names_resource_and_hapi_code(hapi, make_client):
    corpus = synthetic_corpus(3)
    size = 5
    chunks = chunk_resources(corpus, size)
    victim = next(r for r in chunks[1].resources if r["resourceType"] == "Evidence")
    hapi.seed({**victim, "id": "copy-a"})
    hapi.seed({**victim, "id": "copy-b"})
    result = publish(corpus, make_client(), PublishOptions(chunk_size=size))
    err = result.error
    assert isinstance(err, RejectedByServerError)
    assert result.exit_code == ExitCode.PARTIAL_SUCCESS
    assert err.status == 412 and err.hapi_code == "HAPI-2207"
    assert err.resources == [f"Evidence/{victim['id']}"]
    assert "Multiple resources match this search" in err.message
    assert f"chunk 2 of {len(chunks)}" in err.message
    failed = [r for r in result.resources if r.action == "failed"]
    assert {r.ref for r in failed} == {f"{r['resourceType']}/{r['id']}" for r in chunks[1].resources}
    named = next(r for r in failed if r.ref == f"Evidence/{victim['id']}")
    assert "HAPI-2207" in named.note
    # nothing of the failed chunk was written (besides the two pre-existing copies)
    others = [r for r in chunks[1].resources if r is not victim]
    keys = server_keys(hapi)
    assert not any(resource_key(r) in keys for r in others)


def test_rejection_in_first_chunk_is_rejected_by_server(hapi, make_client):
    corpus = synthetic_corpus(1)
    hapi.seed({**corpus[2], "id": "c1"})
    hapi.seed({**corpus[2], "id": "c2"})
    result = publish(corpus, make_client())
    assert result.exit_code == ExitCode.REJECTED_BY_SERVER
    assert hapi.count() == 2


def _without_param(rtype: str, param: str) -> HapiStandIn:
    from . import hapi_standin

    standin = HapiStandIn()
    original = standin.capability_statement

    def statement(request=None):
        cs = original(request)
        for res in cs["rest"][0]["resource"]:
            if res["type"] == rtype:
                res["searchParam"] = [p for p in res["searchParam"] if p["name"] != param]
        return cs

    standin.capability_statement = statement
    assert param in hapi_standin.SEARCH_PARAMS[rtype]
    return standin


def test_unsuitable_servers_are_refused_with_reasons(make_client, threaded_httpserver):
    import re

    cases = [
        (HapiStandIn(fhir_version="4.0.1"), "fhirVersion is '4.0.1'"),
        (HapiStandIn(resource_types=["Evidence", "Group"]), "resource type Citation"),
        (HapiStandIn(missing_interactions={"transaction"}), "'transaction'"),
        (HapiStandIn(missing_interactions={"Evidence:update"}), "Evidence lacks interaction"),
        (_without_param("Citation", "version"), "Citation lacks search parameter(s) version"),
    ]
    for standin, expected in cases:
        threaded_httpserver.clear()
        threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(standin.handle)
        with pytest.raises(ServerUnsuitableError) as info:
            publish(synthetic_corpus(1), make_client(threaded_httpserver.url_for("/fhir")))
        assert any(expected in d for d in info.value.details), info.value.details
        assert standin.count() == 0
        assert [m for m, _ in standin.requests] == ["GET"]


def test_unreachable_server(make_client):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = SleepRecorder()
    with pytest.raises(ServerUnreachableError) as info:
        publish(synthetic_corpus(1), make_client(f"http://127.0.0.1:{port}/fhir", sleep=sleep, max_retries=2))
    assert "connection refused" in info.value.message
    assert len(sleep.calls) == 2


def test_lookups_bypass_the_search_cache(hapi, make_client):
    corpus = synthetic_corpus(1)
    assert preview(corpus, make_client()).counts() == {"would-create": len(corpus)}
    publish(corpus, make_client())
    assert preview(corpus, make_client()).counts() == {"unchanged": len(corpus)}
    assert verify(corpus, make_client()).counts() == {"same": len(corpus)}


def test_stale_preread_does_not_misreport(make_client, threaded_httpserver):
    """A proxy that drops Cache-Control leaves the pre-read stale; the status and storage code
    of the transaction still show the resources existed."""
    import re

    hapi = HapiStandIn(honour_no_cache=False)
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    corpus = synthetic_corpus(1)
    assert publish(corpus, make_client()).counts() == {"created": len(corpus)}
    assert publish(corpus, make_client()).counts() == {"unchanged": len(corpus)}


def test_lookups_are_batched_when_the_server_lists_only_transaction(make_client, threaded_httpserver):
    import re

    # like HAPI, which serves batch Bundles but lists only 'transaction' in its metadata
    hapi = HapiStandIn()
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    system = {i["code"] for i in hapi.capability_statement()["rest"][0]["interaction"]}
    assert "batch" not in system and "transaction" in system
    corpus = synthetic_corpus(1)
    result = publish(corpus, make_client())
    assert result.counts() == {"created": len(corpus)}
    assert result.requests_sent == 1 + 1 + 1  # metadata, pre-read batch, transaction
    check = verify(corpus, make_client())
    assert check.counts() == {"same": len(corpus)}
    assert check.requests_sent == 1 + 1


def test_without_batch_or_transaction_lookups_are_single_gets(make_client, threaded_httpserver):
    import re

    hapi = HapiStandIn(missing_interactions={"transaction"})
    threaded_httpserver.expect_request(re.compile(".*")).respond_with_handler(hapi.handle)
    corpus = synthetic_corpus(1)
    for res in corpus:
        hapi.seed(res)
    check = verify(corpus, make_client())
    assert check.counts() == {"same": len(corpus)}
    assert check.requests_sent == 1 + len(corpus)  # metadata, one GET each


def test_knowledge_loaded_right_after_a_dry_run_and_a_publish_is_current(hapi, make_client, seed_resources):
    from evidence_publisher.cds.knowledge import load_from_server
    from evidence_publisher.cds.recommendation import compile_all

    # The dry run searches every key and finds nothing; HAPI keeps those (empty) results for
    # 60 s and answers identical searches without Cache-Control: no-cache from them.
    assert preview(seed_resources, make_client()).counts() == {"would-create": len(seed_resources)}
    assert publish(seed_resources, make_client()).error is None
    kb = load_from_server(hapi.url, timeout=5)
    (rec,) = compile_all(kb)
    plan = next(r for r in seed_resources if r["resourceType"] == "PlanDefinition")
    assert rec.url == plan["url"]
    assert rec.activity is not None and rec.evidence


def test_references_outside_the_corpus_are_refused_before_anything_is_sent(hapi, make_client):
    from evidence_publisher.publish import InvalidPublishInputError

    # HAPI would store EvidenceVariable.characteristic.definitionReference dangling: no search
    # parameter indexes that path, so it is not checked (seen on HAPI 8.8.0)
    corpus = [r for r in synthetic_corpus(1) if r["resourceType"] != "Group"]
    with pytest.raises(InvalidPublishInputError) as caught:
        publish(corpus, make_client())
    assert caught.value.exit_code == ExitCode.INVALID_OUTPUT
    assert caught.value.details == [
        "EvidenceVariable/outcome-0 characteristic[0].definitionReference references Group/pop-0, "
        "which is not among the resources to publish; publish the whole build (a FHIR server may "
        "store the reference dangling: HAPI checks references only on searchable paths)"
    ]
    with pytest.raises(InvalidPublishInputError):
        preview(corpus, make_client())
    assert hapi.requests == []


def test_two_resources_with_one_local_id_are_refused(hapi, make_client):
    from evidence_publisher.publish import InvalidPublishInputError

    corpus = synthetic_corpus(1)
    twin = {**next(r for r in corpus if r["resourceType"] == "Citation"), "version": "2.0.0"}
    with pytest.raises(InvalidPublishInputError) as caught:
        publish([*corpus, twin], make_client())
    assert caught.value.details == ["two resources are Citation/cit-0; local ids must be unique per type"]
    assert hapi.requests == []


def test_a_duplicated_target_does_not_make_its_referrers_different(hapi, make_client):
    corpus = synthetic_corpus(1)
    assert publish(corpus, make_client()).error is None
    evidence = next(r for r in corpus if r["resourceType"] == "Evidence")
    hapi.seed({**evidence, "id": "second-copy"})
    result = verify(corpus, make_client())
    # the ArtifactAssessment points at one of the two copies: only the Evidence is reported
    assert result.counts() == {"duplicate": 1, "same": len(corpus) - 1}
    (dup,) = [r for r in result.resources if r.action == "duplicate"]
    assert dup.ref == f"Evidence/{evidence['id']}" and "Evidence/second-copy" in dup.note
