"""Findings the validator reports on the seed corpus whose fix belongs to the compiler.

Since the validator reads modifier-extension placement (hl7.fhir.uv.extensions.r5 installed) and
RecommendationJustification's closed component slices, it reports two known faults of the
generated resources (issue "Evidence a methodologist can trust", point 9):

* ``artifact-status`` (a modifier extension) sits in ``extension`` on every Group and
  ArtifactAssessment;
* the justification's recommendationSpecification discussion component has no ``type``.

The fix is in src/evidence_publisher/fhir/ (another branch). Until it lands, the tests that
build or validate the seed corpus tolerate exactly these findings and nothing else; once the
corpus is fixed they pass without this list, which can then be deleted.
"""

from __future__ import annotations

import re

ARTIFACT_STATUS = "http://hl7.org/fhir/StructureDefinition/artifact-status"
JUSTIFICATION = "ArtifactAssessment/rec-stem-cell-refractory-lupus-justification"

_LINE = re.compile(r"^(?P<label>\S+/\S+) (?P<expr>\S+): \[(?P<rule>[^\]]+)\] (?P<msg>.*)$")


def is_known(label: str, expression: str, rule: str, message: str) -> bool:
    """``label`` is ``Type/id``; the other fields as in an OperationOutcome issue."""
    rtype = label.split("/", 1)[0]
    if rule == "extension-modifier" and ARTIFACT_STATUS in message:
        return (
            rtype in ("Group", "ArtifactAssessment")
            and re.fullmatch(rf"{rtype}\.extension\[\d+\]", expression) is not None
        )
    if rule == "ebm-rj-component":  # the justification (in transaction Bundles it has no id)
        return (
            label in (JUSTIFICATION, "ArtifactAssessment/None", "ArtifactAssessment")
            and "has no type" in message
            and re.fullmatch(r"ArtifactAssessment\.content\[0\]\.component\[\d+\]\.type", expression)
            is not None
        )
    return False


def only_known_errors(stderr: str) -> bool:
    """``build`` failed validation (exit 12) on known findings alone: its stderr lists at least
    one error line (``Type/id FHIRPath: [rule] message``) and every one is known."""
    found = [m for m in (_LINE.match(ln.strip()) for ln in stderr.splitlines()) if m is not None]
    return bool(found) and all(is_known(m["label"], m["expr"], m["rule"], m["msg"]) for m in found)
