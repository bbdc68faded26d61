"""Validation results as one line per error, for callers that refuse to write or send on errors."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FhirVersion
from evidence_publisher.validate.outcome import ValidationReport


def error_lines(report: ValidationReport) -> list[str]:
    """``Type/id expression: diagnostics`` for every error or fatal issue in ``report``."""
    lines = []
    for subject, outcome in report.outcomes:
        if isinstance(subject, dict):
            label = f"{subject.get('resourceType')}/{subject.get('id')}"
        else:
            label = str(subject)
        for issue in outcome.get("issue", []) or []:
            if issue.get("severity") in ("error", "fatal"):
                where = ", ".join(issue.get("expression", []) or [])
                lines.append(f"{label} {where}: {issue.get('diagnostics', '')}")
    return lines


def structural_problems(resources: Iterable[dict], fhir: FhirVersion = DEFAULT_FHIR_VERSION) -> list[str]:
    """Parse each resource with fhir.resources' models of ``fhir``: structure only, no packages needed.

    A version without models there (R4) is left to the validator. What the parse misses is listed
    in docs/validation.md ("What fhir.resources checks").
    """
    from pydantic import ValidationError

    if fhir.models_module is None:
        return []
    get_fhir_model_class = importlib.import_module(fhir.models_module).get_fhir_model_class

    problems = []
    for res in resources:
        label = f"{res.get('resourceType')}/{res.get('id')}"
        try:
            get_fhir_model_class(res["resourceType"]).model_validate(res)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path = ".".join(str(p) for p in err["loc"])
                problems.append(f"{label} {res['resourceType']}.{path}: {err['msg']}")
        except (KeyError, ValueError) as exc:
            problems.append(f"{label}: {exc}")
    return problems
