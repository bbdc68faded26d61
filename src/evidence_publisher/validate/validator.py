"""The public entry point: ``Validator``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FHIR_VERSIONS, FhirVersion
from evidence_publisher.validate.definitions import DefinitionSource
from evidence_publisher.validate.model import ModelRegistry
from evidence_publisher.validate.outcome import Issue, ValidationReport, operation_outcome
from evidence_publisher.validate.stream import FileValidation
from evidence_publisher.validate.terminology import Terminology
from evidence_publisher.validate.walk import BundleIndex, ResourceContext, Walker

if TYPE_CHECKING:
    from evidence_publisher.packages import PackageCache


class Validator:
    """Validates FHIR JSON resources (plain dicts) of the version ``fhir`` (R5 unless told) against
    the installed definitions of that version.

    ``definitions`` is any object with ``structure_definition(url_or_type)``, ``value_set(url)``,
    ``code_system(url)`` and ``by_url(url)`` (the packages stage's ``Definitions``).
    """

    def __init__(
        self,
        definitions: DefinitionSource,
        *,
        profile_rules: bool = True,
        fhir: FhirVersion = DEFAULT_FHIR_VERSION,
    ) -> None:
        """``definitions`` are those of FHIR version ``fhir``; the EBM rules (``profile_rules``)
        run only for a version they are written for (R5)."""
        self.definitions = definitions
        self.fhir = fhir
        self.registry = ModelRegistry(definitions)
        self.terminology = Terminology(definitions)
        self.walker = Walker(self.registry, self.terminology)
        self.profile_rules = profile_rules and fhir.ebm_rules

    @classmethod
    def from_cache(
        cls,
        cache: PackageCache | None = None,
        progress: Callable[[str], None] | None = None,
        *,
        fhir: FhirVersion = DEFAULT_FHIR_VERSION,
    ) -> Validator:
        """Build a validator on the package cache for the FHIR version ``fhir`` (default R5),
        installing its pinned packages if needed."""
        from evidence_publisher.validate.adapter import load_definitions

        return cls(load_definitions(cache, progress, fhir), fhir=fhir)

    @property
    def limits(self) -> list[str]:
        """What this validator does not judge for its FHIR version (said with every report)."""
        out = []
        if not self.fhir.ebm_rules:
            out.append(
                f"the EBMonFHIR profile rules (ebm-*) are written for FHIR R5 and were not run on "
                f"these {self.fhir.release} resources"
            )
        if self.fhir.cross_version_source is not None:
            source = FHIR_VERSIONS[self.fhir.cross_version_source]
            out.append(
                f"cross-version extensions ({source.cross_version_base}...) are checked against the "
                f"{source.release} element they carry; the elements they may be placed on are not checked"
            )
        return out

    # ------------------------------------------------------------------ API
    def validate_resource(self, resource: dict) -> dict:
        """Validate one resource (a Bundle is validated with its entries) -> OperationOutcome."""
        issues: list[Issue] = []
        rc = self._validate_one(resource, issues, None)
        if rc is not None:
            for entry, entry_issues in rc.entries:
                entry_issues = entry_issues + self._profile_issues(entry, rc.bundle)
                issues.extend(_prefix_entry(resource, entry, entry_issues))
        return operation_outcome(issues)

    def validate(self, resources: Iterable[dict], *, bundle: dict | None = None) -> ValidationReport:
        """Validate resources, one OperationOutcome each.

        A Bundle yields one outcome for itself and one per entry resource. When ``bundle`` is
        given it is validated too and references in ``resources`` resolve against its entries.
        """
        report = ValidationReport()
        index = BundleIndex.of(bundle) if isinstance(bundle, dict) else None
        done: set[int] = set()
        if isinstance(bundle, dict):
            self.validate_into(bundle, report, None, done)
        for res in resources:
            if id(res) in done:
                continue
            self.validate_into(res, report, index, done)
        return report

    def validate_files(self, paths: Iterable[str | Path]) -> ValidationReport:
        """Validate JSON/NDJSON files and directories (``-`` is stdin); ``report.sources`` names
        each file and ``report.notes`` says how the inputs were read.

        Unparseable documents get a fatal issue; the other documents of the same file are
        validated together, so references between them resolve. Duplicate JSON keys are errors
        (``json-duplicate-key``) in the outcome of the resource holding them. JSON objects
        without a ``resourceType`` found by scanning a directory (such as ``build-report.json``)
        are skipped; named explicitly, they are errors. A build output directory is validated
        once, through its ``resources/`` files. Raises ``NoResourcesError`` when no FHIR
        resource was found, and ``InputLimitError`` when an input passes a limit.
        """
        return FileValidation(self, paths, keep_resources=True).report()

    # ------------------------------------------------------------------ internals
    def validate_into(
        self,
        res: dict,
        report: ValidationReport,
        index: BundleIndex | None,
        done: set[int],
        extra: dict[int, list[Issue]] | None = None,
    ) -> None:
        """Validate ``res`` (and a Bundle's entries); ``extra`` adds issues found while reading,
        keyed by ``id()`` of the resource they belong to."""
        extra = extra or {}
        issues: list[Issue] = list(extra.get(id(res), ()))
        rc = self._validate_one(res, issues, index)
        report.outcomes.append((res, operation_outcome(issues)))
        done.add(id(res))
        if rc is not None:
            for entry, entry_issues in rc.entries:
                entry_issues = [
                    *entry_issues,
                    *self._profile_issues(entry, rc.bundle),
                    *extra.get(id(entry), ()),
                ]
                report.outcomes.append((entry, operation_outcome(entry_issues)))
                done.add(id(entry))

    def _validate_one(
        self, res: Any, issues: list[Issue], index: BundleIndex | None
    ) -> ResourceContext | None:
        if isinstance(res, dict) and res.get("resourceType") == "Bundle":
            index = BundleIndex.of(res)
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        try:
            rc = self.walker.resource(res, str(rtype or "Resource"), issues, bundle=index)
            if rc is not None:
                issues.extend(self._profile_issues(res, index))
        except Exception as exc:  # a validator bug must not hide the other resources' results
            issues.append(
                Issue(
                    "fatal",
                    "exception",
                    str(rtype or "Resource"),
                    f"internal validator error {type(exc).__name__}: {exc}",
                    "internal",
                )
            )
            return None
        return rc

    def _profile_issues(self, res: dict, index: BundleIndex | None) -> list[Issue]:
        if not self.profile_rules:
            return []
        from evidence_publisher.validate.ebm import check_profiles

        def resolve(ref: str) -> dict | None:
            if ref.startswith("#"):
                for c in res.get("contained") or ():
                    if isinstance(c, dict) and c.get("id") == ref[1:]:
                        return c
                return None
            return index.resolve(ref) if index is not None else None

        return check_profiles(res, resolve, self.terminology)


def _prefix_entry(bundle: dict, entry: dict, issues: list[Issue]) -> list[Issue]:
    """Re-anchor an entry resource's issues on the Bundle (for single-outcome validation)."""
    idx = next(
        (
            i
            for i, e in enumerate(bundle.get("entry") or ())
            if isinstance(e, dict) and e.get("resource") is entry
        ),
        None,
    )
    if idx is None:
        return issues
    rtype = entry.get("resourceType", "")
    out = []
    for i in issues:
        expr = i.expression
        if expr == rtype or expr.startswith(rtype + ".") or expr.startswith(rtype + "["):
            expr = f"Bundle.entry[{idx}].resource" + expr[len(rtype) :]
        out.append(Issue(i.severity, i.code, expr, i.message, i.rule))
    return out
