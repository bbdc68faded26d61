"""The FHIR NPM package of a build, loaded by the real HAPI FHIR R5 server through HAPI's own
package installer (``IPackageInstallerSvc``, exposed by the test server as ``POST [base]/$install``),
then read back resource by resource.

HAPI 8.8.0's installer looks every resource up before it writes it: by ``url`` when the type has
that element, else by identifier. Three of our types fail there on an R5 server: Group and
ArtifactAssessment have no ``url``, and the identifier is cast to the R4 ``Identifier`` class
(HAPI-1286, ClassCastException); ResearchStudy has a ``url`` but HAPI has no ``url`` search
parameter for it (HAPI-1223). Those are loaded by ``publish`` instead (docs/packages.md); the last
test pins the HAPI behaviour so that a fixed HAPI is noticed.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from typing import Any

import pytest

from evidence_publisher.fhirclient import RejectedByServerError
from evidence_publisher.packages import PackageCache
from evidence_publisher.packages.writer import build_package, dependencies, tarball_bytes
from evidence_publisher.publish.compare import differences, normalize_local, normalize_server

from . import hapi
from .conftest import namespaced

# HAPI installs the types it is given in this order (its default is conformance resources only).
INSTALL_ORDER = (
    "EvidenceVariable",
    "Citation",
    "Evidence",
    "ActivityDefinition",
    "PlanDefinition",
    "Composition",
)
# the types HAPI 8.8.0's installer fails on (see above), with the error it gives
NOT_INSTALLABLE = {
    "Group": "org.hl7.fhir.r4.model.Identifier",
    "ArtifactAssessment": "org.hl7.fhir.r4.model.Identifier",
    "ResearchStudy": 'Unknown search parameter "url" for resource type "ResearchStudy"',
}


def _own_ids(resources: list[dict], tag: str) -> list[dict]:
    """The ids and the references between them made unique to this test: the package keeps its
    ids on the server, and other tests of the session store the seed corpus too."""
    new = {f"{r['resourceType']}/{r['id']}": f"p{tag}-{i:04d}" for i, r in enumerate(resources)}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            ref = out.get("reference")
            if isinstance(ref, str) and ref in new:
                out["reference"] = f"{ref.split('/')[0]}/{new[ref]}"
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    renamed = []
    for res in resources:
        copy = walk(res)
        copy["id"] = new[f"{res['resourceType']}/{res['id']}"]
        renamed.append(copy)
    return renamed


def _package(seed_build: list[dict]) -> tuple[str, list[dict], Any, bytes]:
    tag = uuid.uuid4().hex[:8]
    corpus = _own_ids(namespaced(seed_build, tag), tag)
    assert {r["resourceType"] for r in corpus} == {*INSTALL_ORDER, *NOT_INSTALLABLE}
    report = {
        "corpus": f"t-{tag}",
        "version": "1.0.0",
        "title": "Seed corpus (real HAPI package test)",
        "base_url": f"https://t-{tag}.evidence-publisher.example.org/fhir",
    }
    deps = dependencies(corpus, PackageCache.default().definitions())
    built = build_package(corpus, report, deps)
    return tag, corpus, built, tarball_bytes(built.files)


def _install(client: Any, tarball: bytes, types: tuple[str, ...]) -> Any:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "package", "valueBase64Binary": base64.b64encode(tarball).decode()},
            *({"name": "resourceType", "valueString": t} for t in types),
        ],
    }
    return client.request("POST", "$install", body=params)


def test_hapi_installs_the_package_and_serves_every_resource(client, hapi_url, seed_build):
    tag, corpus, built, tarball = _package(seed_build)
    answer = _install(client, tarball, INSTALL_ORDER).body
    values = {p["name"]: p.get("valueString") for p in answer["parameter"] if "valueString" in p}
    assert values["name"] == built.spec.name == f"org.example.evidence-publisher.t-{tag}.t-{tag}"
    assert values["version"] == "1.0.0"
    installed = {
        part["part"][0]["valueString"]: part["part"][1]["valueInteger"]
        for part in answer["parameter"]
        if part["name"] == "installed"
    }
    corpus = [r for r in corpus if r["resourceType"] not in NOT_INSTALLABLE]
    assert installed == dict(Counter(r["resourceType"] for r in corpus))

    # every resource is there under the package's own id, equal to the package's copy
    for res in corpus:
        stored = hapi.get(hapi_url, f"{res['resourceType']}/{res['id']}")
        assert stored["meta"]["source"].startswith(f"{built.spec.name}|1.0.0")  # HAPI marks the package
        local = normalize_local(res, lambda ref: ref)
        server = normalize_server(stored, keep_text="text" in res)
        diff = differences(local, server, res["resourceType"])
        assert diff == [], f"{res['resourceType']}/{res['id']}: {diff[:5]}"
    # canonical resources are found by their url, as a CDS engine or $apply resolves them
    plan = next(r for r in corpus if r["resourceType"] == "PlanDefinition")
    assert [m["id"] for m in hapi.matches(hapi_url, "PlanDefinition", url=plan["url"])] == [plan["id"]]


def test_hapi_cannot_install_group_artifactassessment_researchstudy_on_r5(client, seed_build):
    """HAPI 8.8.0 limits (see the module docstring): when this fails, HAPI has fixed one; move the
    type into INSTALL_ORDER and update docs/packages.md."""
    *_, tarball = _package(seed_build)
    for rtype, error in NOT_INSTALLABLE.items():
        with pytest.raises(RejectedByServerError) as caught:
            _install(client, tarball, (rtype,))
        assert "HAPI-1286" in caught.value.message
        assert error in caught.value.message
