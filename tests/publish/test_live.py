"""Publish to and verify against a real FHIR R5 server named by FHIR_BASE_URL (``pytest -m live``).

Start HAPI FHIR R5 with docker (see docs/publishing.md), then:
    FHIR_BASE_URL=http://localhost:8080/fhir pytest -m live tests/publish/test_live.py
Credentials, if the server needs any, come from FHIR_TOKEN or FHIR_USERNAME/FHIR_PASSWORD.
"""

from __future__ import annotations

import os

import pytest

from evidence_publisher.publish import FhirClient, HttpOptions, auth_from_options, publish, verify

pytestmark = pytest.mark.live

BASE = os.environ.get("FHIR_BASE_URL")


@pytest.fixture
def live_client():
    if not BASE:
        pytest.skip("FHIR_BASE_URL is not set")
    with FhirClient(BASE, auth=auth_from_options(), options=HttpOptions(read_timeout=300)) as c:
        yield c


def test_live_publish_is_idempotent_and_verifies(live_client, seed_resources):
    first = publish(seed_resources, live_client)
    assert first.error is None, first.error
    assert set(first.counts()) <= {"created", "updated", "unchanged"}
    second = publish(seed_resources, live_client)
    assert second.error is None
    assert second.counts() == {"unchanged": len(seed_resources)}
    check = verify(seed_resources, live_client)
    assert check.counts() == {"same": len(seed_resources)}, [
        (r.ref, r.action, r.differences[:3]) for r in check.resources if r.action != "same"
    ]
