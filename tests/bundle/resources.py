"""Small resources for the bundle tests: only the elements the bundle stage reads."""

from __future__ import annotations

from typing import Any

BASE = "https://unit.example.org/fhir"


def canonical(rtype: str, rid: str, version: str = "1.0.0", **fields: Any) -> dict:
    """A resource of a url-searchable type (Evidence, Citation, ...), keyed on url and version."""
    return {
        "resourceType": rtype,
        "id": rid,
        "url": f"{BASE}/{rtype}/{rid}",
        "version": version,
        "identifier": [{"system": f"{BASE}/identifier", "value": f"{rtype}/{rid}"}],
        **fields,
    }


def identified(rtype: str, rid: str, **fields: Any) -> dict:
    """A resource keyed on its identifier (Group, ArtifactAssessment, ResearchStudy)."""
    return {
        "resourceType": rtype,
        "id": rid,
        "identifier": [{"system": f"{BASE}/identifier", "value": f"{rtype}/{rid}"}],
        **fields,
    }


def reference(target: str) -> dict:
    return {"reference": target}


def corpus() -> list[dict]:
    """A Citation, a Group, an Evidence citing both, and a certainty assessing the Evidence."""
    return [
        identified(
            "ArtifactAssessment",
            "ev-certainty",
            artifactReference=reference("Evidence/ev"),
        ),
        canonical(
            "Evidence",
            "ev",
            relatedArtifact=[{"type": "derived-from", "resourceReference": reference("Citation/cit")}],
            variableDefinition=[{"observed": reference("Group/pop")}],
        ),
        identified("Group", "pop"),
        canonical("Citation", "cit"),
    ]
