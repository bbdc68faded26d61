"""The recommendation's PlanDefinition and ActivityDefinition as FHIR R4 (4.0.1) for an R4
clinical-reasoning engine (HAPI's clinical-reasoning module; docs/cds-hooks.md, "R4 engines").

Input: the R5 resources of a build (``dist/resources``). Output: each PlanDefinition with its
ActivityDefinitions, rewritten element by element for the R4 StructureDefinitions, and the list of
what was changed. Nothing is dropped silently:

- ``meta.profile``: the EBM-on-FHIR R5 profiles have no R4 version; removed, and listed.
- ``RelatedArtifact.resourceReference`` (R5 only) is carried by the official cross-version
  extension. Its value is an R4 Reference, so a target whose type R4 lacks (the ArtifactAssessments)
  is named as the ``Basic`` resource that the FHIR cross-version rules represent it by
  (``ArtifactAssessment/x`` -> ``Basic/x``); the R4 output does not hold the targets.
- ``PlanDefinition.action.input`` is a backbone element in R5 (``title``, ``requirement``) and a
  DataRequirement in R4: the requirement is the input, its title the cross-version extension.
- ``Expression.name`` is an ``id`` in R4 (no ``_``): ``severe_active_sle`` becomes ``severe-active-sle``.
- Each applicability condition: the R5 condition is FHIRPath over a Bundle of the patient's data
  (``entry.resource.ofType(Condition).where(P).exists()``). An R4 engine fetches the patient's data
  itself: the R4 condition keeps the predicate ``P`` (with R4 paths) and reads the data through a
  CQL retrieve, ``([Condition]).where(P).exists()``, language ``text/cql``: HAPI's
  clinical-reasoning module evaluates every condition as CQL in the Patient context, and a plain
  FHIRPath expression there reaches only ``%subject`` and ``%context`` (docs/cds-hooks.md, "R4 engines").
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.constants import FHIR_VERSIONS
from evidence_publisher.convert.errors import R4ConversionError
from evidence_publisher.convert.xver import xver_url
from evidence_publisher.errors import UnsafeOutputError, UsageError, WriteError

FHIR_VERSION_R4 = FHIR_VERSIONS["R4"].version
EXT_RESOURCE_REFERENCE = xver_url("RelatedArtifact.resourceReference")
EXT_INPUT_TITLE = xver_url("PlanDefinition.action.input.title")
# The R4 type a reference names, per type of R5 resource the build writes. R4 lacks
# ArtifactAssessment and Citation: the FHIR cross-version rules (hl7.fhir.uv.xver-r5.r4) represent
# such a resource as a Basic. tests/convert/test_r4_validation.py checks this table against the R4
# definitions; a type not listed has no rule and stops the conversion.
REFERENCE_TYPES_R4 = {
    "ActivityDefinition": "ActivityDefinition",
    "ArtifactAssessment": "Basic",
    "Citation": "Basic",
    "Composition": "Composition",
    "Evidence": "Evidence",
    "EvidenceVariable": "EvidenceVariable",
    "Group": "Group",
    "Library": "Library",
    "PlanDefinition": "PlanDefinition",
    "ResearchStudy": "ResearchStudy",
}
# ``text/cql``: an inline CQL expression. R4's expression-language value set has no
# ``text/cql-expression`` (HAPI's R4 validator refuses it); CR reads ``text/cql`` with no library
# reference and a dotted expression as an inline expression.
CONDITION_LANGUAGE_R4 = "text/cql"

# R5 -> R4 renames inside a condition's predicate, per resource type the build writes conditions
# for (fhir/plan_definition.py). A type not listed here has no checked R4 reading: refused.
PREDICATE_PATHS_R4: dict[str, tuple[tuple[str, str], ...]] = {
    "Condition": (),  # code, clinicalStatus, severity: the same in R4
    # R5 CodeableReference medication.concept -> R4 choice medication[x] (CodeableConcept)
    "MedicationRequest": (("medication.concept.coding", "medication.coding"),),
    "Observation": (),
    "Procedure": (),
}
_R5_CONDITION = re.compile(
    r"entry\.resource\.ofType\(([A-Z][A-Za-z]+)\)\.where\((.*)\)\.exists\(\)", re.DOTALL
)
# The elements each resource may carry here: all are in the R4 StructureDefinitions
# (tests/convert/test_r4.py checks every path of the output against hl7.fhir.r4.core#4.0.1).
_TOP_LEVEL = {
    "PlanDefinition": {
        "resourceType", "id", "meta", "text", "url", "identifier", "version", "name", "title", "type",
        "status", "experimental", "date", "publisher", "description", "usage", "relatedArtifact", "action",
    },
    "ActivityDefinition": {
        "resourceType", "id", "meta", "text", "url", "identifier", "version", "name", "title", "status",
        "experimental", "date", "publisher", "description", "kind", "code", "intent", "priority",
    },
}  # fmt: skip
_ACTION = {
    "title",
    "description",
    "priority",
    "documentation",
    "trigger",
    "input",
    "condition",
    "definitionCanonical",
}


@dataclass
class R4Result:
    resources: list[dict[str, Any]]
    conversions: list[str] = field(default_factory=list)


def r4_condition(expression: str, where: str) -> str:
    """The R4 (CQL retrieve) form of one R5 condition expression; ``where`` names it in errors."""
    match = _R5_CONDITION.fullmatch(expression.strip())
    if match is None:
        raise R4ConversionError(
            f"{where}: condition {expression!r} is not of the form "
            "entry.resource.ofType(T).where(...).exists() that the R4 conversion reads"
        )
    rtype, predicate = match.groups()
    if rtype not in PREDICATE_PATHS_R4:
        raise R4ConversionError(
            f"{where}: conditions on {rtype} have no R4 reading yet "
            f"(known: {', '.join(sorted(PREDICATE_PATHS_R4))}); add one in convert/r4.py"
        )
    for r5_path, r4_path in PREDICATE_PATHS_R4[rtype]:
        predicate = predicate.replace(r5_path, r4_path)
    return f"([{rtype}]).where({predicate}).exists()"


def _check_keys(res: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(res) - allowed)
    if extra:
        raise R4ConversionError(
            f"{where}: element(s) {', '.join(extra)} have no R4 conversion rule; add one in convert/r4.py"
        )


def _meta(res: dict[str, Any], where: str, log: list[str]) -> None:
    profiles = res.get("meta", {}).get("profile", [])
    if profiles:
        log.append(f"{where}: meta.profile {', '.join(profiles)} removed (R5 profiles; no R4 version)")
        res["meta"].pop("profile")
        if not res["meta"]:
            res.pop("meta")


def _r4_reference(ref: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """The R4 form of an R5 Reference and what changed in it (empty when nothing did)."""
    _check_keys(ref, {"reference", "display"}, where)
    literal = ref.get("reference")
    rtype, sep, rid = literal.partition("/") if isinstance(literal, str) else ("", "", "")
    if not sep or not rid or "/" in rid:
        raise R4ConversionError(f"{where}: reference {literal!r} is not of the form Type/id")
    r4_type = REFERENCE_TYPES_R4.get(rtype)
    if r4_type is None:
        raise R4ConversionError(
            f"{where}: references to {rtype} have no R4 rule "
            f"(known: {', '.join(sorted(REFERENCE_TYPES_R4))}); add one in convert/r4.py"
        )
    if r4_type == rtype:
        return ref, ""
    return {**ref, "reference": f"{r4_type}/{rid}"}, (
        f", naming {r4_type}/{rid}: R4 has no {rtype}; the FHIR cross-version rules represent one as a "
        f"{r4_type} resource (not part of this output)"
    )


def _related_artifacts(items: list[dict[str, Any]], where: str, log: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        item = dict(item)
        ref = item.pop("resourceReference", None)
        if ref is not None:
            here = f"{where}.relatedArtifact[{i}].resourceReference"
            r4_ref, retyped = _r4_reference(ref, here)
            item.setdefault("extension", []).append({"url": EXT_RESOURCE_REFERENCE, "valueReference": r4_ref})
            log.append(
                f"{here} ({ref.get('reference')}): carried by the cross-version extension (R5 only){retyped}"
            )
        out.append(item)
    return out


def _action(action: dict[str, Any], where: str, log: list[str]) -> dict[str, Any]:
    _check_keys(action, _ACTION, where)
    out = dict(action)
    inputs = []
    for i, inp in enumerate(action.get("input", [])):
        _check_keys(inp, {"title", "requirement"}, f"{where}.input[{i}]")
        req = copy.deepcopy(inp["requirement"])
        if "title" in inp:
            req.setdefault("extension", []).append({"url": EXT_INPUT_TITLE, "valueString": inp["title"]})
        inputs.append(req)
    if inputs:
        out["input"] = inputs
        log.append(
            f"{where}.input: each R5 input's requirement is the R4 DataRequirement; title by extension"
        )
    conditions = []
    for i, cond in enumerate(action.get("condition", [])):
        expr = dict(cond["expression"])
        here = f"{where}.condition[{i}]"
        if expr.get("language") != "text/fhirpath":
            raise R4ConversionError(
                f"{here}: language {expr.get('language')!r}; the R4 conversion reads text/fhirpath"
            )
        expr["expression"] = r4_condition(expr["expression"], here)
        expr["language"] = CONDITION_LANGUAGE_R4
        if "name" in expr and "_" in expr["name"]:
            expr["name"] = expr["name"].replace("_", "-")
            log.append(f"{here}.expression.name: '_' -> '-' (an id in R4)")
        conditions.append({**cond, "expression": expr})
        log.append(f"{here}: FHIRPath over the patient Bundle -> the same predicate over a CQL retrieve")
    if conditions:
        out["condition"] = conditions
    return out


def _plan_definition(pd: dict[str, Any], log: list[str]) -> dict[str, Any]:
    where = f"PlanDefinition/{pd['id']}"
    _check_keys(pd, _TOP_LEVEL["PlanDefinition"], where)
    out = copy.deepcopy(pd)
    _meta(out, where, log)
    if "relatedArtifact" in out:
        out["relatedArtifact"] = _related_artifacts(out["relatedArtifact"], where, log)
    out["action"] = [_action(a, f"{where}.action[{i}]", log) for i, a in enumerate(pd.get("action", []))]
    return out


def _activity_definition(ad: dict[str, Any], log: list[str]) -> dict[str, Any]:
    where = f"ActivityDefinition/{ad['id']}"
    _check_keys(ad, _TOP_LEVEL["ActivityDefinition"], where)
    out = copy.deepcopy(ad)
    _meta(out, where, log)
    return out


def _unversioned(canonical: str) -> str:
    return canonical.partition("|")[0]


def to_r4(resources: list[dict[str, Any]]) -> R4Result:
    """The R4 form of every PlanDefinition in ``resources`` and of the ActivityDefinitions its
    actions name (sorted by type and id). Raises R4ConversionError naming the element it cannot
    convert, before anything is returned."""
    plans = sorted((r for r in resources if r.get("resourceType") == "PlanDefinition"), key=lambda r: r["id"])
    if not plans:
        raise R4ConversionError("the build holds no PlanDefinition to convert")
    by_url = {r.get("url"): r for r in resources if r.get("resourceType") == "ActivityDefinition"}
    log: list[str] = []
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for pd in plans:
        out[("PlanDefinition", pd["id"])] = _plan_definition(pd, log)
        for i, action in enumerate(pd.get("action", [])):
            canonical = action.get("definitionCanonical")
            if canonical is None:
                continue
            ad = by_url.get(_unversioned(canonical))
            if ad is None:
                raise R4ConversionError(
                    f"PlanDefinition/{pd['id']}.action[{i}].definitionCanonical {canonical}: "
                    "no ActivityDefinition with that url in the build"
                )
            out[("ActivityDefinition", ad["id"])] = _activity_definition(ad, log)
    return R4Result(resources=[out[k] for k in sorted(out)], conversions=list(dict.fromkeys(log)))


def read_build(dist: Path) -> list[dict[str, Any]]:
    """The resources of a build directory (``DIST/resources/*.json``)."""
    folder = dist / "resources"
    if not folder.is_dir():
        raise UsageError(f"{dist}: no resources/ folder; give the output directory of `build`")
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            res = jsonio.load_file(path)
        except (OSError, ValueError) as exc:
            raise R4ConversionError(f"{path}: not a readable JSON resource ({exc})") from None
        if isinstance(res, dict):
            out.append(res)
    return out


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """An R4 transaction Bundle that PUTs each resource at its id (what an R4 server loads)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def write_r4(result: R4Result, out: Path) -> list[Path]:
    """Write ``OUT/resources/<Type>-<id>.json`` and ``OUT/r4-transaction.json``. ``out`` must be new
    or empty; the files appear together (written beside it, then moved in) or not at all."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UnsafeOutputError(f"{out}: exists and is not an empty directory; give a new --out")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    except OSError as exc:
        raise WriteError(f"{out}: could not write the R4 files ({exc})") from None
    names = []
    try:
        (staging / "resources").mkdir()
        for res in result.resources:
            name = Path("resources") / f"{res['resourceType']}-{res['id']}.json"
            (staging / name).write_text(jsonio.dumps(res), encoding="utf-8")
            names.append(name)
        (staging / "r4-transaction.json").write_text(
            jsonio.dumps(transaction(result.resources)), encoding="utf-8"
        )
        names.append(Path("r4-transaction.json"))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise WriteError(f"{out}: could not write the R4 files ({exc})") from None
    return [out / n for n in names]
