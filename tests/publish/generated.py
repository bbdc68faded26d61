"""A generated corpus of any size for the publishing benchmark and the real-server tests:
packages of five interlinked resources, about 0.6 KB each."""

from __future__ import annotations

from decimal import Decimal

BASE = "https://bench.example.org/fhir"


def ident(base: str, rtype: str, slug: str) -> list[dict]:
    return [{"system": f"{base}/identifier", "value": f"{rtype}/{slug}"}]


def canon(base: str, rtype: str, slug: str) -> dict:
    return {
        "url": f"{base}/{rtype}/{slug}",
        "version": "1.0.0",
        "status": "active",
        "identifier": ident(base, rtype, slug),
    }


def generate(n: int, base: str = BASE) -> list[dict]:
    """``n`` resources in packages of five: Group <- EvidenceVariable <- Evidence <-
    ArtifactAssessment, plus a Citation; about 0.6 KB each."""
    out: list[dict] = []
    for i in range(n // 5):
        out.append(
            {
                "resourceType": "Group",
                "id": f"pop-{i}",
                "identifier": ident(base, "Group", f"pop-{i}"),
                "type": "person",
                "membership": "definitional",
                "characteristic": [
                    {"code": {"text": f"adults with condition {i}"}, "valueBoolean": True, "exclude": False}
                ],
            }
        )
        out.append(
            {
                "resourceType": "EvidenceVariable",
                "id": f"var-{i}",
                **canon(base, "EvidenceVariable", f"var-{i}"),
                "name": f"Outcome{i}",
                "title": f"Outcome measure {i}",
                "characteristic": [{"definitionReference": {"reference": f"Group/pop-{i}"}}],
            }
        )
        out.append(
            {
                "resourceType": "Evidence",
                "id": f"ev-{i}",
                **canon(base, "Evidence", f"ev-{i}"),
                "title": f"Effect of intervention {i} on outcome {i}",
                "variableDefinition": [
                    {
                        "variableRole": {"text": "outcome"},
                        "observed": {"reference": f"EvidenceVariable/var-{i}"},
                    }
                ],
                "statistic": [
                    {
                        "statisticType": {"text": "risk ratio"},
                        "quantity": {"value": Decimal(f"0.{i % 97 + 1:03d}")},
                        "sampleSize": {"numberOfParticipants": 100 + i},
                    }
                ],
            }
        )
        out.append(
            {
                "resourceType": "ArtifactAssessment",
                "id": f"cert-{i}",
                "identifier": ident(base, "ArtifactAssessment", f"cert-{i}"),
                "date": "2024-01-01",
                "artifactReference": {"reference": f"Evidence/ev-{i}"},
                "content": [{"type": {"text": "certainty"}, "summary": "Moderate"}],
            }
        )
        out.append(
            {
                "resourceType": "Citation",
                "id": f"cit-{i}",
                **canon(base, "Citation", f"cit-{i}"),
                "title": f"Trial report {i}",
            }
        )
    return out
