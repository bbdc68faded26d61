"""EBM-on-FHIR (R5, HL7/ebm@06becf90) profile and evidence-arithmetic rules."""

from __future__ import annotations

from collections.abc import Callable

from evidence_publisher.validate.outcome import Issue
from evidence_publisher.validate.terminology import Terminology


def check_profiles(
    res: dict, resolve: Callable[[str], dict | None], terminology: Terminology
) -> list[Issue]:
    return []
