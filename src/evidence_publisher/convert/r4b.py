"""R5 -> R4B (4.3.0): the build's resources rewritten in their R4B shape, with a list of every
conversion (resource, R5 path, what it became) for the build report.

Elements R4B has unchanged are copied; the others follow ``r4b_rules.RULES``. ArtifactAssessment
has no R4B resource: a certainty rating of an Evidence of the build becomes that Evidence's
``certainty`` (the R4B home of certainty ratings); any other assessment becomes a ``Basic``
resource whose content travels in cross-version extensions. References to an assessment follow
it. The EBMonFHIR profiles in ``meta.profile`` are R5 profiles and are removed (and reported).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from evidence_publisher.constants import CERTAINTY_TYPE, CORE_SD, FHIR_VERSIONS
from evidence_publisher.convert.errors import UnmappedElementError
from evidence_publisher.convert.r4b_rules import (
    AA_CONTENT,
    CODE_SYSTEMS,
    RELATED_ARTIFACT,
    RULES,
    Custom,
    Retype,
    Xver,
)
from evidence_publisher.convert.xver import Kind, encode, unmapped_children, xver_url

R4B = FHIR_VERSIONS["R4B"]
DATA_ABSENT_REASON = CORE_SD + "data-absent-reason"
FHIR_TYPES = "http://hl7.org/fhir/fhir-types"  # the R5 code system of resource type names
R5_URL_CLASSIFIER = "http://hl7.org/fhir/artifact-url-classifier"
R4B_ARTICLE_URL_TYPE = "http://terminology.hl7.org/CodeSystem/article-url-type"
# R4B's article-url-type, which R5 renamed artifact-url-classifier keeping these codes
_ARTICLE_URL_CODES = frozenset(
    {"abstract", "abstract-version", "doi-based", "full-text", "full-text-version", "pdf", "pdf-version"}
    | {"webpage", "not-specified", "json", "json-version", "xml", "xml-version", "supplement"}
    | {"supplementary-file-directory", "compressed-file"}
)
# R4B RelatedArtifact.type (required binding related-artifact-type 4.3.0)
_RELATED_ARTIFACT_TYPES = frozenset(
    {"documentation", "justification", "citation", "predecessor", "successor", "derived-from"}
    | {"depends-on", "composed-of"}
)
_R4B_RELATED_ARTIFACT = frozenset({"id", "extension", "type", "label", "display", "citation", "url"}) | {
    "document",
    "resource",
}
_R4B_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True, order=True)
class Conversion:
    """One R5 element of one resource and what it became in R4B."""

    resource: str  # "Evidence/liang-2010-sledai-12m"
    r5_path: str  # "Evidence.studyDesign"
    became: str

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "r5_path": self.r5_path, "became": self.became}


@dataclass
class R4BResult:
    resources: list[dict[str, Any]]
    conversions: list[Conversion]
    # "ArtifactAssessment/x" -> the resource that now carries it ("Basic/x", "Evidence/y")
    moved: dict[str, str] = field(default_factory=dict)


@dataclass
class _Ctx:
    canonicals: dict[str, str]  # "Citation/x" -> "url|version" for R4B canonical resources
    conversions: list[Conversion]
    resource: str = ""

    def note(self, r5_path: str, became: str) -> None:
        self.conversions.append(Conversion(self.resource, r5_path, became))

    def unmapped(self, path: str, why: str = "") -> UnmappedElementError:
        return UnmappedElementError(
            f"{self.resource}: R5 element {path} has no R4B mapping{why}; nothing was written",
            details=[
                "add a rule for it in src/evidence_publisher/convert/r4b_rules.py "
                "(docs/fhir-versions.md says how), or build for R5"
            ],
        )


def to_r4b(resources: list[dict[str, Any]]) -> R4BResult:
    """The R4B form of an R5 build (the input is not changed)."""
    r5 = copy.deepcopy(resources)
    ctx = _Ctx(_canonicals(r5), [])
    out: list[dict[str, Any]] = []
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in r5}
    moved: dict[str, str] = {}
    for res in r5:  # certainty ratings first, so that they are converted with their Evidence
        target = _certainty_target(res, by_key) if res["resourceType"] == "ArtifactAssessment" else None
        if target is not None:
            ctx.resource = f"ArtifactAssessment/{res['id']}"
            _fold_certainty(res, target, ctx)
            moved[ctx.resource] = f"Evidence/{target['id']}"
    for res in r5:
        ctx.resource = f"{res['resourceType']}/{res['id']}"
        if ctx.resource in moved:
            continue
        if res["resourceType"] == "ArtifactAssessment":
            res = _basic(res, ctx)
            moved[ctx.resource] = f"Basic/{res['id']}"
        _drop_profiles(res, ctx)
        _walk(res, res["resourceType"], ctx)
        out.append(res)
    for res in out:
        ctx.resource = f"{res['resourceType']}/{res['id']}"
        _follow_moves(res, moved, ctx)
    return R4BResult(out, sorted(set(ctx.conversions)), moved)


def _canonicals(resources: list[dict[str, Any]]) -> dict[str, str]:
    found = {}
    for r in resources:
        if r["resourceType"] in R4B.canonical_types and isinstance(r.get("url"), str):
            version = r.get("version")
            found[f"{r['resourceType']}/{r['id']}"] = f"{r['url']}|{version}" if version else r["url"]
    return found


# ---------------------------------------------------------------------------- the walk
def _walk(obj: dict[str, Any], path: str, ctx: _Ctx) -> None:
    system = obj.get("system")
    if isinstance(system, str) and system in CODE_SYSTEMS and "code" in obj:
        obj["system"] = CODE_SYSTEMS[system]
        ctx.note(f"{path}.system", f"{obj['system']} (R4B's edition of {system})")
    for key in sorted(obj):
        if key not in obj or key in ("extension", "modifierExtension", "div"):
            continue
        child_path = f"{path}.{key.removeprefix('_')}"
        rule = RULES.get(child_path)
        if rule is None:
            for item in _items(obj[key]):
                if isinstance(item, dict):
                    _walk(item, child_path, ctx)
        elif isinstance(rule, Retype):
            ctx.note(child_path, f"{child_path} (type {rule.r4b_type} in R4B)")
        elif isinstance(rule, Xver):
            _to_extension(obj, key, child_path, rule.path, rule.kind, ctx)
        else:
            HANDLERS[rule.handler](obj, key, child_path, ctx)
            for item in _items(obj.get(key)):  # what the handler left in R4B elements
                if isinstance(item, dict):
                    _walk(item, child_path, ctx)


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _to_extension(obj: dict[str, Any], key: str, path: str, xpath: str, kind: Kind, ctx: _Ctx) -> None:
    if key.startswith("_") or f"_{key}" in obj:
        raise ctx.unmapped(path, " (an extension on a primitive element that moves to an extension)")
    value = obj.pop(key)
    missing = unmapped_children(value, kind)
    if missing:
        raise ctx.unmapped(f"{path}.{missing[0]}")
    obj.setdefault("extension", []).extend(encode(xpath, value, kind))
    ctx.note(path, f"extension {xver_url(xpath)}")


def _drop_profiles(res: dict[str, Any], ctx: _Ctx) -> None:
    meta = res.get("meta")
    if not isinstance(meta, dict) or "profile" not in meta:
        return
    for profile in meta.pop("profile"):
        ctx.note(f"{res['resourceType']}.meta.profile", f"removed {profile} (an R5 profile)")
    if not meta:
        del res["meta"]


def _follow_moves(res: dict[str, Any], moved: dict[str, str], ctx: _Ctx) -> None:
    for node in _dicts(res):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in moved:
            node["reference"] = moved[ref]
            ctx.note("reference", f"{ref} -> {moved[ref]}")


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dicts(v)


# ---------------------------------------------------------------------------- handlers
def _r4b_related_artifact(ra: dict[str, Any], path: str, ctx: _Ctx) -> dict[str, Any] | None:
    """The R4B RelatedArtifact of an R5 one, or None when R4B's cannot hold it (an R5-only type
    code or element): ``resourceReference`` becomes ``resource`` when it names a canonical resource
    of the build, else its cross-version extension."""
    if ra.get("type") not in _RELATED_ARTIFACT_TYPES or not set(ra) <= _R4B_RELATED_ARTIFACT | {
        "resourceReference"
    }:
        return None
    ra = dict(ra)
    ref = ra.pop("resourceReference", None)
    if ref is not None:
        canonical = ctx.canonicals.get(ref.get("reference", "")) if set(ref) == {"reference"} else None
        if canonical is not None:
            ra["resource"] = canonical
            ctx.note(f"{path}.resourceReference", f"{path}.resource (canonical {canonical})")
        else:
            ra.setdefault("extension", []).extend(
                encode("RelatedArtifact.resourceReference", ref, "Reference")
            )
            ctx.note(
                f"{path}.resourceReference", f"extension {xver_url('RelatedArtifact.resourceReference')}"
            )
    return ra


def _related_artifacts(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    kept = []
    for ra in obj.pop(key):
        r4b = _r4b_related_artifact(ra, path, ctx)
        if r4b is None:
            if unmapped_children(ra, RELATED_ARTIFACT):
                raise ctx.unmapped(f"{path}.{unmapped_children(ra, RELATED_ARTIFACT)[0]}")
            obj.setdefault("extension", []).extend(encode(path, ra, RELATED_ARTIFACT))
            ctx.note(path, f"extension {xver_url(path)} (type {ra.get('type')!r} is not an R4B code)")
            continue
        kept.append(r4b)
    if kept:
        obj[key] = kept


def _related_artifact_extensions(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    """An R5 element of type RelatedArtifact that R4B lacks (Composition.relatesTo): its
    cross-version extension with a ``valueRelatedArtifact`` in R4B's shape, as HL7's cross-version
    definitions type it; a RelatedArtifact R4B's type cannot hold becomes a complex extension."""
    for ra in obj.pop(key):
        r4b = _r4b_related_artifact(ra, path, ctx)
        if r4b is not None:
            obj.setdefault("extension", []).append({"url": xver_url(path), "valueRelatedArtifact": r4b})
            ctx.note(path, f"extension {xver_url(path)} (valueRelatedArtifact)")
            continue
        if unmapped_children(ra, RELATED_ARTIFACT):
            raise ctx.unmapped(f"{path}.{unmapped_children(ra, RELATED_ARTIFACT)[0]}")
        obj.setdefault("extension", []).extend(encode(path, ra, RELATED_ARTIFACT))
        ctx.note(path, f"extension {xver_url(path)} (type {ra.get('type')!r} is not an R4B code)")


