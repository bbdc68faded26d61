"""Small, valid mapping-model objects for the mapper unit tests, built from plain dicts.

Each factory returns the model with ``changes`` merged in (a nested dict replaces the block it
names), so a test states only what it is about.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from evidence_publisher.fhir.common import Context
from evidence_publisher.sources.model import Corpus, Publication, Recommendation

BASE_URL = "https://unit.example.org/fhir"
CTX = Context(base_url=BASE_URL, version="2.0.0", publisher="unit tests", status="active")


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def corpus_dict() -> dict[str, Any]:
    return {
        "kind": "corpus",
        "id": "unit",
        "title": "Unit corpus",
        "base_url": BASE_URL,
        "version": "2.0.0",
        "publisher": "unit tests",
        "date": "2026-01-02",
        "sources_dir": "sources",
        "sources": [
            {"id": "abstract", "file": "a.txt", "kind": "primary-abstract", "title": "A trial"},
            {"id": "blog", "file": "b.txt", "kind": "blog", "title": "A blog post"},
        ],
    }


def corpus(**changes: Any) -> Corpus:
    return Corpus.model_validate(_merged(corpus_dict(), changes))


def citation_dict() -> dict[str, Any]:
    return {
        "style": "journal-article",
        "title": "A pilot trial of stem cells",
        "journal": {"title": "Annals of Trials", "abbreviation": "Ann Trials"},
        "year": 2010,
        "month": "Aug",
        "volume": "69",
        "issue": "8",
        "pages": "1423-1429",
        "identifiers": [{"type": "doi", "value": "10.1000/trial.1"}],
        "authors": [{"name": "Liang J", "affiliation": "Nanjing"}, {"name": "Sun L"}],
        "funding": [{"funder": "Science Foundation", "grants": ["G-1", "G-2"]}],
        "quote": "A pilot trial of stem cells",
    }


def study_dict() -> dict[str, Any]:
    return {
        "design": "single-arm-before-after",
        "description": "Single-arm pilot study.",
        "enrolment": {"start": "2007-04", "end": "2009-07", "quote": "April 2007 to July 2009"},
        "population": {
            "id": "trial-population",
            "name": "Trial patients",
            "description": "Patients with refractory lupus",
            "count": 15,
            "condition": [{"system": "http://snomed.info/sct", "code": "55464009", "display": "SLE"}],
            "quote": "15 patients",
        },
        "intervention": {
            "id": "msct",
            "name": "Stem cell transplantation",
            "dose": "1 x 10^6 cells/kg",
            "quote": "1 x 10^6 cells/kg",
        },
        "follow_up": {
            "description": "mean 17.2 months",
            "mean": Decimal("17.2"),
            "dispersion": {"kind": "sd", "value": Decimal("9.5")},
            "unit": "mo",
            "quote": "17.2 +/- 9.5 months",
        },
        "quote": "pilot study",
    }


def result_dict(**changes: Any) -> dict[str, Any]:
    return _merged(
        {
            "id": "sledai-12m",
            "outcome": "sledai",
            "timepoint": {"label": "12 months", "value": 12, "unit": "mo"},
            "statistic": "mean",
            "value": Decimal("3.2"),
            "unit": "{score}",
            "participants": 12,
            "dispersion": {"kind": "unspecified", "value": Decimal("2.8")},
            "description": "SLEDAI at 12 months.",
            "quote": "3.2 +/- 2.8",
        },
        changes,
    )


def publication_dict() -> dict[str, Any]:
    return {
        "kind": "publication",
        "id": "trial-2010",
        "date": "2026-01-02",
        "source": "abstract",
        "label": "Trial 2010",
        "citation": citation_dict(),
        "study": study_dict(),
        "outcomes": [
            {
                "id": "sledai",
                "name": "SLEDAI",
                "description": "Disease activity score",
                "handling": "continuous",
            }
        ],
        "results": [result_dict()],
        "certainty": [
            {
                "id": "trial-certainty",
                "results": ["sledai-12m"],
                "overall": "low",
                "summary": "Low certainty: small single-arm study.",
                "domains": [
                    {"domain": "RiskOfBias", "rating": "serious-concern", "reason": "No control group."}
                ],
                "assessor": "the curators",
            }
        ],
    }


def publication(**changes: Any) -> Publication:
    return Publication.model_validate(_merged(publication_dict(), changes))


def recommendation_dict() -> dict[str, Any]:
    return {
        "kind": "recommendation",
        "id": "rec-msct",
        "date": "2026-01-02",
        "source": "blog",
        "stated_in": "trial-2010",
        "title": "Consider stem cells in refractory lupus",
        "statement": "Stem cells may be considered.",
        "quote": "may be considered",
        "population": {
            "id": "eligible",
            "description": "Refractory lupus",
            "quote": "refractory",
            "criteria": [
                {
                    "id": "severe-sle",
                    "description": "Active severe SLE.",
                    "resource": "Condition",
                    "codes": [{"system": "http://snomed.info/sct", "code": "55464009", "display": "SLE"}],
                    "clinical_status": ["active"],
                    "severity": [
                        {"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}
                    ],
                    "reading": "An active SLE Condition recorded as severe.",
                    "quote": "severe",
                },
                {
                    "id": "had-cyclophosphamide",
                    "description": "A finished cyclophosphamide course.",
                    "resource": "MedicationRequest",
                    "codes": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3002"}],
                    "request_status": ["completed"],
                    "reading": "A completed cyclophosphamide order.",
                    "quote": "failed",
                },
            ],
        },
        "action": {
            "id": "refer",
            "title": "Refer to a stem-cell centre",
            "description": "Refer the patient.",
            "kind": "ServiceRequest",
            "code": {"system": "http://snomed.info/sct", "code": "3457005", "display": "Referral"},
            "quote": "refer",
        },
        "evidence": ["trial-2010/sledai-12m"],
    }


def recommendation(**changes: Any) -> Recommendation:
    return Recommendation.model_validate(_merged(recommendation_dict(), changes))
