"""Finding what to publish: a build output directory (``dist/``) or mapping files."""

from __future__ import annotations

from pathlib import Path

from evidence_publisher import jsonio
from evidence_publisher.constants import DEFAULT_FHIR_VERSION
from evidence_publisher.publish.errors import InvalidPublishInputError, PublishSourceError
from evidence_publisher.update_journal import refuse_interrupted

MAPPING_SUFFIXES = (".yaml", ".yml")


def source_kind(path: Path) -> str:
    """``dist`` (has ``resources/*.json``, or is such a folder) or ``mappings`` (YAML files)."""
    if path.is_file():
        if path.suffix in MAPPING_SUFFIXES:
            return "mappings"
        raise PublishSourceError(
            f"{str(path)!r} is neither a build directory nor a mapping file",
            details=["give the build output directory (with resources/) or mapping YAML files"],
        )
    if not path.is_dir():
        raise PublishSourceError(
            f"{str(path)!r} does not exist",
            details=[
                "run `evidence-publisher build MAPPINGS --out dist` first, or give the mappings directory"
            ],
        )
    if (path / "resources").is_dir() or any(path.glob("*.json")):
        return "dist"
    if any(p.suffix in MAPPING_SUFFIXES for p in path.rglob("*")):
        return "mappings"
    raise PublishSourceError(
        f"{str(path)!r} has neither resources/*.json nor *.yaml mapping files",
    )


def built_release(path: Path) -> str:
    """The FHIR release a build directory holds: ``fhir_version.release`` of its report (R4B
    builds), else the default (R5 builds, and folders without a report)."""
    try:
        report = jsonio.loads_untrusted((path / "build-report.json").read_bytes(), "build-report.json")
    except (OSError, ValueError):
        return DEFAULT_FHIR_VERSION.release
    version = report.get("fhir_version") if isinstance(report, dict) else None
    release = version.get("release") if isinstance(version, dict) else None
    return release if isinstance(release, str) else DEFAULT_FHIR_VERSION.release


def load_dist(path: Path) -> list[dict]:
    """Every resource in ``path/resources/*.json`` (or ``path/*.json``), in file-name order.

    The files are read as untrusted input: size and nesting limits apply (``InputLimitError``,
    exit 14) and a duplicated JSON key is an error."""
    refuse_interrupted(path)
    folder = path / "resources" if (path / "resources").is_dir() else path
    release = built_release(path)
    if release != DEFAULT_FHIR_VERSION.release:
        raise InvalidPublishInputError(
            f"{str(path)!r} is a FHIR {release} build; publish, verify and site read "
            f"{DEFAULT_FHIR_VERSION.release} builds",
            details=[
                f"build without --fhir-version for {DEFAULT_FHIR_VERSION.release}, or load "
                f"{release} builds' bundle-transaction.json with the {release} server's own tools"
            ],
        )
    resources = []
    for file in sorted(folder.glob("*.json")):
        try:
            res = jsonio.loads_untrusted(file.read_bytes(), str(file))
        except jsonio.DuplicateKeyError as exc:
            raise InvalidPublishInputError(str(exc)) from None
        except OSError as exc:
            raise InvalidPublishInputError(f"cannot read {str(file)!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise InvalidPublishInputError(f"{str(file)!r} is not valid JSON: {exc}") from None
        if not isinstance(res, dict) or not res.get("resourceType"):
            raise InvalidPublishInputError(f"{str(file)!r} is not a FHIR resource")
        if res["resourceType"] == "Bundle":
            continue  # bundle-*.json next to resources/ when a dist root is given directly
        resources.append(res)
    if not resources:
        raise InvalidPublishInputError(f"no resources found in {str(folder)!r}")
    return resources
