"""What the publisher reports when a real HAPI refuses: a rejected transaction, duplicates that
match one conditional URL, and a dry run that must not write."""

from __future__ import annotations

import copy

from evidence_publisher import jsonio
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.publish import PublishOptions, RejectedByServerError, preview, publish, verify

from . import hapi
from .conftest import namespaced, write_dist


def _history_total(base: str) -> int:
    return int(hapi.get(base, "_history?_summary=count")["total"])


def _absent(base: str, resources: list[dict]) -> bool:
    return all(hapi.matches(base, r["resourceType"], **hapi.key_params(r)) == [] for r in resources)


def test_a_transaction_hapi_rejects_leaves_nothing_behind(client, hapi_url, seed_build):
    corpus = namespaced(seed_build)
    # HAPI refuses an absolute reference to another server on a path that a search parameter
    # indexes (Composition.subject); it is the last resource of the only transaction.
    comp = next(r for r in corpus if r["resourceType"] == "Composition")
    comp["subject"] = [{"reference": "http://elsewhere.example.org/fhir/Group/1"}]
    before = _history_total(hapi_url)

    result = publish(corpus, client, PublishOptions(chunk_size=None))

    assert isinstance(result.error, RejectedByServerError)
    assert result.exit_code == ExitCode.REJECTED_BY_SERVER
    assert result.error.hapi_code == "HAPI-0507"
    assert "not configured to allow external references" in result.error.diagnostics
    assert result.counts() == {"failed": len(corpus)}
    assert _history_total(hapi_url) == before
    assert _absent(hapi_url, corpus)


def test_two_resources_matching_one_conditional_url_are_reported(client, hapi_url, seed_build):
    corpus = namespaced(seed_build)
    assert publish(corpus, client).error is None
    target = next(r for r in corpus if r["resourceType"] == "Evidence")
    ref = f"Evidence/{target['id']}"
    # searched within the last 60 s by the publish above; the next lookups must not reuse that
    assert preview(corpus, client).counts() == {"unchanged": len(corpus)}
    # a second copy with the same url+version, created behind the publisher's back
    created = hapi.post(hapi_url, target)
    assert created.status_code == 201, created.text
    copies = hapi.matches(hapi_url, "Evidence", **hapi.key_params(target))
    assert len(copies) == 2

    dry = preview(corpus, client)
    assert dry.exit_code == ExitCode.REJECTED_BY_SERVER
    (conflict,) = [r for r in dry.resources if r.action == "conflict"]
    assert conflict.ref == ref
    for copy_ in copies:
        assert f"Evidence/{copy_['id']}" in conflict.note
    assert "HAPI-0988" in conflict.note

    checked = verify(corpus, client)
    assert checked.counts() == {"duplicate": 1, "same": len(corpus) - 1}

    before = _history_total(hapi_url)
    changed = copy.deepcopy(corpus)
    next(r for r in changed if f"{r['resourceType']}/{r['id']}" == ref)["description"] = "changed"
    result = publish(changed, client)
    assert isinstance(result.error, RejectedByServerError)
    assert result.exit_code == ExitCode.REJECTED_BY_SERVER
    # Inside a transaction HAPI 8 answers HAPI-2207 (a plain REST PUT gets HAPI-0988)
    assert result.error.hapi_code == "HAPI-2207"
    assert "Multiple resources match this search" in result.error.diagnostics
    assert ref in result.error.resources
    assert _history_total(hapi_url) == before


def test_dry_run_from_the_command_line_writes_nothing(hapi_url, seed_build, tmp_path, capsys):
    corpus = namespaced(seed_build)
    dist = write_dist(corpus, tmp_path / "dist")
    argv = ["publish", str(dist), "--server", hapi_url, "--no-validate", "--format", "json"]
    before = _history_total(hapi_url)
    assert main([*argv, "--dry-run"]) == 0
    report = jsonio.loads(capsys.readouterr().out)
    assert report["counts"] == {"would-create": len(corpus)}
    assert _history_total(hapi_url) == before
    assert _absent(hapi_url, corpus)

    assert main(argv) == 0
    capsys.readouterr()
    changed = copy.deepcopy(corpus)
    for res in changed:
        if res["resourceType"] == "Citation":
            res["title"] = res.get("title", "") + " (changed)"
    write_dist(changed, dist)
    before = _history_total(hapi_url)
    assert main([*argv, "--dry-run"]) == 0
    report = jsonio.loads(capsys.readouterr().out)
    n_citations = sum(1 for r in corpus if r["resourceType"] == "Citation")
    assert report["counts"] == {"would-update": n_citations, "unchanged": len(corpus) - n_citations}
    assert _history_total(hapi_url) == before
    assert (
        main(["verify", str(dist), "--server", hapi_url, "--format", "json"]) == ExitCode.VERIFY_DIFFERENCES
    )
