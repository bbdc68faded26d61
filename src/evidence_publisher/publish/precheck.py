"""Validation before sending: nothing invalid is ever published.

The official-definition validator (``evidence_publisher.validate.Validator``) is used when it is
importable; otherwise, and with ``official=False``, each resource is parsed with fhir.resources
(structure only). Both paths live in :func:`validation_problems` so switching is one place.
"""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.bundle import collection_bundle
from evidence_publisher.publish.errors import InvalidPublishInput


def validation_problems(
    resources: list[dict], *, official: bool = True, log: Callable[[str], None] | None = None
) -> list[str]:
    """``Type/id expression: message`` for every error (empty when valid)."""
    if official:
        try:
            from evidence_publisher.validate import Validator
        except ImportError:
            Validator = None
        if Validator is not None:
            validator = Validator.from_cache(progress=log)
            report = validator.validate(
                resources, bundle=collection_bundle(resources, "https://publish.invalid"),
            )
            problems = []
            for subject, outcome in report.outcomes:
                label = (f"{subject.get('resourceType')}/{subject.get('id')}"
                         if isinstance(subject, dict) else str(subject))
                for issue in outcome.get("issue", []) or []:
                    if issue.get("severity") in ("error", "fatal"):
                        where = ", ".join(issue.get("expression", []) or [])
                        problems.append(f"{label} {where}: {issue.get('diagnostics', '')}")
            return problems
        if log is not None:
            log("note: the official-definition validator is not available; structural checks only")
    return structural_problems(resources)


def structural_problems(resources: list[dict]) -> list[str]:
    from fhir.resources import get_fhir_model_class
    from pydantic import ValidationError

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


def validate_for_publish(
    resources: list[dict], *, official: bool = True, log: Callable[[str], None] | None = None
) -> None:
    problems = validation_problems(resources, official=official, log=log)
    if problems:
        raise InvalidPublishInput(
            f"{len(problems)} validation error(s); nothing was sent to the server",
            details=problems,
        )
