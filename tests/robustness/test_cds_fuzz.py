"""Property-based fuzzing of the CDS service over real HTTP (issue 9, point 9).

Generated hook requests (mutations of a valid one: values replaced by any JSON, keys dropped or
added, types swapped), raw bodies (random bytes and text, deep nesting, duplicate keys), headers
(content types, Authorization values against the JWT-checking service), ``$apply`` and feedback
bodies. Every answer must be 200, or a 4xx with an OperationOutcome, never a 500 and never internal
text. The runs are deterministic (``derandomize=True``, no example database) and sized for CI; the
number of examples per property is in ``EXAMPLES`` and reported in docs/cds-hooks.md.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from cds import synthetic
from cds.conftest import serve
from evidence_publisher.cds.app import create_app
from evidence_publisher.cds.config import CdsConfig, IssuerConfig
from evidence_publisher.jsonio import dumps

from .cds_fixtures import *  # noqa: F403 - the fixtures
from .cds_fixtures import ORDER_SVC, SVC, assert_nothing_internal

EXAMPLES = {"hook": 600, "raw": 300, "headers": 200, "apply": 300, "feedback": 200}
ALLOWED = {200, 400, 404, 412, 413, 415}


def fuzz_settings(name: str) -> settings:
    return settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        database=None,
        deadline=None,  # no timing assertions here; a hang would fail the suite's own timeout
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )


def check(resp: httpx.Response) -> None:
    event(f"HTTP {resp.status_code}")  # the spread shows with --hypothesis-show-statistics
    assert resp.status_code in ALLOWED, (resp.status_code, resp.text[:500])
    assert_nothing_internal(resp.text)
    body = resp.json()
    if resp.status_code == 200:
        assert isinstance(body, dict)
        return
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error" and isinstance(issue["diagnostics"], str) and issue["diagnostics"]


# ---------------------------------------------------------------------------- strategies
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "Patient",
            "Bundle",
            "Observation",
            "Condition",
            "OperationOutcome",
            "",
            "active",
            "patient-view",
            "0.5",
            "http://loinc.org",
            "2889-4",
            "68815009",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "resourceType",
                    "id",
                    "entry",
                    "resource",
                    "value",
                    "code",
                    "coding",
                    "system",
                    "valueQuantity",
                    "search",
                    "mode",
                    "x",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with 1-4 mutations at random places: replace, delete, add a key, wrap in a list,
    or swap a value for one of another JSON type."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "delete", "add", "wrap", "stringify"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.text(max_size=12))] = draw(json_values)
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "stringify":
            parent[key] = json.dumps(parent[key], default=str)
    return doc


def valid_hook(order: bool = False) -> dict[str, Any]:
    body = synthetic.hook_request("order-select" if order else "patient-view", prefetch=synthetic.prefetch())
    body["hookInstance"] = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    if order:
        body["context"]["draftOrders"] = {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "status": "draft",
                        "intent": "order",
                        "instantiatesCanonical": [f"{synthetic.BASE}/ActivityDefinition/x|1"],
                    }
                }
            ],
        }
        body["context"]["selections"] = ["ServiceRequest/x"]
    return json.loads(dumps(body, indent=None))  # plain floats, no Decimal


def post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


# ------------------------------------------------------------------------------ properties
@fuzz_settings("hook")
@given(order=st.booleans(), data=st.data())
def test_fuzz_hook_requests(cds, order: bool, data: st.DataObject) -> None:
    body = data.draw(mutated(valid_hook(order)))
    check(post(cds, ORDER_SVC if order else SVC, body))


raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "0" + "}" * n),
    st.integers(1, 50).map(lambda n: "{" + ",".join(['"hook":"patient-view"'] * n) + "}"),
    st.builds(lambda v: json.dumps(v), json_values),
)


@fuzz_settings("raw")
@given(
    body=raw_bodies,
    path=st.sampled_from([SVC, ORDER_SVC, SVC + "/feedback", "/PlanDefinition/$apply", "/cds-services/nope"]),
)
def test_fuzz_raw_bodies(cds, body: str | bytes, path: str) -> None:
    check(cds.post(path, content=body, headers={"Content-Type": "application/json"}))


content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/fhir+json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/json;;;",
            "",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
)
# h11 (the client) refuses leading or trailing whitespace in a header value
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120).map(
    str.strip
)


@pytest.fixture(scope="module")
def cds_auth(
    cds_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, Any, str]]:
    """The service with JWT checks on; yields (client, signing key, its base URL)."""
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "ES384"})
    jwks = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")

    def factory(base: str) -> Starlette:
        return create_app(
            CdsConfig(
                source=str(cds_dist),
                public_base_url=base,
                issuers=[IssuerConfig(iss="https://ehr.example.org", jwks_file=str(jwks))],
                max_body_bytes=200_000,
            )
        )

    with serve(factory) as server, httpx.Client(base_url=server.base, timeout=30.0) as client:
        yield client, key, server.base


claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.one_of(st.just("https://ehr.example.org"), json_values),
        "aud": json_values,
        "exp": st.one_of(st.integers(), json_values),
        "iat": st.one_of(st.integers(), json_values),
        "jti": json_values,
        "tenant": json_values,
    },
)
jose_headers = st.fixed_dictionaries(
    {},
    optional={
        "kid": st.one_of(st.just("k1"), json_values),
        "typ": st.one_of(st.just("JWT"), json_values),
        "jku": json_values,
        "x5u": json_values,
    },
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_es384(header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
    """A JWS signed with ``key`` whatever the header holds (PyJWT refuses odd header values)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384).sign(
        signing_input.encode(), key
    )
    return f"{signing_input}.{_b64(signature)}"


