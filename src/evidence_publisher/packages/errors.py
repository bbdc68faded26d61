"""One error class per failure mode of the package cache."""

from __future__ import annotations

from evidence_publisher.errors import EvidencePublisherError, ExitCode


class InvalidPackageSpecError(EvidencePublisherError):
    """A NAME#VERSION argument is malformed."""

    exit_code = ExitCode.USAGE


class PackageUnavailableError(EvidencePublisherError):
    """A needed package is not cached and no source (registry, npm) could provide it."""

    exit_code = ExitCode.PACKAGE_UNAVAILABLE


class PackageIntegrityError(EvidencePublisherError):
    """A downloaded tarball does not match the integrity hash its source published."""

    exit_code = ExitCode.PACKAGE_INTEGRITY


class UnsafeArchiveError(PackageIntegrityError):
    """A tarball member would escape the target directory (absolute path, ``..``, link, device)."""


class MalformedPackageError(PackageIntegrityError):
    """A tarball unpacked but is not a FHIR package (no package.json, or another name/version)."""


class CacheWriteError(EvidencePublisherError):
    """The cache directory cannot be written."""

    exit_code = ExitCode.WRITE_FAILED


class PackageInputError(EvidencePublisherError):
    """The directory given to ``package`` (or ``build --package``) is not a readable build output."""

    exit_code = ExitCode.INVALID_OUTPUT
