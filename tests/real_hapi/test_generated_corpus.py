"""A generated corpus of 1,000 interlinked resources on a real HAPI: stored with references
resolved, idempotent on re-publish, verified the same."""

from __future__ import annotations

import uuid

from evidence_publisher.publish import PublishOptions, publish, verify
from publish.generated import generate

from . import hapi

N = 1000


def test_a_generated_corpus_of_1000_resources(client, hapi_url):
    base = f"https://g-{uuid.uuid4().hex[:10]}.evidence-publisher.example.org/fhir"
    corpus = generate(N, base)
    assert len(corpus) == N

    result = publish(corpus, client, PublishOptions(chunk_size=250))
    assert result.error is None, result.error
    assert result.counts() == {"created": N}
    assert len(result.chunks) == 4 and all(c.status == "committed" for c in result.chunks)
    server = {r.ref: f"{r.resource_type}/{r.server_id}" for r in result.resources}
    assert len(set(server.values())) == N

    # references point at the server's copies: check every package of the first and last chunk
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in corpus}
    for ref in [*list(server)[:10], *list(server)[-10:]]:
        stored = hapi.get(hapi_url, server[ref])
        assert sorted(hapi.references(stored)) == sorted(server[r] for r in hapi.references(by_ref[ref]))

    again = publish(corpus, client, PublishOptions(chunk_size=250))
    assert again.counts() == {"unchanged": N}
    assert int(hapi.get(hapi_url, f"{server['Evidence/ev-0']}/_history?_summary=count")["total"]) == 1

    checked = verify(corpus, client)
    assert checked.counts() == {"same": N}