@fuzz_settings("headers")
@given(
    ctype=content_types,
    authorization=st.one_of(header_text, st.just("Bearer"), st.just("Bearer a.b.c")),
    data=st.data(),
)
def test_fuzz_headers_and_tokens(cds_auth, ctype: str, authorization: str, data: st.DataObject) -> None:
    client, key, base = cds_auth
    if data.draw(st.booleans()):  # a signed token with odd claims and header fields
        payload = {
            "iss": "https://ehr.example.org",
            "aud": base + SVC,
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "jti": str(uuid.uuid4()),
        }
        payload.update(data.draw(claims))
        header = {"alg": "ES384", "kid": "k1", "typ": "JWT", **data.draw(jose_headers)}
        authorization = f"Bearer {sign_es384(header, payload, key)}"
    headers = {"Content-Type": ctype, "Authorization": authorization}
    resp = client.post(SVC, content=json.dumps(valid_hook()), headers=headers)
    event(f"HTTP {resp.status_code}")
    assert resp.status_code in ALLOWED | {401}, (resp.status_code, resp.text[:500])
    check_body = resp.json()
    assert_nothing_internal(resp.text)
    if resp.status_code != 200:
        assert check_body["resourceType"] == "OperationOutcome"


@st.composite
def apply_bodies(draw: st.DrawFn) -> Any:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (synthetic.patient(), synthetic.condition(), synthetic.protein())],
    }
    plain = json.loads(dumps({"planDefinition": "rec-msc-ln", "patient": bundle}, indent=None))
    params = json.loads(
        dumps(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "url", "valueUri": f"{synthetic.BASE}/PlanDefinition/rec-msc-ln"},
                    {"name": "data", "resource": bundle},
                    {"name": "practitioner", "valueReference": {"reference": "Practitioner/p1"}},
                ],
            },
            indent=None,
        )
    )
    return draw(mutated(draw(st.sampled_from([plain, params]))))


@fuzz_settings("apply")
@given(body=apply_bodies())
def test_fuzz_apply(cds, body: Any) -> None:
    check(post(cds, "/PlanDefinition/$apply", body))


feedback_item = {
    "card": "9f6c1b9e-3c59-4a8f-8d2a-1f6b4f1e2a10",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "0b0d8f1e-6d3c-4e1a-9b6f-2f1c3e4d5a6b"}],
    "outcomeTimestamp": "2026-01-01T10:00:00Z",
}


@fuzz_settings("feedback")
@given(
    body=mutated(
        {
            "feedback": [
                feedback_item,
                {
                    **feedback_item,
                    "outcome": "overridden",
                    "acceptedSuggestions": None,
                    "overrideReason": {"userComment": "no"},
                },
            ]
        }
    )
)
def test_fuzz_feedback(cds, body: Any) -> None:
    check(post(cds, SVC + "/feedback", body))