def _contributor_entries(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    for entry in obj[key]:
        for name in sorted(entry):
            sub = f"{path}.{name}"
            if name == "contributor" and set(entry[name]) == {"display"}:
                entry["name"] = {"text": entry.pop(name)["display"]}
                ctx.note(sub, f"{path}.name.text")
            elif name == "affiliation" and all(set(a) == {"display"} for a in entry[name]):
                entry["affiliationInfo"] = [{"affiliation": a["display"]} for a in entry.pop(name)]
                ctx.note(sub, f"{path}.affiliationInfo.affiliation")
            elif name == "rankingOrder":
                entry["listOrder"] = entry.pop(name)
                ctx.note(sub, f"{path}.listOrder")
            elif name == "forenameInitials":
                entry["initials"] = entry.pop(name)
                ctx.note(sub, f"{path}.initials")
            elif name in ("contributor", "affiliation"):
                _to_extension(entry, name, sub, sub, "Reference", ctx)
            elif name not in ("id", "extension", "contributionType", "role", "correspondingContact"):
                raise ctx.unmapped(sub)


_PERIODIC = {
    "issue": "issue",
    "volume": "volume",
    "citedMedium": "citedMedium",
}
_DATE_OF_PUBLICATION = {
    "publicationDateText": "text",
    "publicationDateYear": "year",
    "publicationDateMonth": "month",
    "publicationDateDay": "day",
    "publicationDateSeason": "season",
}
_SAME_PUBLICATION_FORM = frozenset(
    {"id", "extension", "publishedIn", "articleDate", "lastRevisionDate", "language", "accessionNumber"}
    | {"pageString", "firstPage", "lastPage", "pageCount", "copyright"}
)


def _publication_forms(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    for form in obj[key]:
        for name in sorted(form):
            sub = f"{path}.{name}"
            if name in _PERIODIC:
                form.setdefault("periodicRelease", {})[_PERIODIC[name]] = form.pop(name)
                ctx.note(sub, f"{path}.periodicRelease.{_PERIODIC[name]}")
            elif name in _DATE_OF_PUBLICATION:
                release = form.setdefault("periodicRelease", {})
                release.setdefault("dateOfPublication", {})[_DATE_OF_PUBLICATION[name]] = form.pop(name)
                ctx.note(sub, f"{path}.periodicRelease.dateOfPublication.{_DATE_OF_PUBLICATION[name]}")
            elif name not in _SAME_PUBLICATION_FORM and name != "periodicRelease":
                raise ctx.unmapped(sub)


def _web_locations(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    for loc in obj[key]:
        classifiers = loc.get("classifier")
        if classifiers is None:
            continue
        codings = [c for cc in classifiers for c in cc.get("coding", ())]
        if (
            len(classifiers) == 1
            and set(classifiers[0]) == {"coding"}
            and all(
                c.get("system") == R5_URL_CLASSIFIER and c.get("code") in _ARTICLE_URL_CODES for c in codings
            )
        ):
            loc.pop("classifier")
            loc["type"] = {"coding": [{**c, "system": R4B_ARTICLE_URL_TYPE} for c in codings]}
            ctx.note(f"{path}.classifier", f"{path}.type ({R4B_ARTICLE_URL_TYPE}, the same codes)")
        else:
            _to_extension(
                loc, "classifier", f"{path}.classifier", f"{path}.classifier", "CodeableConcept", ctx
            )
        if not set(loc) <= {"id", "extension", "type", "url"}:
            raise ctx.unmapped(f"{path}.{sorted(set(loc) - {'id', 'extension', 'type', 'url'})[0]}")


def _group_membership(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    membership = obj.pop(key)
    if membership not in ("enumerated", "definitional"):
        raise ctx.unmapped(path, f" (membership {membership!r})")
    obj["actual"] = membership == "enumerated"
    ctx.note(path, f"Group.actual = {str(obj['actual']).lower()} (membership {membership})")


def _expression_name(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    if not _R4B_ID.fullmatch(str(obj[key])):
        # R4B types Expression.name as id, which has no '_': the R5 code travels in an extension
        _to_extension(obj, key, path, "Expression.name", "code", ctx)


def _action_inputs(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    requirements = []
    for item in obj.pop(key):
        if set(item) - {"title", "requirement"} or "requirement" not in item:
            raise ctx.unmapped(f"{path}.{sorted(set(item) - {'title'})[0]}", " (only title + requirement)")
        requirement = dict(item["requirement"])
        if "title" in item:
            requirement.setdefault("extension", []).extend(encode(f"{path}.title", item["title"], "string"))
        requirements.append(requirement)
    obj[key] = requirements
    ctx.note(path, f"{path} (the DataRequirement of input.requirement)")
    if any("extension" in r for r in requirements):
        ctx.note(f"{path}.title", f"extension {xver_url(f'{path}.title')}")


def _study_status(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    # R5's status is the publication status of the record; R4B's is the state of the study,
    # which the sources do not give: it is marked absent and the R5 value kept in an extension.
    # R5's status is a modifier element, so its extension is a modifier extension (as in HL7's
    # cross-version definitions).
    status = obj.pop(key)
    obj.setdefault("modifierExtension", []).extend(encode(path, status, "code"))
    obj["_status"] = {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}]}
    ctx.note(
        path, f"modifier extension {xver_url(path)}; ResearchStudy.status absent (data-absent-reason unknown)"
    )


def _single_identifier(obj: dict[str, Any], key: str, path: str, ctx: _Ctx) -> None:
    """R4B allows one identifier where R5 allows many: the first stays, the others move."""
    first, *rest = obj.pop(key)
    obj[key] = first
    ctx.note(path, f"{path} (0..1 in R4B: the first of {len(rest) + 1})")
    if rest:
        obj["identifier_rest"] = rest
        _to_extension(obj, "identifier_rest", path, path, "Identifier", ctx)


HANDLERS: dict[str, Callable[[dict[str, Any], str, str, _Ctx], None]] = {
    "related_artifacts": _related_artifacts,
    "related_artifact_extensions": _related_artifact_extensions,
    "contributor_entries": _contributor_entries,
    "publication_forms": _publication_forms,
    "web_locations": _web_locations,
    "group_membership": _group_membership,
    "expression_name": _expression_name,
    "action_inputs": _action_inputs,
    "study_status": _study_status,
    "single_identifier": _single_identifier,
}
assert {r.handler for r in RULES.values() if isinstance(r, Custom)} <= set(HANDLERS)


# ---------------------------------------------------------------------------- ArtifactAssessment
def _certainty_target(aa: dict[str, Any], by_key: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The Evidence of this build whose overall certainty rating ``aa`` is, else None."""
    target = by_key.get(str(aa.get("artifactReference", {}).get("reference")))
    content = aa.get("content", [])
    if target is None or target["resourceType"] != "Evidence" or len(content) != 1:
        return None
    codings = content[0].get("type", {}).get("coding", [])
    overall = any(c.get("system") == CERTAINTY_TYPE and c.get("code") == "Overall" for c in codings)
    return target if overall and content[0].get("informationType") == "rating" else None


_CERTAINTY_PARTS = {"type": "type", "summary": "description"}
# Fields of the assessment resource itself: R4B has no resource to hold them, Evidence.certainty
# holds the rating (its id is the assessment's id).
_AA_IDENTITY = ("title", "date", "identifier", "extension", "modifierExtension", "text", "meta")


def _fold_certainty(aa: dict[str, Any], evidence: dict[str, Any], ctx: _Ctx) -> None:
    """Put the rating of ``aa`` in ``evidence.certainty``: where the Evidence already states the
    same rating (the mappers write both), that entry takes the assessment's id; else it is added."""
    where = f"Evidence/{evidence['id']}.certainty"
    allowed = {"resourceType", "id", "artifactReference", "content", *_AA_IDENTITY}
    if set(aa) - allowed:
        raise ctx.unmapped(f"ArtifactAssessment.{sorted(set(aa) - allowed)[0]}")
    rating = _rating(aa["content"][0], "ArtifactAssessment.content", ctx)
    certainties = evidence.setdefault("certainty", [])
    same = next((c for c in certainties if "id" not in c and _same_rating(c, rating)), None)
    if same is not None:
        same["id"] = aa["id"]
        ctx.note("ArtifactAssessment.content", f"{where} (id {aa['id']}), which states the same rating")
    else:
        certainties.append({"id": aa["id"], **rating})
        ctx.note("ArtifactAssessment.content", f"{where} (id {aa['id']})")
    ctx.note("ArtifactAssessment.artifactReference", f"{where} (the Evidence that holds it)")
    for name in _AA_IDENTITY:
        if name in aa:
            ctx.note(
                f"ArtifactAssessment.{name}", "not carried: R4B has no resource for the assessment itself"
            )


def _same_rating(certainty: dict[str, Any], rating: dict[str, Any]) -> bool:
    """The same overall rating with the same rated components (type, rating and reason)."""

    def parts(c: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted(
            (repr(s.get("type")), repr(s.get("rating")), repr(s.get("description")))
            for s in c.get("subcomponent", [])
        )

    return certainty.get("rating") == rating.get("rating") and parts(certainty) == parts(rating)


def _rating(content: dict[str, Any], path: str, ctx: _Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in sorted(content.items()):
        if name in _CERTAINTY_PARTS:
            out[_CERTAINTY_PARTS[name]] = value
        elif name == "classifier" and len(value) == 1:
            out["rating"] = value[0]
        elif name == "component":
            out["subcomponent"] = [_rating(c, f"{path}.component", ctx) for c in value]
        elif name != "informationType" or value != "rating":
            raise ctx.unmapped(f"{path}.{name}", " inside a certainty rating")
    return out


_BASIC_SAME = ("meta", "text", "identifier", "extension", "modifierExtension")


def _basic(aa: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """An assessment that is not a certainty rating of an Evidence, as a Basic resource."""
    basic: dict[str, Any] = {"resourceType": "Basic", "id": aa["id"]}
    for name in _BASIC_SAME:
        if name in aa:
            basic[name] = aa[name]
    basic["code"] = {"coding": [{"system": FHIR_TYPES, "code": "ArtifactAssessment"}]}
    ctx.note("ArtifactAssessment", f"Basic/{aa['id']} (code {FHIR_TYPES}#ArtifactAssessment)")
    for name in sorted(set(aa) - {"resourceType", "id", *_BASIC_SAME}):
        path = f"ArtifactAssessment.{name}"
        if name == "artifactReference":
            basic["subject"] = aa[name]
            ctx.note(path, "Basic.subject")
        elif name == "date" and len(aa[name]) == 10:
            basic["created"] = aa[name]
            ctx.note(path, "Basic.created")
        elif name in ("title", "date"):
            basic.setdefault("extension", []).extend(
                encode(path, aa[name], "string" if name == "title" else "dateTime")
            )
            ctx.note(path, f"extension {xver_url(path)}")
        elif name == "content":
            missing = unmapped_children(aa[name], AA_CONTENT)
            if missing:
                raise ctx.unmapped(f"{path}.{missing[0]}")
            basic.setdefault("extension", []).extend(encode(path, aa[name], AA_CONTENT))
            ctx.note(path, f"extension {xver_url(path)}")
        else:
            raise ctx.unmapped(path)
    return basic
